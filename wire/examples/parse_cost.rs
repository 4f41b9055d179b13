//! Measures the hot-path cost per packet: `parse_geneve_payload` followed
//! by `summarize`, over the GWLB fixtures. Run with
//! `cargo run --release -p tollgate-wire --example parse_cost`.
//!
//! `PARSE_COST_ROUNDS=n` sets the iterations and `PARSE_COST_PART` one of
//! `both`, `geneve`, `summarize` to run only that part; for a count that a
//! busy machine cannot skew, run under `valgrind --tool=callgrind` with n
//! and with 0 rounds and divide the difference by 7n
//! (`PARSE_COST_FIXTURE=<part of a name>` selects fixtures).

use std::hint::black_box;
use std::time::Instant;

use tollgate_wire::{parse_geneve_payload, summarize};

const FIXTURES: &[(&str, &str)] = &[
    (
        "v4 tcp syn",
        include_str!("../tests/fixtures/gwlb_v4_tcp_syn.hex"),
    ),
    ("v4 udp", include_str!("../tests/fixtures/gwlb_v4_udp.hex")),
    (
        "v4 icmp echo",
        include_str!("../tests/fixtures/gwlb_v4_icmp_echo.hex"),
    ),
    (
        "v6 tcp + dest opts",
        include_str!("../tests/fixtures/gwlb_v6_tcp_ext.hex"),
    ),
    (
        "v6 icmpv6 echo",
        include_str!("../tests/fixtures/gwlb_v6_icmpv6_echo.hex"),
    ),
    (
        "v4 icmp port unreachable",
        include_str!("../tests/fixtures/gwlb_v4_icmp_port_unreachable.hex"),
    ),
    (
        "v6 icmpv6 time exceeded",
        include_str!("../tests/fixtures/gwlb_v6_icmpv6_time_exceeded.hex"),
    ),
];

fn decode_hex(s: &str) -> Vec<u8> {
    let s = s.trim();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Runs `f` `rounds` times; returns ns per call.
fn time(rounds: u32, mut f: impl FnMut() -> u64) -> f64 {
    let start = Instant::now();
    let mut acc = 0u64;
    for _ in 0..rounds {
        acc = acc.wrapping_add(f());
    }
    black_box(acc);
    start.elapsed().as_nanos() as f64 / f64::from(rounds.max(1))
}

fn main() {
    let rounds: u32 = std::env::var("PARSE_COST_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000);
    let part = std::env::var("PARSE_COST_PART").unwrap_or_default();
    let only = std::env::var("PARSE_COST_FIXTURE").unwrap_or_default();
    let run = |p: &str| part.is_empty() || part == p;
    for (name, hex) in FIXTURES.iter().filter(|(n, _)| n.contains(only.as_str())) {
        let frame = decode_hex(hex);
        let udp_payload = &frame[42..];
        let t = parse_geneve_payload(udp_payload).unwrap();
        let inner = &udp_payload[t.inner_offset..];
        let mut line = format!("{name:<26}");
        if run("both") {
            let ns = time(rounds, || {
                let payload = black_box(udp_payload);
                let t = parse_geneve_payload(payload).unwrap();
                let s = summarize(&payload[t.inner_offset..], t.inner_version).unwrap();
                u64::from(t.metadata.flow_cookie) ^ s.src as u64
            });
            line += &format!(" both {ns:5.1} ns");
        }
        if run("geneve") {
            let ns = time(rounds, || {
                u64::from(
                    parse_geneve_payload(black_box(udp_payload))
                        .unwrap()
                        .metadata
                        .flow_cookie,
                )
            });
            line += &format!(", geneve+options {ns:5.1} ns");
        }
        if run("summarize") {
            let ns = time(rounds, || {
                summarize(black_box(inner), t.inner_version).unwrap().src as u64
            });
            line += &format!(", summarize {ns:5.1} ns");
        }
        println!("{line}");
    }
}
