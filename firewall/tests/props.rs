//! Random packet sequences, rule changes and control-plane flushes: never a
//! panic, and the counters agree with the table.

mod common;

use std::sync::Arc;

use common::*;
use proptest::prelude::*;
use tollgate_firewall::{
    Action, DropReason, FirewallConfig, FlowFilter, FlowState, OnRuleChange, Prefix, Verdict,
};
use tollgate_wire::summary::L4Summary;
use tollgate_wire::InnerSummary;

#[derive(Debug, Clone)]
enum Op {
    Packet {
        dt_ms: u64,
        ep: u64,
        pkt: InnerSummary,
    },
    Rules(u8, OnRuleChange),
    FlushMatching(FlowFilter),
    Expire(u32),
}

fn addrs() -> [u128; 4] {
    [v4(10, 0, 0, 1), v4(10, 0, 0, 2), v6(1), v6(2)]
}

fn packet() -> impl Strategy<Value = InnerSummary> {
    let pair = (0..2usize, 0..2usize, any::<bool>());
    let port = prop_oneof![Just(443u16), Just(1000u16), Just(1001u16)];
    (
        pair,
        port.clone(),
        port,
        0..8u8,
        any::<u8>(),
        0..4u32,
        0..4u32,
        0..3u16,
    )
        .prop_map(|((s, d, six), sp, dp, kind, flags, seq, ack, len)| {
            let a = addrs();
            let off = if six { 2 } else { 0 };
            let (src, dst) = (a[s + off], a[d + off]);
            match kind {
                0 | 1 => tcp((src, sp), (dst, dp), flags, seq * 1000, ack * 1000 + 1, len),
                2 => udp((src, sp), (dst, dp)),
                3 => echo(src, dst, sp, flags & 1 == 0),
                4 => icmp_error(dst, src, &tcp((src, sp), (dst, dp), flags, 0, 0, 0)),
                5 => other(src, dst, 47),
                6 => later_fragment(udp((src, sp), (dst, dp))),
                _ => {
                    let mut p = echo(src, dst, sp, true);
                    p.l4 = L4Summary::IcmpOther {
                        icmp_type: 13,
                        code: 0,
                    };
                    p
                }
            }
        })
}

fn op() -> impl Strategy<Value = Op> {
    let change = prop_oneof![
        Just(OnRuleChange::Keep),
        Just(OnRuleChange::Revalidate),
        Just(OnRuleChange::Flush)
    ];
    prop_oneof![
        20 => (0..40_000u64, 1..3u64, packet()).prop_map(|(dt_ms, ep, pkt)| Op::Packet { dt_ms, ep, pkt }),
        1 => (0..4u8, change).prop_map(|(r, c)| Op::Rules(r, c)),
        1 => (proptest::option::of(1..3u64), proptest::option::of(prop_oneof![Just(443u16), Just(1000)]),
              proptest::option::of(0..4usize))
            .prop_map(|(endpoint, port, addr)| Op::FlushMatching(FlowFilter {
                endpoint,
                port,
                address: addr.map(|i| Prefix { addr: addrs()[i], len: 128 }),
                protocol: None,
            })),
        1 => (0..64u32).prop_map(Op::Expire),
    ]
}

fn rules(n: u8) -> TestRules {
    match n {
        0 => TestRules::pass_all(),
        1 => TestRules::tcp_port(443),
        2 => TestRules::new(vec![], Action::Drop),
        _ => TestRules::new(vec![], Action::Reject),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
    #[test]
    fn random_traffic_keeps_the_books(
        capacity in 1..24u32,
        pickup in any::<bool>(),
        reverse in any::<bool>(),
        hand in 0..4u32,
        ops in proptest::collection::vec(op(), 1..300),
    ) {
        let config = FirewallConfig {
            capacity,
            mid_stream_pickup: pickup,
            pickup_try_reverse: reverse,
            expiry_slots_per_packet: hand,
            reclaim_scan_slots: 8,
            ..FirewallConfig::default()
        };
        let mut fw = firewall(config, TestRules::pass_all());
        let mut now = 0u64;
        let mut generation = 1;
        for op in ops {
            match op {
                Op::Packet { dt_ms, ep, pkt } => {
                    now += dt_ms * 1_000_000;
                    let d = fw.process(now, ep, &pkt);
                    if d.verdict == Verdict::Drop(DropReason::TableFull) {
                        prop_assert!(!d.flow_created);
                    }
                }
                Op::Rules(r, change) => {
                    generation += 1;
                    fw.set_rules(Arc::new(rules(r)), generation, change);
                }
                Op::FlushMatching(filter) => {
                    let before = fw.occupied_slots();
                    let removed = fw.flush_matching(&filter);
                    prop_assert_eq!(fw.occupied_slots(), before - removed);
                    prop_assert_eq!(fw.flows(now).filter(|f| filter.matches(&f.key)).count(), 0);
                }
                Op::Expire(slots) => {
                    fw.expire(now, slots);
                }
            }
            let c = fw.counters();
            prop_assert_eq!(c.active, fw.occupied_slots() as u64);
            prop_assert!(c.active <= u64::from(capacity));
            prop_assert!(fw.flows(now).count() as u64 <= c.active);
            prop_assert_eq!(c.packets, c.passed + c.dropped + c.rejected);
            prop_assert_eq!(c.dropped, c.drops.iter().sum::<u64>());
            prop_assert!(c.created >= c.active);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    /// The burst path (prepare all, prefetch all, process all) decides
    /// exactly like packet-at-a-time processing.
    #[test]
    fn burst_processing_matches_one_by_one(
        capacity in 1..24u32,
        pkts in proptest::collection::vec((0..40_000u64, 1..3u64, packet()), 1..200),
    ) {
        let config = FirewallConfig { capacity, ..FirewallConfig::default() };
        let mut one = firewall(config.clone(), TestRules::tcp_port(443));
        let mut burst = firewall(config, TestRules::tcp_port(443));
        let mut now = 0;
        for chunk in pkts.chunks(8) {
            now += chunk[0].0 * 1_000_000;
            let expected: Vec<_> = chunk.iter().map(|(_, ep, p)| one.process(now, *ep, p)).collect();
            let mut prepared: Vec<_> = chunk.iter().map(|(_, ep, p)| burst.prepare(*ep, p)).collect();
            for p in &mut prepared {
                burst.prefetch_flow(p);
            }
            let got: Vec<_> = chunk
                .iter()
                .zip(&prepared)
                .map(|((_, ep, p), prep)| burst.process_prepared(now, *ep, p, prep))
                .collect();
            prop_assert_eq!(got, expected);
        }
        prop_assert_eq!(one.counters(), burst.counters());
    }
}

/// One segment between an inside host (port 40000, or 22) and an outside
/// host (port 443), with sequence numbers near two ISNs so that
/// handshakes, pickups, FINs and RSTs happen, and any flags.
fn attack_segment() -> impl Strategy<Value = InnerSummary> {
    let inside = (v4(10, 0, 0, 1), 40000u16);
    let ssh = (v4(10, 0, 0, 1), 22u16);
    let outside = (v4(10, 0, 0, 2), 443u16);
    let near = prop_oneof![
        (0..3u32).prop_map(|d| 1000 + d),
        (0..3u32).prop_map(|d| 5000 + d),
        (0..3u32).prop_map(|d| 1100 + d),
        any::<u32>(),
    ];
    let flags = prop_oneof![
        Just(SYN),
        Just(SYN | ACK),
        Just(ACK),
        Just(PSH | ACK),
        Just(FIN | ACK),
        Just(RST),
        Just(RST | ACK),
        any::<u8>(),
    ];
    (
        0..4usize,
        flags,
        near.clone(),
        near,
        prop_oneof![Just(0u16), Just(100)],
    )
        .prop_map(move |(dir, flags, seq, ack, len)| {
            let (src, dst) = match dir {
                0 => (inside, outside),
                1 => (outside, inside),
                2 => (ssh, outside),
                _ => (outside, ssh),
            };
            tcp(src, dst, flags, seq, ack, len)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
    /// With rules allowing flows only to port 443, no bare SYN ever passes
    /// from the 443 side: a SYN passes only where the rules allow a flow
    /// opened in its own direction, whatever came before (handshakes,
    /// pickups in either direction, resets, closes, expiry), or in a
    /// simultaneous open: while the other side's own SYN on these very
    /// ports waits for an answer (SYN_SENT), which only that connecting
    /// socket takes.
    #[test]
    fn no_syn_passes_against_the_rules(
        pickup in any::<bool>(),
        reverse in any::<bool>(),
        segs in proptest::collection::vec((0..3_000u64, attack_segment()), 1..120),
    ) {
        let config = FirewallConfig {
            mid_stream_pickup: pickup,
            pickup_try_reverse: reverse,
            ..small_config()
        };
        let rules = TestRules::tcp_port(443);
        let mut fw = firewall(config, TestRules::tcp_port(443));
        let mut now = 0;
        for (dt_ms, pkt) in segs {
            now += dt_ms * 1_000_000;
            let before = state_of(&fw, now, EP, &pkt);
            let d = fw.process(now, EP, &pkt);
            let L4Summary::Tcp { flags, .. } = pkt.l4 else { unreachable!() };
            let bare_syn = flags & (SYN | ACK | RST | FIN) == SYN;
            let simultaneous = before == Some(FlowState::TcpSynSent);
            if bare_syn && d.verdict == Verdict::Pass && !simultaneous {
                let own = tollgate_firewall::Classify::classify(&rules, EP, &pkt);
                prop_assert_eq!(own.action, Action::Pass, "{:?}", pkt.l4);
            }
        }
    }
}
