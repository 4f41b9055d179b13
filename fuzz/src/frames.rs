//! Frames for the seed corpora and the tests: byte layouts with valid
//! checksums, addressed to the appliance the harnesses configure.

use tollgate_wire::checksum;

pub const APPLIANCE_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x01, 0x0a];
pub const APPLIANCE_IP: [u8; 4] = [10, 254, 1, 10];
pub const GWLB_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x01, 0x01];
pub const GWLB_IP: [u8; 4] = [10, 254, 1, 20];
pub const HOST_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x01, 0x1e];
pub const HOST_IP: [u8; 4] = [10, 254, 1, 30];
pub const CLIENT: [u8; 4] = [10, 1, 11, 7];
pub const SERVER: [u8; 4] = [198, 51, 100, 20];
pub const BLOCKED: [u8; 4] = [203, 0, 113, 5];
pub const CLIENT6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7];
pub const SERVER6: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0x99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20,
];
pub const ENDPOINT: u64 = 0x0123_4567_89ab_cdef;

pub const TCP: u8 = 6;
pub const UDP: u8 = 17;
pub const ICMP: u8 = 1;
pub const ICMPV6: u8 = 58;

pub const SYN: u8 = 0x02;
pub const ACK: u8 = 0x10;
pub const PSH: u8 = 0x08;
pub const FIN: u8 = 0x01;
pub const RST: u8 = 0x04;

pub fn ethernet(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An IPv4 packet (no options, DF, TTL 64) with a valid header checksum.
pub fn ipv4(src: [u8; 4], dst: [u8; 4], protocol: u8, l4: &[u8]) -> Vec<u8> {
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[0x12, 0x34, 0x40, 0x00, 64, protocol, 0, 0]);
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    let c = checksum::ipv4_header(&p);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(l4);
    p
}

pub fn ipv6(src: [u8; 16], dst: [u8; 16], next_header: u8, l4: &[u8]) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&(l4.len() as u16).to_be_bytes());
    p.extend_from_slice(&[next_header, 64]);
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(l4);
    p
}

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 3) as u8).collect()
}

/// A TCP segment (no options) in an IPv4 packet.
pub fn tcp4(
    (src, dst): ([u8; 4], [u8; 4]),
    (sport, dport): (u16, u16),
    flags: u8,
    (seq, ack): (u32, u32),
    data: &[u8],
) -> Vec<u8> {
    let mut s = Vec::with_capacity(20 + data.len());
    s.extend_from_slice(&sport.to_be_bytes());
    s.extend_from_slice(&dport.to_be_bytes());
    s.extend_from_slice(&seq.to_be_bytes());
    s.extend_from_slice(&ack.to_be_bytes());
    s.extend_from_slice(&[5 << 4, flags, 0xfa, 0xf0, 0, 0, 0, 0]);
    s.extend_from_slice(data);
    let c = checksum::tcp_v4(src, dst, &s);
    s[16..18].copy_from_slice(&c.to_be_bytes());
    ipv4(src, dst, TCP, &s)
}

/// A UDP datagram with `len` bytes of payload in an IPv4 packet.
pub fn udp4((src, dst): ([u8; 4], [u8; 4]), (sport, dport): (u16, u16), len: usize) -> Vec<u8> {
    let mut d = Vec::with_capacity(8 + len);
    d.extend_from_slice(&sport.to_be_bytes());
    d.extend_from_slice(&dport.to_be_bytes());
    d.extend_from_slice(&((8 + len) as u16).to_be_bytes());
    d.extend_from_slice(&[0, 0]);
    d.extend_from_slice(&payload(len));
    let c = checksum::udp_v4(src, dst, &d);
    d[6..8].copy_from_slice(&c.to_be_bytes());
    ipv4(src, dst, UDP, &d)
}

/// An ICMP echo request (type 8) or other message in an IPv4 packet.
pub fn icmp4((src, dst): ([u8; 4], [u8; 4]), icmp_type: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![icmp_type, 0, 0, 0, 0xbe, 0xef, 0, 1];
    m.extend_from_slice(body);
    let c = checksum::icmpv4(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    ipv4(src, dst, ICMP, &m)
}

pub fn tcp6(sport: u16, dport: u16, flags: u8) -> Vec<u8> {
    let mut s = Vec::with_capacity(20);
    s.extend_from_slice(&sport.to_be_bytes());
    s.extend_from_slice(&dport.to_be_bytes());
    s.extend_from_slice(&[
        0,
        0,
        0,
        5,
        0,
        0,
        0,
        0,
        5 << 4,
        flags,
        0xfa,
        0xf0,
        0,
        0,
        0,
        0,
    ]);
    let c = checksum::tcp_v6(&CLIENT6, &SERVER6, &s);
    s[16..18].copy_from_slice(&c.to_be_bytes());
    ipv6(CLIENT6, SERVER6, TCP, &s)
}

pub fn icmp6_echo() -> Vec<u8> {
    let mut m = vec![128, 0, 0, 0, 0xbe, 0xef, 0, 1];
    m.extend_from_slice(&payload(16));
    let c = checksum::icmpv6(&CLIENT6, &SERVER6, &m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    ipv6(CLIENT6, SERVER6, ICMPV6, &m)
}

/// The inner packet in GENEVE with GWLB's three options, in UDP to 6081
/// from GWLB to the appliance.
pub fn gwlb(endpoint: u64, inner: &[u8]) -> Vec<u8> {
    let protocol: u16 = if inner.first().is_some_and(|b| b >> 4 == 6) {
        0x86dd
    } else {
        0x0800
    };
    let mut g = vec![0x08, 0x00];
    g.extend_from_slice(&protocol.to_be_bytes());
    g.extend_from_slice(&[0, 0, 0, 0]);
    g.extend_from_slice(&0x0108_0102u32.to_be_bytes());
    g.extend_from_slice(&endpoint.to_be_bytes());
    g.extend_from_slice(&0x0108_0202u32.to_be_bytes());
    g.extend_from_slice(&0x0000_1111_2222_3333u64.to_be_bytes());
    g.extend_from_slice(&0x0108_0301u32.to_be_bytes());
    g.extend_from_slice(&0xc00c_1e01u32.to_be_bytes());
    g.extend_from_slice(inner);
    let mut u = Vec::with_capacity(8 + g.len());
    u.extend_from_slice(&0xc1d2u16.to_be_bytes());
    u.extend_from_slice(&6081u16.to_be_bytes());
    u.extend_from_slice(&((8 + g.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(&g);
    ethernet(
        APPLIANCE_MAC,
        GWLB_MAC,
        0x0800,
        &ipv4(GWLB_IP, APPLIANCE_IP, UDP, &u),
    )
}

/// A frame from a host on the subnet to the appliance itself.
pub fn to_appliance(ip_packet: &[u8]) -> Vec<u8> {
    ethernet(APPLIANCE_MAC, HOST_MAC, 0x0800, ip_packet)
}

/// An ARP request for the appliance address.
pub fn arp_request() -> Vec<u8> {
    let mut a = vec![0, 1, 0x08, 0x00, 6, 4, 0, 1];
    a.extend_from_slice(&HOST_MAC);
    a.extend_from_slice(&HOST_IP);
    a.extend_from_slice(&[0; 6]);
    a.extend_from_slice(&APPLIANCE_IP);
    ethernet([0xff; 6], HOST_MAC, 0x0806, &a)
}
