//! One pass over the frame shape GWLB sends almost always: Ethernet, IPv4
//! without options, UDP to 6081, GENEVE with the three AWS options in
//! their documented order, and an inner IPv4 TCP or UDP packet without
//! options or fragmentation.
//!
//! [`parse_express`] reads that shape at fixed offsets with one bounds
//! check, where the layer-by-layer views ([`crate::ethernet`],
//! [`crate::ipv4`], [`crate::udp`], [`crate::parse_geneve_payload`],
//! [`crate::summarize`]) check each layer in turn. It accepts a frame only
//! if those views accept it too (outer IPv4 checksum included) and
//! returns the values they would find; `None` means "take the general
//! path", never "bad frame". `tests/express.rs` checks the agreement on
//! mutated frames.

use crate::bytes::{be16, be32, be64};
use crate::checksum;
use crate::gwlb::{AWS_LAYOUT_HEADERS, GENEVE_UDP_PORT};
use crate::summary::{ipv4_unmapped, Fragment, InnerSummary, IpVersion, L4Summary};

/// Offset of the outer UDP header.
pub const UDP_START: usize = 14 + 20;
/// Offset of the inner IPv4 header: UDP, GENEVE base header and the
/// 32-byte AWS option area.
pub const INNER_START: usize = UDP_START + 8 + 8 + 32;
/// The shortest frame of the shape: an inner UDP header.
const MIN_FRAME: usize = INNER_START + 20 + 8;
/// With an inner TCP header instead.
const MIN_TCP_FRAME: usize = INNER_START + 20 + 20;

const TCP: u8 = 6;
const UDP: u8 = 17;

/// The parts of an inner IPv4 TCP or UDP packet a flow is keyed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TupleV4 {
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub src_port: u16,
    pub dst_port: u16,
    /// 6 (TCP) or 17 (UDP).
    pub protocol: u8,
    /// TCP flags (0 for UDP).
    pub tcp_flags: u8,
}

impl TupleV4 {
    /// The tuple of a summarized inner packet, if it is a whole IPv4 TCP
    /// or UDP packet (what [`parse_express`] would have read from it).
    pub fn of_summary(s: &InnerSummary) -> Option<TupleV4> {
        if s.version != IpVersion::V4 || s.fragment != Fragment::None {
            return None;
        }
        let (src_port, dst_port, tcp_flags) = match s.l4 {
            L4Summary::Tcp {
                src_port,
                dst_port,
                flags,
                ..
            } => (src_port, dst_port, flags),
            L4Summary::Udp { src_port, dst_port } => (src_port, dst_port, 0),
            _ => return None,
        };
        Some(TupleV4 {
            src: ipv4_unmapped(s.src)?,
            dst: ipv4_unmapped(s.dst)?,
            src_port,
            dst_port,
            protocol: s.protocol,
            tcp_flags,
        })
    }

    /// A placeholder for a burst's storage.
    pub const EMPTY: TupleV4 = TupleV4 {
        src: [0; 4],
        dst: [0; 4],
        src_port: 0,
        dst_port: 0,
        protocol: 0,
        tcp_flags: 0,
    };
}

/// What connection tracking reads from a TCP header besides its flags
/// (the window-scale option aside, which only SYNs carry and the express
/// lane leaves to the general path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpFields {
    pub seq: u32,
    pub ack: u32,
    pub window: u16,
    /// TCP payload length in bytes.
    pub payload_len: u16,
}

impl TcpFields {
    /// A placeholder, and what [`express_tcp_fields`] reads from a frame
    /// too short to be of the express shape.
    pub const NONE: TcpFields = TcpFields {
        seq: 0,
        ack: 0,
        window: 0,
        payload_len: 0,
    };

    /// The fields of a summarized TCP segment; `None` for other packets.
    pub fn of_summary(s: &InnerSummary) -> Option<TcpFields> {
        match s.l4 {
            L4Summary::Tcp {
                seq,
                ack,
                window,
                payload_len,
                ..
            } => Some(TcpFields {
                seq,
                ack,
                window,
                payload_len,
            }),
            _ => None,
        }
    }
}

/// The inner TCP header's fields of a frame [`parse_express`] accepted
/// with protocol TCP, read at the shape's fixed offsets: only when the
/// flow turns out to be tracked TCP, so UDP frames never pay for them.
#[inline(always)]
pub fn express_tcp_fields(frame: &[u8]) -> TcpFields {
    let Some(h) = frame.first_chunk::<{ INNER_START + 20 + 20 }>() else {
        return TcpFields::NONE;
    };
    let (i, t) = (INNER_START, INNER_START + 20);
    let data_offset = u16::from(h[t + 12] >> 4) * 4;
    TcpFields {
        seq: be32(&h[t + 4..]),
        ack: be32(&h[t + 8..]),
        window: be16(&h[t + 14..]),
        // parse_express checked the header fits the inner total length.
        payload_len: be16(&h[i + 2..]).wrapping_sub(20).wrapping_sub(data_offset),
    }
}

/// What [`parse_express`] found that the flow lookup and the reply need.
/// The addresses the appliance checks (Ethernet and outer IPv4) are not
/// here: its pipeline reads them from the frame before this parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpressFrame {
    /// Ethernet header plus the outer IPv4 total length (any Ethernet
    /// padding past it excluded).
    pub frame_len: usize,
    /// The inner packet's bytes from [`INNER_START`]: the UDP payload
    /// after the GENEVE header, as [`crate::GeneveTunnel::inner_len`].
    pub inner_len: usize,
    pub endpoint_id: u64,
    pub inner: TupleV4,
}

/// The frame at `frame` (received bytes, nothing past them) if it has the
/// common shape; `None` otherwise (see the module doc).
#[inline(always)]
pub fn parse_express(frame: &[u8]) -> Option<ExpressFrame> {
    let h: &[u8; MIN_FRAME] = frame.get(..MIN_FRAME)?.try_into().ok()?;
    // Ethernet: IPv4. Outer IPv4: no options, not a fragment, UDP.
    if be16(&h[12..]) != 0x0800 || h[14] != 0x45 || be16(&h[20..]) & 0x3fff != 0 || h[23] != UDP {
        return None;
    }
    let ip_total = usize::from(be16(&h[16..]));
    let frame_len = 14 + ip_total;
    let udp_len = usize::from(be16(&h[UDP_START + 4..]));
    // The UDP datagram within the IPv4 packet, which is within the frame,
    // and long enough for GENEVE, its options and an inner header.
    if frame_len > frame.len()
        || udp_len > ip_total.saturating_sub(20)
        || udp_len < MIN_FRAME - UDP_START
        || be16(&h[UDP_START + 2..]) != GENEVE_UDP_PORT
    {
        return None;
    }
    let outer_ip: &[u8; 20] = h[14..34].try_into().ok()?;
    if !checksum::header20_ok(outer_ip) {
        return None;
    }
    // GENEVE version 0 with 8 words of options, carrying IPv4, and the
    // AWS options in their documented order and sizes.
    let g = UDP_START + 8;
    if h[g] != 0x08
        || be16(&h[g + 2..]) != 0x0800
        || be32(&h[g + 8..]) != AWS_LAYOUT_HEADERS[0]
        || be32(&h[g + 20..]) != AWS_LAYOUT_HEADERS[1]
        || be32(&h[g + 32..]) != AWS_LAYOUT_HEADERS[2]
    {
        return None;
    }
    let inner_len = UDP_START + udp_len - INNER_START;
    // Inner IPv4: no options, whole (not a fragment), TCP or UDP.
    let i = INNER_START;
    let inner_total = usize::from(be16(&h[i + 2..]));
    let protocol = h[i + 9];
    if h[i] != 0x45
        || inner_total < 20
        || inner_total > inner_len
        || be16(&h[i + 6..]) & 0x3fff != 0
        || (protocol != TCP && protocol != UDP)
    {
        return None;
    }
    let l4 = i + 20;
    let l4_len = inner_total.saturating_sub(20);
    let tcp_flags = if protocol == TCP {
        let data_offset = usize::from(*frame.get(l4 + 12)? >> 4) * 4;
        if frame.len() < MIN_TCP_FRAME || data_offset < 20 || data_offset > l4_len {
            return None;
        }
        frame[l4 + 13]
    } else {
        let udp_inner_len = usize::from(be16(&h[l4 + 4..]));
        if l4_len < 8 || udp_inner_len < 8 || udp_inner_len > l4_len {
            return None;
        }
        0
    };
    Some(ExpressFrame {
        frame_len,
        inner_len,
        endpoint_id: be64(&h[g + 12..]),
        inner: TupleV4 {
            src: [h[i + 12], h[i + 13], h[i + 14], h[i + 15]],
            dst: [h[i + 16], h[i + 17], h[i + 18], h[i + 19]],
            src_port: be16(&h[l4..]),
            dst_port: be16(&h[l4 + 2..]),
            protocol,
            tcp_flags,
        },
    })
}
