//! Measures the hot-path cost per packet: `parse_geneve_payload` followed
//! by `summarize`, over the GWLB fixtures. Run with
//! `cargo run --release -p tollgate-wire --example parse_cost`.

use std::hint::black_box;
use std::time::Instant;

use tollgate_wire::{parse_geneve_payload, summarize};

const FIXTURES: &[(&str, &str)] = &[
    ("v4 tcp syn", include_str!("../tests/fixtures/gwlb_v4_tcp_syn.hex")),
    ("v4 udp", include_str!("../tests/fixtures/gwlb_v4_udp.hex")),
    ("v4 icmp echo", include_str!("../tests/fixtures/gwlb_v4_icmp_echo.hex")),
    ("v6 tcp + dest opts", include_str!("../tests/fixtures/gwlb_v6_tcp_ext.hex")),
    ("v6 icmpv6 echo", include_str!("../tests/fixtures/gwlb_v6_icmpv6_echo.hex")),
    ("v4 icmp port unreachable", include_str!("../tests/fixtures/gwlb_v4_icmp_port_unreachable.hex")),
    ("v6 icmpv6 time exceeded", include_str!("../tests/fixtures/gwlb_v6_icmpv6_time_exceeded.hex")),
];

fn decode_hex(s: &str) -> Vec<u8> {
    let s = s.trim();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn main() {
    const ROUNDS: u32 = 2_000_000;
    for (name, hex) in FIXTURES {
        let frame = decode_hex(hex);
        let udp_payload = &frame[42..];
        let start = Instant::now();
        let mut acc = 0u64;
        for _ in 0..ROUNDS {
            let payload = black_box(udp_payload);
            let t = parse_geneve_payload(payload).unwrap();
            let s = summarize(&payload[t.inner_offset..t.inner_offset + t.inner_len], t.inner_version).unwrap();
            acc = acc.wrapping_add(u64::from(t.metadata.flow_cookie) ^ s.src as u64);
        }
        let ns = start.elapsed().as_nanos() as f64 / f64::from(ROUNDS);
        let start = Instant::now();
        for _ in 0..ROUNDS {
            let t = parse_geneve_payload(black_box(udp_payload)).unwrap();
            acc = acc.wrapping_add(u64::from(t.metadata.flow_cookie));
        }
        let geneve_ns = start.elapsed().as_nanos() as f64 / f64::from(ROUNDS);
        let t = parse_geneve_payload(udp_payload).unwrap();
        let inner = &udp_payload[t.inner_offset..];
        let start = Instant::now();
        for _ in 0..ROUNDS {
            let s = summarize(black_box(inner), t.inner_version).unwrap();
            acc = acc.wrapping_add(s.src as u64);
        }
        let summary_ns = start.elapsed().as_nanos() as f64 / f64::from(ROUNDS);
        println!(
            "{name:<26} both {ns:5.1} ns, geneve+options {geneve_ns:5.1} ns, summarize {summary_ns:5.1} ns/packet ({:x})",
            acc & 0xf
        );
    }
}
