//! AWS Gateway Load Balancer encapsulation: GENEVE over UDP 6081 with
//! Amazon options (class 0x0108) carrying the endpoint ID, attachment ID
//! and flow cookie.
//!
//! Options are walked generically by length: unknown options (critical or
//! not) are skipped and left untouched, because the appliance returns the
//! GENEVE header byte for byte to GWLB, which wrote them. RFC 8926's rule to
//! drop packets with an unknown critical option is deliberately not applied:
//! a new AWS option must not black-hole all traffic.
//! An AWS option of a known type with the wrong length, a duplicate one,
//! or a missing endpoint ID or flow cookie is an error
//! ([`Layer::GwlbOptions`]).
//!
//! Endpoint IDs are displayed as `vpce-0` followed by 16 lower-case hex
//! digits (the form AWS shows, see [`format_endpoint_id`]).

use core::fmt;

use crate::bytes::{be32, be64};
use crate::error::{need, Error, Layer};
use crate::ethernet::{self, EtherType};
use crate::geneve;
use crate::ipv4;
use crate::summary::IpVersion;
use crate::udp;

/// UDP destination port of GENEVE.
pub const GENEVE_UDP_PORT: u16 = 6081;
/// GENEVE option class assigned to Amazon.
pub const AWS_OPTION_CLASS: u16 = 0x0108;
/// AWS option types.
pub const OPTION_ENDPOINT_ID: u8 = 1;
pub const OPTION_ATTACHMENT_ID: u8 = 2;
pub const OPTION_FLOW_COOKIE: u8 = 3;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;

/// What GWLB tells the appliance about a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GwlbMetadata {
    pub endpoint_id: u64,
    /// Absent when GWLB sent no attachment-ID option.
    pub attachment_id: Option<u64>,
    pub flow_cookie: u32,
}

/// The result of parsing a UDP payload as a GWLB GENEVE packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeneveTunnel {
    pub metadata: GwlbMetadata,
    pub inner_version: IpVersion,
    /// Offset of the inner IP packet within the UDP payload
    /// (equals `geneve_header_len`).
    pub inner_offset: usize,
    /// Length of the inner IP packet (the rest of the UDP payload).
    pub inner_len: usize,
    /// GENEVE base header plus options.
    pub geneve_header_len: usize,
}

impl GeneveTunnel {
    /// The inner packet within the UDP payload this was parsed from.
    pub fn inner<'a>(&self, udp_payload: &'a [u8]) -> Option<&'a [u8]> {
        udp_payload.get(self.inner_offset..self.inner_offset + self.inner_len)
    }
}

/// Fixed header length of the inner packet's family: the least the GENEVE
/// payload must hold.
const fn min_inner_len(v: IpVersion) -> usize {
    match v {
        IpVersion::V4 => 20,
        IpVersion::V6 => 40,
    }
}

/// The value of one AWS option, rejecting a wrong length or a repeat.
#[inline]
fn option_value(
    data: &[u8],
    len: usize,
    seen: bool,
    wrong_len: &'static str,
    duplicate: &'static str,
) -> Result<u64, Error> {
    if data.len() != len {
        return Err(Error::malformed(Layer::GwlbOptions, wrong_len));
    }
    if seen {
        return Err(Error::malformed(Layer::GwlbOptions, duplicate));
    }
    Ok(if len == 8 {
        be64(data)
    } else {
        u64::from(be32(data))
    })
}

/// Parses the GWLB metadata out of a GENEVE option area, walking every
/// option by its length.
pub fn parse_options(options: geneve::Options<'_>) -> Result<GwlbMetadata, Error> {
    let mut endpoint: Option<u64> = None;
    let mut attachment: Option<u64> = None;
    let mut cookie: Option<u64> = None;
    for opt in options {
        let opt = opt.map_err(|e| e.at_layer(Layer::GwlbOptions))?;
        if opt.class != AWS_OPTION_CLASS {
            continue;
        }
        match opt.option_type {
            OPTION_ENDPOINT_ID => {
                endpoint = Some(option_value(
                    opt.data,
                    8,
                    endpoint.is_some(),
                    "endpoint ID option is not 8 bytes",
                    "duplicate endpoint ID option",
                )?)
            }
            OPTION_ATTACHMENT_ID => {
                attachment = Some(option_value(
                    opt.data,
                    8,
                    attachment.is_some(),
                    "attachment ID option is not 8 bytes",
                    "duplicate attachment ID option",
                )?)
            }
            OPTION_FLOW_COOKIE => {
                cookie = Some(option_value(
                    opt.data,
                    4,
                    cookie.is_some(),
                    "flow cookie option is not 4 bytes",
                    "duplicate flow cookie option",
                )?)
            }
            _ => {}
        }
    }
    let endpoint_id = endpoint.ok_or(Error::malformed(
        Layer::GwlbOptions,
        "endpoint ID option missing",
    ))?;
    let cookie = cookie.ok_or(Error::malformed(
        Layer::GwlbOptions,
        "flow cookie option missing",
    ))?;
    Ok(GwlbMetadata {
        endpoint_id,
        attachment_id: attachment,
        // Read from exactly 4 bytes.
        flow_cookie: cookie as u32,
    })
}

/// Option headers of the layout GWLB is documented to send: endpoint ID
/// (8 bytes), attachment ID (8 bytes), flow cookie (4 bytes).
pub(crate) const AWS_LAYOUT_HEADERS: [u32; 3] = [0x0108_0102, 0x0108_0202, 0x0108_0301];

/// Recognises that exact 32-byte layout with three word compares. The
/// generic walk gives the same result for it (the three options fill the
/// area); any other layout returns `None` and takes the generic walk.
#[inline]
fn aws_fixed_layout(opts: &[u8]) -> Option<GwlbMetadata> {
    if opts.len() != 32
        || be32(&opts[0..4]) != AWS_LAYOUT_HEADERS[0]
        || be32(&opts[12..16]) != AWS_LAYOUT_HEADERS[1]
        || be32(&opts[24..28]) != AWS_LAYOUT_HEADERS[2]
    {
        return None;
    }
    Some(GwlbMetadata {
        endpoint_id: be64(&opts[4..12]),
        attachment_id: Some(be64(&opts[16..24])),
        flow_cookie: be32(&opts[28..32]),
    })
}

/// Parses a UDP payload as GWLB GENEVE: version 0, inner IPv4 or IPv6,
/// the AWS options, and at least a fixed IP header's worth of inner packet
/// whose version nibble matches the protocol type. The hot-path entry point.
///
/// Cost (release, `examples/parse_cost.rs` under callgrind): about 50
/// instructions for GWLB's 3-option layout, about 190 for the generic walk
/// over 4 options.
#[inline]
pub fn parse_geneve_payload(udp_payload: &[u8]) -> Result<GeneveTunnel, Error> {
    let g = geneve::Packet::new_checked(udp_payload)?;
    if g.version() != 0 {
        return Err(Error::unsupported(
            Layer::Geneve,
            "version",
            g.version().into(),
        ));
    }
    let inner_version = match g.protocol_type() {
        ETHERTYPE_IPV4 => IpVersion::V4,
        ETHERTYPE_IPV6 => IpVersion::V6,
        other => {
            return Err(Error::unsupported(
                Layer::Geneve,
                "protocol type",
                other.into(),
            ))
        }
    };
    let metadata = match aws_fixed_layout(g.options_raw()) {
        Some(m) => m,
        None => parse_options(g.options())?,
    };
    let header_len = g.header_len();
    let inner = g.payload();
    need(Layer::InnerIp, min_inner_len(inner_version), inner.len())?;
    let nibble_ok = match inner_version {
        IpVersion::V4 => inner[0] >> 4 == 4,
        IpVersion::V6 => inner[0] >> 4 == 6,
    };
    if !nibble_ok {
        return Err(Error::malformed(
            Layer::InnerIp,
            "IP version does not match GENEVE protocol type",
        ));
    }
    Ok(GeneveTunnel {
        metadata,
        inner_version,
        inner_offset: header_len,
        inner_len: inner.len(),
        geneve_header_len: header_len,
    })
}

/// A whole GWLB frame, parsed (for tests and tools; offsets are from the
/// start of the frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GwlbFrame {
    pub eth_dst: [u8; 6],
    pub eth_src: [u8; 6],
    pub outer_src: [u8; 4],
    pub outer_dst: [u8; 4],
    pub src_port: u16,
    pub dst_port: u16,
    pub ipv4_offset: usize,
    pub udp_offset: usize,
    pub geneve_offset: usize,
    /// Offset of the inner IP packet from the start of the frame.
    pub inner_offset: usize,
    pub tunnel: GeneveTunnel,
}

/// Parses Ethernet / IPv4 / UDP (destination 6081) / GENEVE in one go.
/// The outer packet must not be a fragment; Ethernet padding after the IPv4
/// total length is ignored. Checksums are not verified here.
pub fn parse_gwlb_frame(frame: &[u8]) -> Result<GwlbFrame, Error> {
    let eth = ethernet::Frame::new_checked(frame)?;
    match eth.ethertype() {
        EtherType::Ipv4 => {}
        EtherType::Vlan => {
            return Err(Error::unsupported(
                Layer::Ethernet,
                "VLAN-tagged ethertype",
                0x8100,
            ))
        }
        other => {
            return Err(Error::unsupported(
                Layer::Ethernet,
                "outer ethertype",
                u16::from(other).into(),
            ))
        }
    }
    let ip = ipv4::Packet::new_checked(eth.payload())?;
    if ip.is_fragment() {
        return Err(Error::malformed(Layer::Ipv4, "outer packet is a fragment"));
    }
    if ip.protocol() != ipv4::protocol::UDP {
        return Err(Error::unsupported(
            Layer::Ipv4,
            "outer protocol",
            ip.protocol().into(),
        ));
    }
    let u = udp::Packet::new_checked(ip.payload())?;
    if u.dst_port() != GENEVE_UDP_PORT {
        return Err(Error::unsupported(
            Layer::Udp,
            "destination port",
            u.dst_port().into(),
        ));
    }
    let tunnel = parse_geneve_payload(u.payload())?;
    let ipv4_offset = ethernet::HEADER_LEN;
    let udp_offset = ipv4_offset + ip.header_len();
    let geneve_offset = udp_offset + udp::HEADER_LEN;
    Ok(GwlbFrame {
        eth_dst: eth.dst_addr(),
        eth_src: eth.src_addr(),
        outer_src: ip.src_addr(),
        outer_dst: ip.dst_addr(),
        src_port: u.src_port(),
        dst_port: u.dst_port(),
        ipv4_offset,
        udp_offset,
        geneve_offset,
        inner_offset: geneve_offset + tunnel.inner_offset,
        tunnel,
    })
}

/// Turns a GWLB frame around in place for the reply to GWLB: swaps the
/// Ethernet and outer IPv4 addresses and touches nothing else (UDP ports,
/// TTL, GENEVE header and options, inner packet stay byte for byte, as GWLB
/// requires). Every checksum stays valid: the swap does not change any
/// ones-complement sum. Checks only what it touches (Ethernet, IPv4 header);
/// call it on a frame [`parse_gwlb_frame`] or the dataplane has accepted.
pub fn hairpin_in_place(frame: &mut [u8]) -> Result<(), Error> {
    let mut eth = ethernet::Frame::new_checked(&mut *frame)?;
    if eth.ethertype() != EtherType::Ipv4 {
        return Err(Error::unsupported(
            Layer::Ethernet,
            "outer ethertype",
            eth.ethertype_raw().into(),
        ));
    }
    let mut ip = ipv4::Packet::new_checked(eth.payload_mut())?;
    ip.swap_addrs();
    eth.swap_addrs();
    Ok(())
}

/// Why a configured endpoint ID was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointIdError {
    Empty,
    /// `vpce-`/`eni-` followed by something other than `0` + 16 hex digits.
    BadAwsId,
    /// Raw hex: `0x` with 1 to 16 hex digits, or exactly 16 hex digits.
    BadHex,
}

impl fmt::Display for EndpointIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EndpointIdError::Empty => "endpoint ID is empty",
            EndpointIdError::BadAwsId => {
                "endpoint ID: expected vpce- or eni- followed by 0 and 16 hex digits"
            }
            EndpointIdError::BadHex => {
                "endpoint ID: expected vpce-/eni- form, 0x plus 1-16 hex digits, or 16 hex digits"
            }
        })
    }
}

impl std::error::Error for EndpointIdError {}

fn hex_u64(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(s, 16).ok()
}

/// Parses an endpoint ID from configuration: `vpce-0123456789abcdef0` or
/// `eni-0123456789abcdef0` (a leading 0 and 16 hex digits, which are the
/// u64), `0x` plus 1-16 hex digits, or exactly 16 hex digits. Surrounding
/// whitespace is ignored; hex is case-insensitive.
pub fn parse_endpoint_id(s: &str) -> Result<u64, EndpointIdError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(EndpointIdError::Empty);
    }
    if let Some(rest) = s.strip_prefix("vpce-").or_else(|| s.strip_prefix("eni-")) {
        return match rest.strip_prefix('0') {
            Some(digits) if digits.len() == 16 => hex_u64(digits).ok_or(EndpointIdError::BadAwsId),
            _ => Err(EndpointIdError::BadAwsId),
        };
    }
    if let Some(digits) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return hex_u64(digits).ok_or(EndpointIdError::BadHex);
    }
    if s.len() == 16 {
        return hex_u64(s).ok_or(EndpointIdError::BadHex);
    }
    Err(EndpointIdError::BadHex)
}

/// Formats an endpoint ID as `vpce-0` + 16 lower-case hex digits, the one
/// display form used in logs and metrics (round-trips with
/// [`parse_endpoint_id`]).
pub fn format_endpoint_id(id: u64) -> String {
    format!("vpce-0{id:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_layout_agrees_with_generic_walk() {
        let mut opts = [0u8; 32];
        let mut n = geneve::emit_option(&mut opts, AWS_OPTION_CLASS, 1, &7u64.to_be_bytes());
        n += geneve::emit_option(&mut opts[n..], AWS_OPTION_CLASS, 2, &9u64.to_be_bytes());
        geneve::emit_option(&mut opts[n..], AWS_OPTION_CLASS, 3, &11u32.to_be_bytes());
        let mut buf = [0u8; 8 + 32];
        buf[8..].copy_from_slice(&opts);
        buf[0] = 8;
        let g = geneve::Packet::new_checked(&buf[..]).unwrap();
        let want = GwlbMetadata {
            endpoint_id: 7,
            attachment_id: Some(9),
            flow_cookie: 11,
        };
        assert_eq!(aws_fixed_layout(&opts), Some(want));
        assert_eq!(parse_options(g.options()), Ok(want));
        // Reserved bits in a length byte: not the fixed layout, same result.
        buf[8 + 3] |= 0x20;
        let g = geneve::Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(aws_fixed_layout(g.options_raw()), None);
        assert_eq!(parse_options(g.options()), Ok(want));
    }

    #[test]
    fn endpoint_id_forms() {
        let v = 0x1234_5678_9abc_def0;
        assert_eq!(parse_endpoint_id("vpce-0123456789abcdef0"), Ok(v));
        assert_eq!(parse_endpoint_id("eni-0123456789ABCDEF0"), Ok(v));
        assert_eq!(parse_endpoint_id("0x123456789abcdef0"), Ok(v));
        assert_eq!(parse_endpoint_id("123456789abcdef0"), Ok(v));
        assert_eq!(parse_endpoint_id(" 0x1 "), Ok(1));
        assert_eq!(format_endpoint_id(v), "vpce-0123456789abcdef0");
        assert_eq!(parse_endpoint_id(&format_endpoint_id(7)), Ok(7));
        assert_eq!(parse_endpoint_id(""), Err(EndpointIdError::Empty));
        assert_eq!(
            parse_endpoint_id("vpce-123456789abcdef0"),
            Err(EndpointIdError::BadAwsId)
        );
        assert_eq!(
            parse_endpoint_id("vpce-1123456789abcdef0"),
            Err(EndpointIdError::BadAwsId)
        );
        assert_eq!(
            parse_endpoint_id("vpce-0123456789abcdefg"),
            Err(EndpointIdError::BadAwsId)
        );
        assert_eq!(parse_endpoint_id("0x"), Err(EndpointIdError::BadHex));
        assert_eq!(
            parse_endpoint_id("0x1ffffffffffffffff"),
            Err(EndpointIdError::BadHex)
        );
        assert_eq!(parse_endpoint_id("0x+1"), Err(EndpointIdError::BadHex));
        assert_eq!(parse_endpoint_id("12345"), Err(EndpointIdError::BadHex));
    }
}
