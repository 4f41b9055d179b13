//! Frame builder: Ethernet / outer IPv4 / UDP / GENEVE with AWS options / inner IP packet,
//! written byte by byte so it checks the dataplane independently of tollgate-wire.

use std::net::{IpAddr, Ipv4Addr};

use crate::checksum;

pub const ETH_LEN: usize = 14;
pub const IPV4_LEN: usize = 20;
pub const IPV6_LEN: usize = 40;
pub const UDP_LEN: usize = 8;
pub const GENEVE_BASE_LEN: usize = 8;
pub const GENEVE_PORT: u16 = 6081;
pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
pub const ETHERTYPE_ARP: u16 = 0x0806;
pub const OUTER_IP_OFFSET: usize = ETH_LEN;
pub const OUTER_UDP_OFFSET: usize = ETH_LEN + IPV4_LEN;
pub const GENEVE_OFFSET: usize = OUTER_UDP_OFFSET + UDP_LEN;
pub const PROTO_ICMP: u8 = 1;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
pub const PROTO_ICMPV6: u8 = 58;
/// Amazon's GENEVE option class.
pub const AWS_OPTION_CLASS: u16 = 0x0108;
pub const OPT_ENDPOINT_ID: u8 = 1;
pub const OPT_ATTACHMENT_ID: u8 = 2;
pub const OPT_FLOW_COOKIE: u8 = 3;
/// Largest inner packet GWLB carries.
pub const MAX_INNER: usize = 8500;

pub const TCP_FIN: u8 = 0x01;
pub const TCP_SYN: u8 = 0x02;
pub const TCP_RST: u8 = 0x04;
pub const TCP_PSH: u8 = 0x08;
pub const TCP_ACK: u8 = 0x10;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BuildError {
    #[error("inner source {src} and destination {dst} are of different IP families")]
    MixedFamilies { src: IpAddr, dst: IpAddr },
    #[error("inner packet of {0} bytes exceeds the GWLB maximum of {MAX_INNER}")]
    TooLarge(usize),
    #[error("GENEVE option data of {0} bytes is not a multiple of 4 or exceeds 124")]
    BadOptionLength(usize),
    #[error("GENEVE options total {0} bytes, more than the 252 the header can describe")]
    OptionsTooLong(usize),
}

/// One GENEVE option TLV; `data` is a multiple of 4 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneveOption {
    pub class: u16,
    pub kind: u8,
    pub data: Vec<u8>,
}

impl GeneveOption {
    fn encoded_len(&self) -> usize {
        4 + self.data.len()
    }
}

/// The GWLB metadata carried in the AWS options of one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GwlbMeta {
    pub endpoint_id: u64,
    pub attachment_id: u64,
    pub flow_cookie: u32,
}

impl GwlbMeta {
    /// The three AWS options in the order GWLB sends them.
    pub fn options(&self) -> Vec<GeneveOption> {
        vec![
            GeneveOption {
                class: AWS_OPTION_CLASS,
                kind: OPT_ENDPOINT_ID,
                data: self.endpoint_id.to_be_bytes().to_vec(),
            },
            GeneveOption {
                class: AWS_OPTION_CLASS,
                kind: OPT_ATTACHMENT_ID,
                data: self.attachment_id.to_be_bytes().to_vec(),
            },
            GeneveOption {
                class: AWS_OPTION_CLASS,
                kind: OPT_FLOW_COOKIE,
                data: self.flow_cookie.to_be_bytes().to_vec(),
            },
        ]
    }
}

/// Formats an endpoint ID the way AWS prints it: `vpce-0` plus 16 hex digits.
pub fn endpoint_name(id: u64) -> String {
    format!("vpce-0{id:016x}")
}

/// Parses `vpce-0<16 hex>`, `eni-0<16 hex>` or raw hex into the option's u64.
pub fn parse_endpoint(text: &str) -> Option<u64> {
    let digits = text
        .strip_prefix("vpce-0")
        .or_else(|| text.strip_prefix("eni-0"))
        .or_else(|| text.strip_prefix("0x"))
        .unwrap_or(text);
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    u64::from_str_radix(digits, 16).ok()
}

/// Outer Ethernet + IPv4 + UDP fields of a GWLB-to-appliance frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outer {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub src_ip: Ipv4Addr,
    pub dst_ip: Ipv4Addr,
    pub ip_id: u16,
    pub ttl: u8,
    pub udp_src_port: u16,
    pub udp_dst_port: u16,
}

/// Builds a whole frame: Ethernet, outer IPv4 (checksum set), UDP (checksum 0, as GWLB),
/// GENEVE (Ver 0, VNI 0, protocol from the inner version nibble), options, inner packet.
pub fn encapsulate(
    outer: &Outer,
    options: &[GeneveOption],
    inner: &[u8],
) -> Result<Vec<u8>, BuildError> {
    let mut options_len = 0;
    for option in options {
        if option.data.len() % 4 != 0 || option.data.len() > 124 {
            return Err(BuildError::BadOptionLength(option.data.len()));
        }
        options_len += option.encoded_len();
    }
    if options_len > 252 {
        return Err(BuildError::OptionsTooLong(options_len));
    }
    if inner.len() > MAX_INNER {
        return Err(BuildError::TooLarge(inner.len()));
    }
    let protocol = match inner.first().map(|b| b >> 4) {
        Some(6) => ETHERTYPE_IPV6,
        _ => ETHERTYPE_IPV4,
    };
    let udp_len = UDP_LEN + GENEVE_BASE_LEN + options_len + inner.len();
    let ip_len = IPV4_LEN + udp_len;
    let mut frame = Vec::with_capacity(ETH_LEN + ip_len);
    frame.extend_from_slice(&outer.dst_mac);
    frame.extend_from_slice(&outer.src_mac);
    frame.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    push_ipv4_header(
        &mut frame,
        ip_len,
        outer.ip_id,
        outer.ttl,
        PROTO_UDP,
        outer.src_ip,
        outer.dst_ip,
    );
    frame.extend_from_slice(&outer.udp_src_port.to_be_bytes());
    frame.extend_from_slice(&outer.udp_dst_port.to_be_bytes());
    frame.extend_from_slice(&(udp_len as u16).to_be_bytes());
    frame.extend_from_slice(&[0, 0]);
    // Ver 0 | Opt Len in 4-byte words; O=0 C=0; protocol; VNI 0 + reserved.
    frame.push((options_len / 4) as u8);
    frame.push(0);
    frame.extend_from_slice(&protocol.to_be_bytes());
    frame.extend_from_slice(&[0, 0, 0, 0]);
    for option in options {
        frame.extend_from_slice(&option.class.to_be_bytes());
        frame.push(option.kind);
        frame.push((option.data.len() / 4) as u8);
        frame.extend_from_slice(&option.data);
    }
    frame.extend_from_slice(inner);
    Ok(frame)
}

/// Appends a 20-byte IPv4 header with DF set and a valid checksum.
fn push_ipv4_header(
    out: &mut Vec<u8>,
    total_len: usize,
    id: u16,
    ttl: u8,
    protocol: u8,
    src: Ipv4Addr,
    dst: Ipv4Addr,
) {
    let start = out.len();
    out.extend_from_slice(&[0x45, 0x00]);
    out.extend_from_slice(&(total_len as u16).to_be_bytes());
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&[0x40, 0x00, ttl, protocol, 0, 0]);
    out.extend_from_slice(&src.octets());
    out.extend_from_slice(&dst.octets());
    let sum = checksum::checksum(&out[start..start + IPV4_LEN]);
    out[start + 10..start + 12].copy_from_slice(&sum.to_be_bytes());
}

/// Transport part of an inner packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L4 {
    Tcp {
        src_port: u16,
        dst_port: u16,
        seq: u32,
        ack: u32,
        flags: u8,
    },
    Udp {
        src_port: u16,
        dst_port: u16,
    },
    /// ICMP or ICMPv6 echo request (`request`) or reply.
    Echo {
        request: bool,
        ident: u16,
        seq: u16,
    },
}

impl L4 {
    pub fn header_len(&self) -> usize {
        match self {
            L4::Tcp { .. } => 20,
            L4::Udp { .. } | L4::Echo { .. } => 8,
        }
    }
}

/// Header bytes an inner packet needs before its payload.
pub fn inner_headers_len(ipv6: bool, l4: &L4) -> usize {
    (if ipv6 { IPV6_LEN } else { IPV4_LEN }) + l4.header_len()
}

/// Builds an inner IP packet with correct IP and transport checksums.
/// `ip_id` is the IPv4 identification, `flow_label` the IPv6 one.
pub fn inner_packet(
    src: IpAddr,
    dst: IpAddr,
    l4: &L4,
    payload: &[u8],
    ip_id: u16,
    flow_label: u32,
) -> Result<Vec<u8>, BuildError> {
    let ipv6 = match (src, dst) {
        (IpAddr::V4(_), IpAddr::V4(_)) => false,
        (IpAddr::V6(_), IpAddr::V6(_)) => true,
        _ => return Err(BuildError::MixedFamilies { src, dst }),
    };
    let total = inner_headers_len(ipv6, l4) + payload.len();
    if total > MAX_INNER {
        return Err(BuildError::TooLarge(total));
    }
    let protocol = match (l4, ipv6) {
        (L4::Tcp { .. }, _) => PROTO_TCP,
        (L4::Udp { .. }, _) => PROTO_UDP,
        (L4::Echo { .. }, false) => PROTO_ICMP,
        (L4::Echo { .. }, true) => PROTO_ICMPV6,
    };
    let mut segment = Vec::with_capacity(l4.header_len() + payload.len());
    match *l4 {
        L4::Tcp {
            src_port,
            dst_port,
            seq,
            ack,
            flags,
        } => {
            segment.extend_from_slice(&src_port.to_be_bytes());
            segment.extend_from_slice(&dst_port.to_be_bytes());
            segment.extend_from_slice(&seq.to_be_bytes());
            segment.extend_from_slice(&ack.to_be_bytes());
            segment.extend_from_slice(&[0x50, flags]);
            segment.extend_from_slice(&64240u16.to_be_bytes());
            segment.extend_from_slice(&[0, 0, 0, 0]);
        }
        L4::Udp { src_port, dst_port } => {
            let len = (8 + payload.len()) as u16;
            segment.extend_from_slice(&src_port.to_be_bytes());
            segment.extend_from_slice(&dst_port.to_be_bytes());
            segment.extend_from_slice(&len.to_be_bytes());
            segment.extend_from_slice(&[0, 0]);
        }
        L4::Echo {
            request,
            ident,
            seq,
        } => {
            let kind = match (ipv6, request) {
                (false, true) => 8,
                (false, false) => 0,
                (true, true) => 128,
                (true, false) => 129,
            };
            segment.extend_from_slice(&[kind, 0, 0, 0]);
            segment.extend_from_slice(&ident.to_be_bytes());
            segment.extend_from_slice(&seq.to_be_bytes());
        }
    }
    segment.extend_from_slice(payload);
    let (src_bytes, dst_bytes): (Vec<u8>, Vec<u8>) = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => (s.octets().to_vec(), d.octets().to_vec()),
        (IpAddr::V6(s), IpAddr::V6(d)) => (s.octets().to_vec(), d.octets().to_vec()),
        _ => return Err(BuildError::MixedFamilies { src, dst }),
    };
    let (sum_offset, sum) = match protocol {
        PROTO_TCP => (
            16,
            checksum::transport_checksum(&src_bytes, &dst_bytes, protocol, &segment),
        ),
        PROTO_UDP => {
            let sum = checksum::transport_checksum(&src_bytes, &dst_bytes, protocol, &segment);
            // A computed zero is sent as all ones (RFC 768).
            (6, if sum == 0 { 0xffff } else { sum })
        }
        PROTO_ICMPV6 => (
            2,
            checksum::transport_checksum(&src_bytes, &dst_bytes, protocol, &segment),
        ),
        _ => (2, checksum::checksum(&segment)),
    };
    segment[sum_offset..sum_offset + 2].copy_from_slice(&sum.to_be_bytes());
    let mut packet = Vec::with_capacity(total);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            push_ipv4_header(&mut packet, total, ip_id, 64, protocol, s, d)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let first = 0x6000_0000u32 | (flow_label & 0x000f_ffff);
            packet.extend_from_slice(&first.to_be_bytes());
            packet.extend_from_slice(&(segment.len() as u16).to_be_bytes());
            packet.extend_from_slice(&[protocol, 64]);
            packet.extend_from_slice(&s.octets());
            packet.extend_from_slice(&d.octets());
        }
        _ => return Err(BuildError::MixedFamilies { src, dst }),
    }
    packet.extend_from_slice(&segment);
    Ok(packet)
}

/// Returns the frame a correct appliance sends back: Ethernet and outer IPv4 addresses swapped,
/// everything else (UDP ports, GENEVE, inner packet) unchanged. The IPv4 checksum is
/// unchanged too, because swapping two summed words does not change a one's-complement sum.
pub fn hairpin(frame: &[u8]) -> Vec<u8> {
    let mut reply = frame.to_vec();
    if reply.len() >= OUTER_UDP_OFFSET {
        reply[0..6].copy_from_slice(&frame[6..12]);
        reply[6..12].copy_from_slice(&frame[0..6]);
        let ip = OUTER_IP_OFFSET;
        reply[ip + 12..ip + 16].copy_from_slice(&frame[ip + 16..ip + 20]);
        reply[ip + 16..ip + 20].copy_from_slice(&frame[ip + 12..ip + 16]);
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    fn outer() -> Outer {
        Outer {
            src_mac: [0x02, 0, 0, 0, 0, 0x60],
            dst_mac: [0x02, 0, 0, 0, 0, 0x01],
            src_ip: Ipv4Addr::new(10, 254, 11, 60),
            dst_ip: Ipv4Addr::new(10, 254, 11, 101),
            ip_id: 0x1234,
            ttl: 64,
            udp_src_port: 50_000,
            udp_dst_port: GENEVE_PORT,
        }
    }

    fn meta() -> GwlbMeta {
        GwlbMeta {
            endpoint_id: 0x0123_4567_89ab_cdef,
            attachment_id: 0,
            flow_cookie: 0xdead_beef,
        }
    }

    #[test]
    fn smallest_frame_is_128_bytes_without_fcs() {
        let inner = inner_packet(
            "10.1.0.1".parse().unwrap(),
            "10.2.0.1".parse().unwrap(),
            &L4::Tcp {
                src_port: 1,
                dst_port: 2,
                seq: 0,
                ack: 0,
                flags: TCP_SYN,
            },
            &[0; 6],
            0,
            0,
        )
        .unwrap();
        assert_eq!(inner.len(), 46);
        let frame = encapsulate(&outer(), &meta().options(), &inner).unwrap();
        // 82 bytes of overhead; the 132 in gwlb.md counts the 4-byte Ethernet FCS as well.
        assert_eq!(frame.len(), 128);
    }

    #[test]
    fn geneve_layout_matches_gwlb_md() {
        let inner = inner_packet(
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
            &L4::Udp {
                src_port: 53,
                dst_port: 53,
            },
            &[1, 2, 3, 4],
            0,
            0x12345,
        )
        .unwrap();
        let frame = encapsulate(&outer(), &meta().options(), &inner).unwrap();
        let g = GENEVE_OFFSET;
        assert_eq!(frame[g], 8, "Ver 0, Opt Len 8 words");
        assert_eq!(frame[g + 1], 0, "O and C clear");
        assert_eq!(&frame[g + 2..g + 4], &[0x86, 0xdd]);
        assert_eq!(&frame[g + 4..g + 8], &[0, 0, 0, 0], "VNI 0");
        assert_eq!(&frame[g + 8..g + 12], &[0x01, 0x08, 1, 2]);
        assert_eq!(
            &frame[g + 12..g + 20],
            &0x0123_4567_89ab_cdefu64.to_be_bytes()
        );
        assert_eq!(&frame[g + 20..g + 24], &[0x01, 0x08, 2, 2]);
        assert_eq!(&frame[g + 32..g + 36], &[0x01, 0x08, 3, 1]);
        assert_eq!(&frame[g + 36..g + 40], &[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(
            &frame[OUTER_UDP_OFFSET + 2..OUTER_UDP_OFFSET + 4],
            &[0x17, 0xc1]
        );
        assert_eq!(
            &frame[OUTER_UDP_OFFSET + 6..OUTER_UDP_OFFSET + 8],
            &[0, 0],
            "UDP checksum 0"
        );
        assert!(checksum::verifies(
            &frame[OUTER_IP_OFFSET..OUTER_UDP_OFFSET]
        ));
        // IPv6 flow label and payload length.
        assert_eq!(&frame[g + 40..g + 44], &[0x60, 0x01, 0x23, 0x45]);
        assert_eq!(&frame[g + 44..g + 46], &12u16.to_be_bytes());
    }

    #[test]
    fn known_udp_checksum() {
        // Hand-computed (RFC 1071 sum): pseudo header 0a01:0001 0a02:0001 0011 000c,
        // UDP header 04d2 162e 000c, data 6869 2121 -> 0x4747. scapy agrees:
        // bytes(IP(src="10.1.0.1",dst="10.2.0.1")/UDP(sport=1234,dport=5678)/b"hi!!")[26:28] == b"\x47\x47"
        let packet = inner_packet(
            "10.1.0.1".parse().unwrap(),
            "10.2.0.1".parse().unwrap(),
            &L4::Udp {
                src_port: 1234,
                dst_port: 5678,
            },
            b"hi!!",
            1,
            0,
        )
        .unwrap();
        assert_eq!(&packet[26..28], &[0x47, 0x47]);
        assert!(checksum::verifies(&packet[..20]));
    }

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn inner_packets_match_scapy_byte_for_byte() {
        // Expected bytes from scapy 2.x, e.g. bytes(IPv6(src="2001:db8:1::10",
        // dst="2001:db8:2::20",hlim=64)/TCP(sport=40000,dport=443,seq=1,ack=2,flags="PA",
        // window=64240)/b"abcd").hex(); IP(...,id=5,flags="DF",ttl=64)/ICMP(type=8,id=77,seq=3);
        // IPv6(...)/ICMPv6EchoRequest(id=77,seq=3,data=b"xyz!"); IP(...)/TCP(...,flags="S").
        let v4 = |s: &str| -> IpAddr { s.parse().unwrap() };
        let (c4, s4, c6, s6) = (
            v4("10.1.0.1"),
            v4("10.2.0.1"),
            v4("2001:db8:1::10"),
            v4("2001:db8:2::20"),
        );
        let tcp = |flags| L4::Tcp {
            src_port: 40000,
            dst_port: 443,
            seq: 1,
            ack: 2,
            flags,
        };
        let echo = L4::Echo {
            request: true,
            ident: 77,
            seq: 3,
        };
        let cases: [(IpAddr, IpAddr, L4, &[u8], &str); 4] = [
            (c6, s6, tcp(TCP_PSH | TCP_ACK), b"abcd", "600000000018064020010db800010000000000000000001020010db80002000000000000000000209c4001bb00000001000000025018faf0f66d000061626364"),
            (c4, s4, echo, b"xyz!", "4500002000054000400126d40a0100010a02000108000515004d000378797a21"),
            (c6, s6, echo, b"xyz!", "60000000000c3a4020010db800010000000000000000001020010db800020000000000000000002080003129004d000378797a21"),
            (c4, s4, tcp(TCP_SYN), b"", "4500002800054000400626c70a0100010a0200019c4001bb00000001000000025002faf002ef0000"),
        ];
        for (src, dst, l4, payload, expected) in cases {
            let packet = inner_packet(src, dst, &l4, payload, 5, 0).unwrap();
            assert_eq!(packet, hex(expected), "{l4:?} over {src}");
        }
    }

    #[test]
    fn transport_checksums_verify_for_every_kind() {
        let pairs: [(IpAddr, IpAddr); 2] = [
            ("10.1.0.1".parse().unwrap(), "10.2.0.1".parse().unwrap()),
            (
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1)),
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 1)),
            ),
        ];
        let l4s = [
            L4::Tcp {
                src_port: 40000,
                dst_port: 443,
                seq: 7,
                ack: 9,
                flags: TCP_ACK | TCP_PSH,
            },
            L4::Udp {
                src_port: 40000,
                dst_port: 53,
            },
            L4::Echo {
                request: true,
                ident: 77,
                seq: 3,
            },
        ];
        for (src, dst) in pairs {
            for l4 in &l4s {
                let packet = inner_packet(src, dst, l4, &[0xa5; 33], 5, 1).unwrap();
                let (hl, s, d, proto) = if src.is_ipv4() {
                    (
                        20,
                        packet[12..16].to_vec(),
                        packet[16..20].to_vec(),
                        packet[9],
                    )
                } else {
                    (
                        40,
                        packet[8..24].to_vec(),
                        packet[24..40].to_vec(),
                        packet[6],
                    )
                };
                let segment = &packet[hl..];
                let sum = if proto == PROTO_ICMP {
                    checksum::checksum(segment)
                } else {
                    checksum::finish(checksum::sum_words(
                        checksum::pseudo_header_sum(&s, &d, proto, segment.len() as u32),
                        segment,
                    ))
                };
                assert_eq!(sum, 0, "{l4:?} over {src}");
            }
        }
    }

    #[test]
    fn rejects_bad_input() {
        let v4: IpAddr = "10.0.0.1".parse().unwrap();
        let v6: IpAddr = "::1".parse().unwrap();
        assert!(matches!(
            inner_packet(
                v4,
                v6,
                &L4::Udp {
                    src_port: 1,
                    dst_port: 1
                },
                &[],
                0,
                0
            ),
            Err(BuildError::MixedFamilies { .. })
        ));
        assert_eq!(
            inner_packet(
                v4,
                v4,
                &L4::Udp {
                    src_port: 1,
                    dst_port: 1
                },
                &[0; 8500],
                0,
                0
            ),
            Err(BuildError::TooLarge(8528))
        );
        let bad = GeneveOption {
            class: 1,
            kind: 1,
            data: vec![0; 3],
        };
        assert_eq!(
            encapsulate(&outer(), &[bad], &[0x45]),
            Err(BuildError::BadOptionLength(3))
        );
    }

    #[test]
    fn endpoint_names_round_trip() {
        assert_eq!(
            endpoint_name(0x0123_4567_89ab_cdef),
            "vpce-00123456789abcdef"
        );
        assert_eq!(
            parse_endpoint("vpce-00123456789abcdef"),
            Some(0x0123_4567_89ab_cdef)
        );
        assert_eq!(
            parse_endpoint("0123456789abcdef"),
            Some(0x0123_4567_89ab_cdef)
        );
        assert_eq!(parse_endpoint("vpce-0xyz"), None);
        assert_eq!(
            parse_endpoint("vpce-0123456789abcdef0"),
            Some(0x1234_5678_9abc_def0)
        );
    }

    #[test]
    fn hairpin_swaps_addresses_and_keeps_checksum_valid() {
        let frame = encapsulate(&outer(), &meta().options(), &[0x45; 46]).unwrap();
        let reply = hairpin(&frame);
        assert_eq!(&reply[0..6], &frame[6..12]);
        assert_eq!(&reply[26..30], &frame[30..34]);
        assert!(checksum::verifies(&reply[14..34]));
        assert_eq!(&reply[34..], &frame[34..]);
    }
}
