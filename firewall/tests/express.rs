//! `Firewall::pass_established` (the established-flow fast path) against
//! the general path: it passes only packets the general path would pass
//! without a decision of its own, leaves the firewall exactly as the
//! general path does, and declines (changing nothing) otherwise.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::*;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use tollgate_firewall::{
    Decision, DropReason, Firewall, FirewallConfig, FlowInfo, FlowKey, FlowState, OnRuleChange,
    Prepared, Verdict,
};
use tollgate_wire::summary::tcp_flags as f;
use tollgate_wire::{InnerSummary, TcpFields, TupleV4};

/// One packet as the pipeline's burst does it: the sweep, then the fast
/// path, then (if it declined) the general path. `Some(true)` when the
/// fast path passed it.
fn fast_then_general(
    fw: &mut Firewall<TestRules>,
    now: u64,
    ep: u64,
    pkt: &InnerSummary,
) -> (Decision, Option<bool>) {
    fw.sweep_for_burst(now, 1);
    let mut prepared = Prepared::EMPTY;
    let Some(t) = TupleV4::of_summary(pkt) else {
        fw.prepare_into(ep, pkt, &mut prepared);
        return (fw.process_swept(now, ep, pkt, &prepared), None);
    };
    fw.prepare_key_into(FlowKey::of_tuple_v4(ep, &t), &mut prepared);
    let mut general = Prepared::EMPTY;
    fw.prepare_into(ep, pkt, &mut general);
    assert_eq!(
        format!("{prepared:?}"),
        format!("{general:?}"),
        "same key, hash and probe"
    );
    let before = (fw.counters(), table(fw, now));
    let fields = TcpFields::of_summary(pkt).unwrap_or(TcpFields::NONE);
    if fw.pass_established(now, &prepared, t.tcp_flags, || fields) {
        let pass = Decision {
            verdict: Verdict::Pass,
            rule: None,
            flow_created: false,
        };
        (pass, Some(true))
    } else {
        // Declining changes nothing.
        assert_eq!((fw.counters(), table(fw, now)), before);
        (fw.process_swept(now, ep, pkt, &prepared), Some(false))
    }
}

/// The reference: the general path alone, as the pipeline ran it before.
fn general_only(fw: &mut Firewall<TestRules>, now: u64, ep: u64, pkt: &InnerSummary) -> Decision {
    fw.sweep_for_burst(now, 1);
    let mut prepared = Prepared::EMPTY;
    fw.prepare_into(ep, pkt, &mut prepared);
    fw.process_swept(now, ep, pkt, &prepared)
}

fn table(fw: &Firewall<TestRules>, now: u64) -> Vec<FlowInfo> {
    fw.flows(now).collect()
}

fn client() -> Addr {
    (v4(10, 0, 0, 1), 40000)
}

fn server() -> Addr {
    (v4(10, 0, 0, 2), 443)
}

#[test]
fn established_tcp_and_udp_take_the_fast_path_and_nothing_else_does() {
    let mut fw = firewall(FirewallConfig::default(), TestRules::pass_all());
    let (c, s) = (client(), server());
    let mut t = 1_000_000u64;
    let mut send = |fw: &mut Firewall<TestRules>, pkt: InnerSummary| {
        t += 1_000_000;
        fast_then_general(fw, t, 1, &pkt)
    };
    // Handshake: none of it is fast.
    assert_eq!(send(&mut fw, tcp(c, s, f::SYN, 100, 0, 0)).1, Some(false));
    assert_eq!(
        send(&mut fw, tcp(s, c, f::SYN | f::ACK, 500, 101, 0)).1,
        Some(false)
    );
    assert_eq!(send(&mut fw, tcp(c, s, f::ACK, 101, 501, 0)).1, Some(false));
    // Established: data both ways is fast, with PSH too.
    assert_eq!(
        send(&mut fw, tcp(c, s, f::ACK | f::PSH, 101, 501, 10)).1,
        Some(true)
    );
    assert_eq!(send(&mut fw, tcp(s, c, f::ACK, 501, 111, 0)).1, Some(true));
    // Out of window: the general path's, which drops it.
    let (d, how) = send(&mut fw, tcp(c, s, f::ACK | f::PSH, 101 + 100_000, 501, 10));
    assert_eq!(
        (d.verdict, how),
        (Verdict::Drop(DropReason::TcpOutOfWindow), Some(false))
    );
    let (d, how) = send(&mut fw, tcp(s, c, f::ACK, 501, 5000, 0));
    assert_eq!(
        (d.verdict, how),
        (Verdict::Drop(DropReason::TcpOutOfWindow), Some(false))
    );
    // In window again, and the windows the fast path learned hold: data
    // the fast path passed is acknowledged.
    assert_eq!(
        send(&mut fw, tcp(c, s, f::ACK | f::PSH, 111, 501, 1000)).1,
        Some(true)
    );
    assert_eq!(send(&mut fw, tcp(s, c, f::ACK, 501, 1111, 0)).1, Some(true));
    // A pickup is the general path's until confirmed, then fast.
    let pc = (v4(10, 0, 9, 9), 40000);
    assert_eq!(
        send(&mut fw, tcp(pc, s, f::ACK, 7000, 9000, 10)).1,
        Some(false)
    );
    assert_eq!(
        send(&mut fw, tcp(pc, s, f::ACK, 7010, 9000, 10)).1,
        Some(false)
    );
    assert_eq!(
        send(&mut fw, tcp(s, pc, f::ACK, 9000, 7020, 0)).1,
        Some(false)
    );
    assert_eq!(
        send(&mut fw, tcp(pc, s, f::ACK, 7020, 9000, 10)).1,
        Some(true)
    );
    // Control segments are the tracker's: FIN, RST, SYN, no ACK (each on
    // a flow of its own, so that they do not close the one above).
    for (i, flags) in [f::ACK | f::FIN, f::RST, f::SYN, f::PSH, 0]
        .into_iter()
        .enumerate()
    {
        let c = (v4(10, 0, 1, i as u8), 40000);
        send(&mut fw, tcp(c, s, f::SYN, 100, 0, 0));
        send(&mut fw, tcp(s, c, f::SYN | f::ACK, 500, 101, 0));
        send(&mut fw, tcp(c, s, f::ACK, 101, 501, 0));
        assert_eq!(
            send(&mut fw, tcp(c, s, flags, 101, 501, 0)).1,
            Some(false),
            "flags {flags:#x}"
        );
    }
    // UDP: the first packet opens the flow; then both directions are fast,
    // and the reply still turns the flow into a stream.
    let (uc, us) = ((v4(10, 0, 0, 1), 5000), (v4(10, 0, 0, 3), 53));
    assert_eq!(send(&mut fw, udp(uc, us)).1, Some(false));
    assert_eq!(send(&mut fw, udp(uc, us)).1, Some(true));
    assert_eq!(
        state_of(&fw, 0, 1, &udp(uc, us)),
        Some(FlowState::UdpSingle)
    );
    assert_eq!(send(&mut fw, udp(us, uc)).1, Some(true));
    assert_eq!(
        state_of(&fw, 0, 1, &udp(uc, us)),
        Some(FlowState::UdpStream)
    );
    // Another endpoint is another flow.
    t += 1_000_000;
    assert_eq!(
        fast_then_general(&mut fw, t, 2, &udp(uc, us)).1,
        Some(false)
    );
}

#[test]
fn no_rule_set_expiry_and_rule_changes_go_to_the_general_path() {
    let (uc, us) = ((v4(10, 0, 0, 1), 5000), (v4(10, 0, 0, 3), 53));
    let mut fw = Firewall::<TestRules>::new(FirewallConfig::default()).unwrap();
    assert_eq!(
        fast_then_general(&mut fw, 1, 1, &udp(uc, us)).1,
        Some(false)
    );
    fw.set_rules(Arc::new(TestRules::pass_all()), 1, OnRuleChange::Keep);
    let ms = 1_000_000;
    fast_then_general(&mut fw, 2 * ms, 1, &udp(uc, us));
    assert_eq!(
        fast_then_general(&mut fw, 3 * ms, 1, &udp(uc, us)).1,
        Some(true)
    );
    // A kept rule change leaves the flow fast.
    fw.set_rules(Arc::new(TestRules::pass_all()), 2, OnRuleChange::Keep);
    assert_eq!(
        fast_then_general(&mut fw, 4 * ms, 1, &udp(uc, us)).1,
        Some(true)
    );
    // Revalidate and flush: the next packet is the general path's.
    for (g, change) in [(3, OnRuleChange::Revalidate), (4, OnRuleChange::Flush)] {
        fw.set_rules(Arc::new(TestRules::pass_all()), g, change);
        assert_eq!(
            fast_then_general(&mut fw, 5 * ms, 1, &udp(uc, us)).1,
            Some(false)
        );
    }
    // Flushed: denied, and it stays the general path's.
    assert_eq!(
        fast_then_general(&mut fw, 6 * ms, 1, &udp(uc, us)).1,
        Some(false)
    );
    // Expired (one-way UDP's timeout): the general path opens it again.
    let config = FirewallConfig::default();
    let udp_single_ms = u64::try_from(config.timeouts.udp_single.as_millis()).unwrap();
    let mut fw = firewall(config, TestRules::pass_all());
    fast_then_general(&mut fw, ms, 1, &udp(uc, us));
    let later = ms + (udp_single_ms + 1_000) * ms;
    assert_eq!(
        fast_then_general(&mut fw, later, 1, &udp(uc, us)).1,
        Some(false)
    );
    assert_eq!(fw.counters().created, 2);
}

/// Random traffic (TCP with random flags, UDP, IPv6, later fragments),
/// rule changes and time steps: the fast path followed by the general
/// path decides every packet, counts, and leaves the table exactly as the
/// general path alone; and the fast path does take a share of packets.
#[test]
fn fast_path_is_invisible() {
    let op = prop_oneof![
        60 => (prop_oneof![8 => 0..50u64, 1 => 0..40_000u64], prop_oneof![4 => Just(1u64), 1 => Just(2u64)], packet_strategy())
            .prop_map(|(dt, ep, p)| (dt, ep, Some(p), 0u8)),
        1 => (0..4u8).prop_map(|r| (0u64, 1u64, None, r)),
    ];
    let case = (
        prop_oneof![1 => 1..8u32, 3 => 8..64u32],
        proptest::collection::vec(op, 1..300),
    );
    let took_fast = AtomicU64::new(0);
    let packets = AtomicU64::new(0);
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 128,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let result = runner.run(&case, |(capacity, ops)| {
        let config = FirewallConfig {
            capacity,
            ..FirewallConfig::default()
        };
        let mut reference = firewall(config.clone(), TestRules::pass_all());
        let mut fast = firewall(config, TestRules::pass_all());
        let (mut now, mut generation, mut took_fast_here) = (0u64, 1u64, 0u64);
        for (dt_ms, ep, pkt, change) in ops {
            now += dt_ms * 1_000_000;
            match pkt {
                Some(pkt) => {
                    let want = general_only(&mut reference, now, ep, &pkt);
                    let (got, how) = fast_then_general(&mut fast, now, ep, &pkt);
                    prop_assert_eq!(got, want);
                    packets.fetch_add(1, Ordering::Relaxed);
                    took_fast.fetch_add(u64::from(how == Some(true)), Ordering::Relaxed);
                    took_fast_here += u64::from(how == Some(true));
                }
                None => {
                    generation += 1;
                    let on_change = [
                        OnRuleChange::Keep,
                        OnRuleChange::Revalidate,
                        OnRuleChange::Flush,
                    ][usize::from(change % 3)];
                    let rules = || {
                        if change == 3 {
                            TestRules::pass_all()
                        } else {
                            TestRules::tcp_port(443)
                        }
                    };
                    reference.set_rules(Arc::new(rules()), generation, on_change);
                    fast.set_rules(Arc::new(rules()), generation, on_change);
                }
            }
            let mut counted = fast.counters();
            prop_assert_eq!(counted.fast_passed, took_fast_here);
            counted.fast_passed = 0;
            prop_assert_eq!(reference.counters(), counted);
            prop_assert_eq!(table(&reference, now), table(&fast, now));
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let (fast, all) = (took_fast.into_inner(), packets.into_inner());
    assert!(fast * 20 > all, "fast path took {fast} of {all} packets");
}

/// Few flows, so that they recur: IPv4, IPv6 and one between two ports
/// of the same address, in either direction; TCP flags biased towards
/// plain ACKs so that flows get established (or picked up).
fn packet_strategy() -> impl Strategy<Value = InnerSummary> {
    let flows = [
        ((v4(10, 0, 0, 1), 1000), (v4(10, 0, 0, 2), 443)),
        ((v4(10, 0, 0, 1), 1001), (v4(10, 0, 0, 2), 443)),
        ((v4(10, 0, 0, 1), 1000), (v4(10, 0, 0, 1), 443)),
        ((v6(1), 1000), (v6(2), 443)),
    ];
    let flags = prop_oneof![
        6 => Just(f::ACK),
        1 => Just(f::SYN),
        1 => Just(f::SYN | f::ACK),
        1 => Just(f::ACK | f::FIN),
        1 => Just(f::RST),
        1 => any::<u8>(),
    ];
    (
        0..flows.len(),
        any::<bool>(),
        0..5u8,
        flags,
        0..3u32,
        0..3u32,
        prop_oneof![Just(0u16), Just(100), Just(1000)],
    )
        .prop_map(move |(flow, reply, kind, flags, seq, ack, len)| {
            let (mut a, mut b) = flows[flow];
            if reply {
                std::mem::swap(&mut a, &mut b);
            }
            match kind {
                0 | 1 => tcp(a, b, flags, seq * 1000, ack * 1000 + 1, len),
                2 | 3 => udp(a, b),
                _ => later_fragment(udp(a, b)),
            }
        })
}
