//! Reject replies (TCP RST, ICMP/ICMPv6 unreachable) sent back inside the tunnel: built by the
//! reflector's stand-in firewall and checked by scenario runs against the real dataplane.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::checksum;
use crate::verify::Layout;
use crate::wire::{
    self, GeneveOption, Outer, GENEVE_OFFSET, GENEVE_PORT, OUTER_IP_OFFSET, PROTO_ICMP,
    PROTO_ICMPV6, PROTO_TCP, PROTO_UDP, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN,
};

/// The inner packet of a GWLB frame, parsed just enough for firewall decisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InnerView<'a> {
    pub packet: &'a [u8],
    pub src: IpAddr,
    pub dst: IpAddr,
    pub protocol: u8,
    pub header_len: usize,
    /// Transport segment (header and payload).
    pub l4: &'a [u8],
}

impl<'a> InnerView<'a> {
    pub fn parse(packet: &'a [u8]) -> Option<InnerView<'a>> {
        match packet.first()? >> 4 {
            4 if packet.len() >= 20 => {
                let header_len = usize::from(packet[0] & 0x0f) * 4;
                let total = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
                let l4 = packet.get(header_len..total.min(packet.len()))?;
                Some(InnerView {
                    packet,
                    src: IpAddr::V4(Ipv4Addr::new(
                        packet[12], packet[13], packet[14], packet[15],
                    )),
                    dst: IpAddr::V4(Ipv4Addr::new(
                        packet[16], packet[17], packet[18], packet[19],
                    )),
                    protocol: packet[9],
                    header_len,
                    l4,
                })
            }
            6 if packet.len() >= 40 => {
                let addr = |s: &[u8]| -> IpAddr {
                    let mut b = [0u8; 16];
                    b.copy_from_slice(s);
                    IpAddr::V6(Ipv6Addr::from(b))
                };
                Some(InnerView {
                    packet,
                    src: addr(&packet[8..24]),
                    dst: addr(&packet[24..40]),
                    protocol: packet[6],
                    header_len: 40,
                    l4: &packet[40..],
                })
            }
            _ => None,
        }
    }

    /// Destination port for TCP/UDP, `None` otherwise.
    pub fn dst_port(&self) -> Option<u16> {
        match self.protocol {
            PROTO_TCP | PROTO_UDP if self.l4.len() >= 4 => {
                Some(u16::from_be_bytes([self.l4[2], self.l4[3]]))
            }
            _ => None,
        }
    }

    fn ports(&self) -> Option<(u16, u16)> {
        let l4 = self.l4.get(..4)?;
        Some((
            u16::from_be_bytes([l4[0], l4[1]]),
            u16::from_be_bytes([l4[2], l4[3]]),
        ))
    }

    fn transport_checksum_ok(&self) -> bool {
        let (s, d) = (ip_bytes(self.src), ip_bytes(self.dst));
        let len = self.l4.len() as u32;
        match self.protocol {
            PROTO_ICMP => checksum::verifies(self.l4),
            _ => {
                checksum::finish(checksum::sum_words(
                    checksum::pseudo_header_sum(&s, &d, self.protocol, len),
                    self.l4,
                )) == 0
            }
        }
    }
}

fn ip_bytes(addr: IpAddr) -> Vec<u8> {
    match addr {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

fn tcp_payload_len(l4: &[u8]) -> usize {
    l4.len()
        .saturating_sub(usize::from(l4.get(12).copied().unwrap_or(0x50) >> 4) * 4)
}

fn read_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The inner packet a rejecting firewall sends to the initiator of `request`.
pub fn reject_inner(request: &InnerView<'_>) -> Option<Vec<u8>> {
    match request.protocol {
        PROTO_TCP => {
            let (sport, dport) = request.ports()?;
            let l4 = request.l4;
            if l4.len() < 20 || l4[13] & TCP_RST != 0 {
                return None;
            }
            let flags = l4[13];
            let (seq, ack, out_flags) = if flags & TCP_ACK != 0 {
                (read_u32(l4, 8), 0, TCP_RST)
            } else {
                let consumed = tcp_payload_len(l4) as u32
                    + u32::from(flags & TCP_SYN != 0)
                    + u32::from(flags & TCP_FIN != 0);
                (0, read_u32(l4, 4).wrapping_add(consumed), TCP_RST | TCP_ACK)
            };
            let l4 = wire::L4::Tcp {
                src_port: dport,
                dst_port: sport,
                seq,
                ack,
                flags: out_flags,
            };
            wire::inner_packet(request.dst, request.src, &l4, &[], 0, 0).ok()
        }
        _ => {
            // ICMP unreachable (port unreachable) quoting as much of the request as fits.
            let ipv6 = request.src.is_ipv6();
            let quote_max = if ipv6 { 1280 - 48 } else { 576 - 28 };
            let quoted = &request.packet[..request.packet.len().min(quote_max)];
            let mut icmp = if ipv6 {
                vec![1, 4, 0, 0, 0, 0, 0, 0]
            } else {
                vec![3, 3, 0, 0, 0, 0, 0, 0]
            };
            icmp.extend_from_slice(quoted);
            let (s, d) = (ip_bytes(request.dst), ip_bytes(request.src));
            let sum = if ipv6 {
                checksum::transport_checksum(&s, &d, PROTO_ICMPV6, &icmp)
            } else {
                checksum::checksum(&icmp)
            };
            icmp[2..4].copy_from_slice(&sum.to_be_bytes());
            let mut packet = Vec::with_capacity(48 + icmp.len());
            if let (IpAddr::V4(src), IpAddr::V4(dst)) = (request.dst, request.src) {
                let total = (20 + icmp.len()) as u16;
                packet.extend_from_slice(&[0x45, 0]);
                packet.extend_from_slice(&total.to_be_bytes());
                packet.extend_from_slice(&[0, 0, 0x40, 0, 64, PROTO_ICMP, 0, 0]);
                packet.extend_from_slice(&src.octets());
                packet.extend_from_slice(&dst.octets());
                let sum = checksum::checksum(&packet[..20]);
                packet[10..12].copy_from_slice(&sum.to_be_bytes());
            } else {
                packet.extend_from_slice(&[0x60, 0, 0, 0]);
                packet.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
                packet.extend_from_slice(&[PROTO_ICMPV6, 64]);
                packet.extend_from_slice(&s);
                packet.extend_from_slice(&d);
            }
            packet.extend_from_slice(&icmp);
            Some(packet)
        }
    }
}

/// Splits a GWLB frame into its GENEVE options (as TLVs) and inner packet.
fn options_of(frame: &[u8], layout: &Layout) -> Vec<GeneveOption> {
    let mut options = Vec::new();
    let mut at = layout.options_start;
    while at + 4 <= layout.inner_start {
        let len = usize::from(frame[at + 3] & 0x1f) * 4;
        let end = (at + 4 + len).min(layout.inner_start);
        options.push(GeneveOption {
            class: u16::from_be_bytes([frame[at], frame[at + 1]]),
            kind: frame[at + 2],
            data: frame[at + 4..end].to_vec(),
        });
        at = end;
    }
    options
}

/// Builds the whole reject frame for a request frame: outer addresses swapped as in a
/// hairpin, the request's outer ports and GENEVE options, the reject as inner packet.
pub fn reject_frame(request: &[u8]) -> Option<Vec<u8>> {
    let layout = Layout::parse(request)?;
    let inner = InnerView::parse(&request[layout.inner_start..])?;
    let reply_inner = reject_inner(&inner)?;
    let ip = &request[OUTER_IP_OFFSET..];
    let outer = Outer {
        src_mac: request[0..6].try_into().ok()?,
        dst_mac: request[6..12].try_into().ok()?,
        src_ip: Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]),
        dst_ip: Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]),
        ip_id: u16::from_be_bytes([ip[4], ip[5]]),
        ttl: ip[8],
        udp_src_port: u16::from_be_bytes([ip[20], ip[21]]),
        udp_dst_port: u16::from_be_bytes([ip[22], ip[23]]),
    };
    wire::encapsulate(&outer, &options_of(request, &layout), &reply_inner).ok()
}

/// Checks that `reply` is a correct reject of `request`; returns a short description of it.
pub fn check_reject(request: &[u8], reply: &[u8]) -> Result<String, String> {
    let req_layout = Layout::parse(request).ok_or("request is not a GENEVE frame")?;
    let rep_layout = Layout::parse(reply).ok_or("reply is not a readable GENEVE frame")?;
    if reply[0..6] != request[6..12] || reply[6..12] != request[0..6] {
        return Err("outer Ethernet addresses are not the request's swapped".into());
    }
    let (qi, ri) = (&request[OUTER_IP_OFFSET..], &reply[OUTER_IP_OFFSET..]);
    if ri[12..16] != qi[16..20] || ri[16..20] != qi[12..16] {
        return Err("outer IPv4 addresses are not the request's swapped".into());
    }
    if !checksum::verifies(&ri[..20]) {
        return Err("outer IPv4 checksum invalid".into());
    }
    if usize::from(u16::from_be_bytes([ri[2], ri[3]])) != reply.len() - OUTER_IP_OFFSET {
        return Err("outer IPv4 total length does not match the frame".into());
    }
    if u16::from_be_bytes([ri[22], ri[23]]) != GENEVE_PORT {
        return Err("outer UDP destination port is not 6081".into());
    }
    let req_geneve = &request[GENEVE_OFFSET..req_layout.inner_start];
    let rep_geneve = &reply[GENEVE_OFFSET..rep_layout.inner_start];
    if req_geneve != rep_geneve {
        return Err("GENEVE header or options differ from the request's".into());
    }
    let req =
        InnerView::parse(&request[req_layout.inner_start..]).ok_or("request inner unreadable")?;
    let rep = InnerView::parse(&reply[rep_layout.inner_start..]).ok_or("reply inner unreadable")?;
    if rep.src != req.dst || rep.dst != req.src {
        return Err(format!(
            "inner addresses {} -> {} are not the request's reversed",
            rep.src, rep.dst
        ));
    }
    if rep.src.is_ipv4() && !checksum::verifies(&rep.packet[..rep.header_len]) {
        return Err("inner IPv4 checksum invalid".into());
    }
    // Checked after the fields so a wrong port or flag is named as such.
    let transport_ok = rep.transport_checksum_ok();
    let checksum_ok = |what: String| {
        if transport_ok {
            Ok(what)
        } else {
            Err("inner transport checksum invalid".to_string())
        }
    };
    match (req.protocol, rep.protocol) {
        (PROTO_TCP, PROTO_TCP) => {
            let (qs, qd) = req.ports().ok_or("request ports unreadable")?;
            let (rs, rd) = rep.ports().ok_or("reply ports unreadable")?;
            if (rs, rd) != (qd, qs) {
                return Err(format!(
                    "RST ports {rs} -> {rd} are not the request's reversed"
                ));
            }
            let l4 = rep.l4;
            if l4.len() < 20 || l4[13] & TCP_RST == 0 {
                return Err("reply is TCP without the RST flag".into());
            }
            let q = req.l4;
            if l4[13] & TCP_ACK != 0 {
                let consumed = tcp_payload_len(q) as u32
                    + u32::from(q[13] & TCP_SYN != 0)
                    + u32::from(q[13] & TCP_FIN != 0);
                let want = read_u32(q, 4).wrapping_add(consumed);
                if read_u32(l4, 8) != want {
                    return Err(format!(
                        "RST|ACK acknowledges {} instead of {want}",
                        read_u32(l4, 8)
                    ));
                }
                checksum_ok(format!("TCP RST|ACK ack={want}"))
            } else {
                if read_u32(l4, 4) != read_u32(q, 8) {
                    return Err("RST sequence is not the request's acknowledgment".into());
                }
                checksum_ok(format!("TCP RST seq={}", read_u32(l4, 4)))
            }
        }
        (_, PROTO_ICMP) | (_, PROTO_ICMPV6) => {
            let l4 = rep.l4;
            let unreachable = if rep.protocol == PROTO_ICMP { 3 } else { 1 };
            if l4.len() < 8 || l4[0] != unreachable {
                return Err(format!(
                    "ICMP type {} is not destination unreachable",
                    l4.first().unwrap_or(&0)
                ));
            }
            let quoted = &l4[8..];
            let needed = req.packet.len().min(req.header_len + 8);
            if quoted.len() < needed || quoted[..needed] != req.packet[..needed] {
                return Err("ICMP error does not quote the request".into());
            }
            checksum_ok(format!("ICMP unreachable type {} code {}", l4[0], l4[1]))
        }
        (_, other) => Err(format!(
            "reply carries inner protocol {other}, not a reject"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::{Flow, FlowSpec, Protocol, Rng, SizePlan};
    use crate::wire::GwlbMeta;

    fn request(protocol: Protocol, v6: bool, step: usize) -> Vec<u8> {
        let (client, server): (IpAddr, IpAddr) = if v6 {
            (
                "2001:db8:1::5".parse().unwrap(),
                "2001:db8:2::6".parse().unwrap(),
            )
        } else {
            ("10.1.0.5".parse().unwrap(), "10.2.0.6".parse().unwrap())
        };
        let mut rng = Rng::new(3);
        let spec = FlowSpec {
            endpoint_id: 9,
            attachment_id: 1,
            cookie: 77,
            protocol,
            client,
            server,
            client_port: 41000,
            server_port: 25,
            outer_port_forward: 5000,
            outer_port_reverse: 6000,
            exchanges: 1,
            unknown_option: true,
        };
        let mut flow = Flow::new(spec, &mut rng);
        let sizes = SizePlan::parse("200").unwrap();
        let mut packet = None;
        for _ in 0..=step {
            packet = flow.next_packet([0; 6], &sizes, &mut rng).unwrap();
        }
        let outer = Outer {
            src_mac: [2, 0, 0, 0, 0, 0x60],
            dst_mac: [2, 0, 0, 0, 0, 1],
            src_ip: Ipv4Addr::new(10, 254, 11, 60),
            dst_ip: Ipv4Addr::new(10, 254, 11, 101),
            ip_id: 1,
            ttl: 255,
            udp_src_port: 5000,
            udp_dst_port: GENEVE_PORT,
        };
        wire::encapsulate(&outer, &flow.options(), &packet.unwrap().inner).unwrap()
    }

    #[test]
    fn built_rejects_pass_the_check() {
        for v6 in [false, true] {
            let syn = request(Protocol::Tcp, v6, 0);
            let rst = reject_frame(&syn).unwrap();
            assert!(check_reject(&syn, &rst).unwrap().starts_with("TCP RST|ACK"));
            let ack = request(Protocol::Tcp, v6, 2);
            let rst = reject_frame(&ack).unwrap();
            assert!(check_reject(&ack, &rst)
                .unwrap()
                .starts_with("TCP RST seq="));
            let udp = request(Protocol::Udp, v6, 0);
            let unreachable = reject_frame(&udp).unwrap();
            assert!(check_reject(&udp, &unreachable)
                .unwrap()
                .starts_with("ICMP unreachable"));
        }
    }

    #[test]
    fn broken_rejects_are_caught() {
        let syn = request(Protocol::Tcp, false, 0);
        let good = reject_frame(&syn).unwrap();
        let layout = Layout::parse(&good).unwrap();
        // The hairpinned SYN itself is not a reject.
        assert!(check_reject(&syn, &wire::hairpin(&syn)).is_err());
        let cases: [(usize, &str); 5] = [
            (3, "outer Ethernet"),
            (OUTER_IP_OFFSET + 15, "outer IPv4 addresses"),
            (layout.options_start + 8, "GENEVE"),
            (layout.inner_start + 20 + 1, "ports"),
            (layout.inner_start + 20 + 9, "acknowledges"),
        ];
        for (offset, want) in cases {
            let mut bad = good.clone();
            bad[offset] ^= 0x10;
            let err = check_reject(&syn, &bad).unwrap_err();
            assert!(err.contains(want), "flip at {offset}: {err}");
        }
        // A wrong transport checksum.
        let mut bad = good.clone();
        bad[layout.inner_start + 20 + 16] ^= 1;
        assert!(check_reject(&syn, &bad).unwrap_err().contains("checksum"));
        // Options differ from the request's.
        let mut other_options = GwlbMeta {
            endpoint_id: 9,
            attachment_id: 1,
            flow_cookie: 78,
        }
        .options();
        other_options.truncate(3);
        let inner = InnerView::parse(&good[layout.inner_start..])
            .unwrap()
            .packet
            .to_vec();
        let outer = Outer {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 0x60],
            src_ip: Ipv4Addr::new(10, 254, 11, 101),
            dst_ip: Ipv4Addr::new(10, 254, 11, 60),
            ip_id: 1,
            ttl: 255,
            udp_src_port: 5000,
            udp_dst_port: GENEVE_PORT,
        };
        let stale = wire::encapsulate(&outer, &other_options, &inner).unwrap();
        assert!(check_reject(&syn, &stale).unwrap_err().contains("GENEVE"));
    }
}
