//! GWLB traffic for the benchmarks: GENEVE frames with AWS options carrying
//! inner IPv4/UDP packets, one frame per flow, as GWLB sends them to the
//! appliance. Built byte by byte here (not with the codec under test).

/// Addresses of the benchmark's little world.
pub const APPLIANCE_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x0b, 0x01];
pub const APPLIANCE_IP: [u8; 4] = [10, 254, 11, 101];
pub const GWLB_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x0b, 0x3c];
pub const GWLB_IP: [u8; 4] = [10, 254, 11, 60];
/// Endpoint ID every flow carries (option 1).
pub const ENDPOINT_ID: u64 = 0x0a1b_2c3d_4e5f_6071;
const ATTACHMENT_ID: u64 = 0x0000_7e57_0000_0001;

/// Outer headers: Ethernet 14, IPv4 20, UDP 8, GENEVE 8 + options 32.
pub const OUTER_LEN: usize = 14 + 20 + 8 + 8 + 12 + 12 + 8;
/// Smallest inner packet: IPv4 + UDP headers.
pub const MIN_INNER: usize = 28;
/// Largest inner packet GWLB carries.
pub const MAX_INNER: usize = 8500;

/// Inner packet sizes: one size, or IMIX (64/576/1500 at 7:4:1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sizes {
    Fixed(usize),
    Imix,
}

impl Sizes {
    /// Inner length of the `i`-th frame.
    pub fn inner_len(self, i: usize) -> usize {
        match self {
            Sizes::Fixed(n) => n,
            Sizes::Imix => match i % 12 {
                0..=6 => 64,
                7..=10 => 576,
                _ => 1500,
            },
        }
    }

    pub fn max_inner(self) -> usize {
        match self {
            Sizes::Fixed(n) => n,
            Sizes::Imix => 1500,
        }
    }

    pub fn label(self) -> String {
        match self {
            Sizes::Fixed(n) => n.to_string(),
            Sizes::Imix => "imix".into(),
        }
    }
}

/// The inner 5-tuple of flow `i`: distinct for every `i` below 2^32.
/// Clients 10.64.0.0/10 with ports 1024-65535; the server is one of
/// `servers` addresses in 172.16.0.0/12 (rules match on it), port 53.
pub fn flow_tuple(i: u64, servers: u32) -> ([u8; 4], u16, [u8; 4], u16) {
    let client = 0x0a40_0000u32 | ((i / 64_512) as u32 & 0x003f_ffff);
    let sport = 1024 + (i % 64_512) as u16;
    let server = server_addr(scramble(i) as u32 % servers.max(1));
    (client.to_be_bytes(), sport, server, 53)
}

/// The `k`-th server address (rule `k` matches it).
pub fn server_addr(k: u32) -> [u8; 4] {
    (0xac10_0000u32 | (k & 0x000f_ffff)).to_be_bytes()
}

/// A fixed bijective mix so neighbouring flows hit unrelated servers.
fn scramble(i: u64) -> u64 {
    let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^= x >> 31;
    x
}

fn csum(data: &[u8], initial: u32) -> u16 {
    let mut sum = initial;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = chunks.remainder() {
        sum += u32::from(*b) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Appends the outer headers (Ethernet, IPv4, UDP, GENEVE with the AWS
/// options) of flow `flow`'s frame carrying `inner_len` bytes.
fn outer_headers(out: &mut Vec<u8>, flow: u64, inner_len: usize) {
    let start = out.len();
    // Ethernet
    out.extend_from_slice(&APPLIANCE_MAC);
    out.extend_from_slice(&GWLB_MAC);
    out.extend_from_slice(&0x0800u16.to_be_bytes());
    // Outer IPv4 (identical for every flow: same ID, same checksum)
    let outer_total = (OUTER_LEN - 14 + inner_len) as u16;
    let ip = start + 14;
    out.extend_from_slice(&[0x45, 0]);
    out.extend_from_slice(&outer_total.to_be_bytes());
    out.extend_from_slice(&[0x12, 0x34, 0x40, 0x00, 64, 17, 0, 0]);
    out.extend_from_slice(&GWLB_IP);
    out.extend_from_slice(&APPLIANCE_IP);
    let c = csum(&out[ip..ip + 20], 0);
    out[ip + 10..ip + 12].copy_from_slice(&c.to_be_bytes());
    // Outer UDP: GWLB picks the source port per flow; checksum 0.
    let outer_sport = 32768 + (scramble(flow ^ 0x5a5a) % 28_000) as u16;
    out.extend_from_slice(&outer_sport.to_be_bytes());
    out.extend_from_slice(&6081u16.to_be_bytes());
    out.extend_from_slice(&(outer_total - 20).to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    // GENEVE: version 0, 8 words of options, protocol IPv4, VNI 0.
    out.extend_from_slice(&[8, 0, 0x08, 0x00, 0, 0, 0, 0]);
    out.extend_from_slice(&[0x01, 0x08, 1, 2]);
    out.extend_from_slice(&ENDPOINT_ID.to_be_bytes());
    out.extend_from_slice(&[0x01, 0x08, 2, 2]);
    out.extend_from_slice(&ATTACHMENT_ID.to_be_bytes());
    out.extend_from_slice(&[0x01, 0x08, 3, 1]);
    out.extend_from_slice(&(scramble(flow) as u32).to_be_bytes());
    debug_assert_eq!(out.len() - start, OUTER_LEN);
}

/// Appends to `out` the frame GWLB sends for one packet of flow `flow`
/// with an inner packet of `inner_len` bytes.
pub fn build_frame(out: &mut Vec<u8>, flow: u64, servers: u32, inner_len: usize) {
    let inner_len = inner_len.clamp(MIN_INNER, MAX_INNER);
    let (client, sport, server, dport) = flow_tuple(flow, servers);
    outer_headers(out, flow, inner_len);
    // Inner IPv4 / UDP
    let iip = out.len();
    out.extend_from_slice(&[0x45, 0]);
    out.extend_from_slice(&(inner_len as u16).to_be_bytes());
    out.extend_from_slice(&[0, 1, 0x40, 0, 63, 17, 0, 0]);
    out.extend_from_slice(&client);
    out.extend_from_slice(&server);
    let c = csum(&out[iip..iip + 20], 0);
    out[iip + 10..iip + 12].copy_from_slice(&c.to_be_bytes());
    let udp_len = (inner_len - 20) as u16;
    let iudp = out.len();
    out.extend_from_slice(&sport.to_be_bytes());
    out.extend_from_slice(&dport.to_be_bytes());
    out.extend_from_slice(&udp_len.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend((0..inner_len - MIN_INNER).map(|k| (k as u8).wrapping_mul(31)));
    let mut pseudo = 0u32;
    for w in [&client[..2], &client[2..], &server[..2], &server[2..]] {
        pseudo += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    pseudo += 17 + u32::from(udp_len);
    let c = match csum(&out[iudp..], pseudo) {
        0 => 0xffff,
        c => c,
    };
    out[iudp + 6..iudp + 8].copy_from_slice(&c.to_be_bytes());
}

/// A TCP segment of a benchmark flow: client to server, or back
/// (`reply`), with `payload` bytes of data.
#[derive(Debug, Clone, Copy)]
pub struct TcpSegment {
    pub reply: bool,
    pub flags: u8,
    pub seq: u32,
    pub ack: u32,
    pub payload: usize,
}

/// Appends to `out` the frame GWLB sends for segment `seg` of flow `flow`
/// (the flow's tuple as [`flow_tuple`] gives it, carried over TCP).
pub fn build_tcp_frame(out: &mut Vec<u8>, flow: u64, servers: u32, seg: &TcpSegment) {
    let inner_len = (40 + seg.payload).min(MAX_INNER);
    let (client, sport, server, dport) = flow_tuple(flow, servers);
    let (src, sp, dst, dp) = if seg.reply {
        (server, dport, client, sport)
    } else {
        (client, sport, server, dport)
    };
    outer_headers(out, flow, inner_len);
    let iip = out.len();
    out.extend_from_slice(&[0x45, 0]);
    out.extend_from_slice(&(inner_len as u16).to_be_bytes());
    out.extend_from_slice(&[0, 1, 0x40, 0, 63, 6, 0, 0]);
    out.extend_from_slice(&src);
    out.extend_from_slice(&dst);
    let c = csum(&out[iip..iip + 20], 0);
    out[iip + 10..iip + 12].copy_from_slice(&c.to_be_bytes());
    let itcp = out.len();
    out.extend_from_slice(&sp.to_be_bytes());
    out.extend_from_slice(&dp.to_be_bytes());
    out.extend_from_slice(&seg.seq.to_be_bytes());
    out.extend_from_slice(&seg.ack.to_be_bytes());
    out.extend_from_slice(&[0x50, seg.flags, 0xff, 0xff, 0, 0, 0, 0]);
    out.extend((0..inner_len - 40).map(|k| (k as u8).wrapping_mul(31)));
    let mut pseudo = 0u32;
    for w in [&src[..2], &src[2..], &dst[..2], &dst[2..]] {
        pseudo += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    pseudo += 6 + (inner_len - 20) as u32;
    let c = csum(&out[itcp..], pseudo);
    out[itcp + 16..itcp + 18].copy_from_slice(&c.to_be_bytes());
}

/// Frames packed at a fixed stride, with their lengths.
pub struct FrameSet {
    pub data: Vec<u8>,
    pub lens: Vec<u32>,
    pub stride: usize,
}

impl FrameSet {
    /// Frames for `flows` in the order given.
    pub fn build(flows: &[u64], servers: u32, sizes: Sizes) -> FrameSet {
        let stride = (OUTER_LEN + sizes.max_inner()).next_multiple_of(64);
        let mut data = Vec::with_capacity(stride * flows.len());
        let mut lens = Vec::with_capacity(flows.len());
        for (i, &flow) in flows.iter().enumerate() {
            let at = data.len();
            build_frame(&mut data, flow, servers, sizes.inner_len(i));
            lens.push((data.len() - at) as u32);
            data.resize(at + stride, 0);
        }
        FrameSet { data, lens, stride }
    }

    /// `frames`, in the order given.
    pub fn of_frames(frames: &[Vec<u8>]) -> FrameSet {
        let stride = frames
            .iter()
            .map(Vec::len)
            .max()
            .unwrap_or(0)
            .next_multiple_of(64);
        let mut data = Vec::with_capacity(stride * frames.len());
        let mut lens = Vec::with_capacity(frames.len());
        for f in frames {
            let at = data.len();
            data.extend_from_slice(f);
            lens.push(f.len() as u32);
            data.resize(at + stride, 0);
        }
        FrameSet { data, lens, stride }
    }

    pub fn len(&self) -> usize {
        self.lens.len()
    }

    pub fn frame(&self, i: usize) -> &[u8] {
        let at = i * self.stride;
        &self.data[at..at + self.lens[i] as usize]
    }

    pub fn mean_len(&self) -> f64 {
        let total: u64 = self.lens.iter().map(|&l| u64::from(l)).sum();
        total as f64 / self.lens.len().max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_wire::summary::L4Summary;

    #[test]
    fn tcp_frames_parse_with_their_segment_and_the_express_parse_takes_them() {
        for (reply, payload) in [(false, 0usize), (true, 24), (false, 1400)] {
            let seg = TcpSegment {
                reply,
                flags: 0x18,
                seq: 7,
                ack: 9,
                payload,
            };
            let mut f = Vec::new();
            build_tcp_frame(&mut f, 70_000, 1000, &seg);
            let parsed = tollgate_wire::parse_gwlb_frame(&f).expect("valid GWLB frame");
            let inner = &f[OUTER_LEN..];
            let s = tollgate_wire::summarize(inner, parsed.tunnel.inner_version).unwrap();
            let (client, sport, server, dport) = flow_tuple(70_000, 1000);
            let (src, sp, dst, dp) = if reply {
                (server, dport, client, sport)
            } else {
                (client, sport, server, dport)
            };
            assert_eq!(s.src, tollgate_wire::summary::ipv4_mapped(src));
            assert_eq!(s.dst, tollgate_wire::summary::ipv4_mapped(dst));
            match s.l4 {
                L4Summary::Tcp {
                    src_port,
                    dst_port,
                    flags,
                    seq,
                    ack,
                    payload_len,
                    ..
                } => assert_eq!(
                    (
                        src_port,
                        dst_port,
                        flags,
                        seq,
                        ack,
                        usize::from(payload_len)
                    ),
                    (sp, dp, 0x18, 7, 9, payload)
                ),
                other => panic!("not TCP: {other:?}"),
            }
            let t = tollgate_wire::tcp::Packet::new_checked(&inner[20..]).unwrap();
            assert!(t.verify_checksum_v4(src, dst));
            assert!(tollgate_wire::parse_express(&f).is_some());
        }
    }

    #[test]
    fn frames_parse_as_gwlb_with_the_flow_tuple() {
        for (flow, size) in [(0u64, 64usize), (70_000, 28), (3_999_999, 1500), (5, 8500)] {
            let mut f = Vec::new();
            build_frame(&mut f, flow, 1000, size);
            assert_eq!(f.len(), OUTER_LEN + size);
            let parsed = tollgate_wire::parse_gwlb_frame(&f).expect("valid GWLB frame");
            assert_eq!(parsed.tunnel.metadata.endpoint_id, ENDPOINT_ID);
            let (client, sport, server, dport) = flow_tuple(flow, 1000);
            let inner = &f[OUTER_LEN..];
            let s = tollgate_wire::summarize(inner, parsed.tunnel.inner_version).unwrap();
            assert_eq!(s.src, tollgate_wire::summary::ipv4_mapped(client));
            assert_eq!(s.dst, tollgate_wire::summary::ipv4_mapped(server));
            match s.l4 {
                L4Summary::Udp {
                    src_port, dst_port, ..
                } => {
                    assert_eq!((src_port, dst_port), (sport, dport))
                }
                other => panic!("not UDP: {other:?}"),
            }
            // Outer and inner IPv4 header checksums verify (sum to zero).
            assert_eq!(csum(&f[14..34], 0), 0);
            assert_eq!(csum(&f[OUTER_LEN..OUTER_LEN + 20], 0), 0);
        }
    }

    #[test]
    fn flow_tuples_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for i in (0..200_000u64).chain(4_000_000..4_050_000) {
            let (c, sp, _, _) = flow_tuple(i, 10);
            assert!(seen.insert((c, sp)), "flow {i} repeats a tuple");
        }
    }

    #[test]
    fn imix_mix_is_7_4_1() {
        let lens: Vec<usize> = (0..12).map(|i| Sizes::Imix.inner_len(i)).collect();
        assert_eq!(lens.iter().filter(|&&l| l == 64).count(), 7);
        assert_eq!(lens.iter().filter(|&&l| l == 576).count(), 4);
        assert_eq!(lens.iter().filter(|&&l| l == 1500).count(), 1);
    }
}
