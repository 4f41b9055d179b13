//! Builds the answer to a rejected packet inside the tunnel: a TCP RST for
//! TCP, an ICMP/ICMPv6 "administratively prohibited" for everything else,
//! addressed from the packet's destination back to its sender. The GENEVE
//! header and options stay as they came (GWLB needs this packet's cookie);
//! the caller then swaps the outer addresses as for any hairpin.

use tollgate_wire::summary::{ipv4_unmapped, tcp_flags, Fragment};
use tollgate_wire::{checksum, InnerSummary, IpVersion, L4Summary};

const TTL: u8 = 64;
const IPV4_HEADER: usize = 20;
const IPV6_HEADER: usize = 40;
const TCP_HEADER: usize = 20;
const ICMP_HEADER: usize = 8;
/// ICMPv6 errors quote as much as fits in the IPv6 minimum MTU (RFC 4443).
const ICMPV6_MAX_QUOTE: usize = 1280 - IPV6_HEADER - ICMP_HEADER;

/// Why no reject could be built; the packet is dropped instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoReject {
    /// Never answer a RST, an ICMP error, or a later fragment.
    NotAnswerable,
    /// The buffer has no room for the ICMP error's headers.
    NoRoom,
}

/// Rewrites the inner packet at `buf[inner_start..inner_start + inner_len]`
/// into the reject answer; returns the new inner length. `buf` may extend
/// past the packet (tailroom), which an ICMP error may need.
pub(crate) fn build(
    buf: &mut [u8],
    inner_start: usize,
    inner_len: usize,
    pkt: &InnerSummary,
) -> Result<usize, NoReject> {
    if pkt.fragment == Fragment::Later {
        return Err(NoReject::NotAnswerable);
    }
    match pkt.l4 {
        L4Summary::Tcp { flags, .. } if flags & tcp_flags::RST != 0 => Err(NoReject::NotAnswerable),
        L4Summary::Tcp { .. } => Ok(tcp_rst(&mut buf[inner_start..], pkt)),
        L4Summary::IcmpError { .. } => Err(NoReject::NotAnswerable),
        _ => icmp_prohibited(buf, inner_start, inner_len, pkt),
    }
}

/// Writes an IP header for a locally built packet from `pkt`'s destination
/// back to its source; returns the header length.
fn ip_header(out: &mut [u8], pkt: &InnerSummary, protocol: u8, payload_len: usize) -> usize {
    match pkt.version {
        IpVersion::V4 => {
            let (src, dst) = (v4(pkt.dst), v4(pkt.src));
            let total = (IPV4_HEADER + payload_len) as u16;
            out[..IPV4_HEADER].copy_from_slice(&[
                0x45, 0, 0, 0, 0, 0, 0x40, 0, TTL, protocol, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ]);
            out[2..4].copy_from_slice(&total.to_be_bytes());
            out[12..16].copy_from_slice(&src);
            out[16..20].copy_from_slice(&dst);
            let c = checksum::ipv4_header(&out[..IPV4_HEADER]);
            out[10..12].copy_from_slice(&c.to_be_bytes());
            IPV4_HEADER
        }
        IpVersion::V6 => {
            out[..8].copy_from_slice(&[0x60, 0, 0, 0, 0, 0, protocol, TTL]);
            out[4..6].copy_from_slice(&(payload_len as u16).to_be_bytes());
            out[8..24].copy_from_slice(&pkt.dst.to_be_bytes());
            out[24..40].copy_from_slice(&pkt.src.to_be_bytes());
            IPV6_HEADER
        }
    }
}

fn v4(addr: u128) -> [u8; 4] {
    ipv4_unmapped(addr).unwrap_or([0; 4])
}

/// RST per RFC 9293 3.10.7.1: take the sequence number from the offending
/// segment's ACK if it has one, else acknowledge everything it occupied.
fn tcp_rst(inner: &mut [u8], pkt: &InnerSummary) -> usize {
    let L4Summary::Tcp {
        src_port,
        dst_port,
        flags,
        seq,
        ack,
        payload_len,
        ..
    } = pkt.l4
    else {
        return 0;
    };
    let (rst_seq, rst_ack, rst_flags) = if flags & tcp_flags::ACK != 0 {
        (ack, 0, tcp_flags::RST)
    } else {
        let len = u32::from(payload_len)
            + u32::from(flags & tcp_flags::SYN != 0)
            + u32::from(flags & tcp_flags::FIN != 0);
        (0, seq.wrapping_add(len), tcp_flags::RST | tcp_flags::ACK)
    };
    let hl = ip_header(inner, pkt, 6, TCP_HEADER);
    let tcp = &mut inner[hl..hl + TCP_HEADER];
    tcp.fill(0);
    tcp[0..2].copy_from_slice(&dst_port.to_be_bytes());
    tcp[2..4].copy_from_slice(&src_port.to_be_bytes());
    tcp[4..8].copy_from_slice(&rst_seq.to_be_bytes());
    tcp[8..12].copy_from_slice(&rst_ack.to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = rst_flags;
    let c = match pkt.version {
        IpVersion::V4 => checksum::tcp_v4(v4(pkt.dst), v4(pkt.src), tcp),
        IpVersion::V6 => checksum::tcp_v6(&pkt.dst.to_be_bytes(), &pkt.src.to_be_bytes(), tcp),
    };
    tcp[16..18].copy_from_slice(&c.to_be_bytes());
    hl + TCP_HEADER
}

/// ICMP type 3 code 13 / ICMPv6 type 1 code 1, quoting the packet.
fn icmp_prohibited(
    buf: &mut [u8],
    inner_start: usize,
    inner_len: usize,
    pkt: &InnerSummary,
) -> Result<usize, NoReject> {
    let (ip_len, quote_len, protocol, icmp_type, code) = match pkt.version {
        // RFC 792: the IP header plus the first 64 bits of its payload.
        IpVersion::V4 => (
            IPV4_HEADER,
            inner_len.min(usize::from(pkt.l4_offset) + 8),
            1,
            3,
            13,
        ),
        IpVersion::V6 => (IPV6_HEADER, inner_len.min(ICMPV6_MAX_QUOTE), 58, 1, 1),
    };
    let headers = ip_len + ICMP_HEADER;
    let end = inner_start + headers + quote_len;
    if end > buf.len() {
        return Err(NoReject::NoRoom);
    }
    buf.copy_within(inner_start..inner_start + quote_len, inner_start + headers);
    let inner = &mut buf[inner_start..end];
    let icmp_len = ICMP_HEADER + quote_len;
    ip_header(inner, pkt, protocol, icmp_len);
    let icmp = &mut inner[ip_len..];
    icmp[..ICMP_HEADER].copy_from_slice(&[icmp_type, code, 0, 0, 0, 0, 0, 0]);
    let c = match pkt.version {
        IpVersion::V4 => checksum::icmpv4(icmp),
        IpVersion::V6 => checksum::icmpv6(&pkt.dst.to_be_bytes(), &pkt.src.to_be_bytes(), icmp),
    };
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    Ok(ip_len + icmp_len)
}
