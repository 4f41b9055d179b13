//! Table capacity: reclaim order when full, refusal, and bounded expiry.

mod common;

use std::time::Duration;

use common::*;
use tollgate_firewall::{DropReason, FirewallConfig, FlowState, HashKey, Timeouts, Verdict};

/// One-way UDP flows idle out after 30 s here (below the default, to
/// reach expiry sooner than the SYN_SENT flows' 120 s).
fn udp_single_30s() -> Timeouts {
    Timeouts {
        udp_single: Duration::from_secs(30),
        ..Timeouts::default()
    }
}

fn client(i: u16) -> Addr {
    (v4(10, 1, (i >> 8) as u8, i as u8), 10_000 + i)
}
fn server() -> Addr {
    (v4(10, 2, 0, 1), 443)
}

/// A table of 8 flows (16 slots: every key can reach every slot) whose
/// clock hand does no background work, so only inserts reclaim.
fn tiny() -> FirewallConfig {
    FirewallConfig {
        capacity: 8,
        timeouts: udp_single_30s(),
        expiry_slots_per_packet: 0,
        reclaim_scan_slots: 16,
        ..FirewallConfig::default()
    }
}

fn established(i: u16) -> tollgate_wire::InnerSummary {
    tcp(client(i), server(), ACK, 1, 1, 0)
}

/// Pick flow `i` up and confirm it with the server's answer.
fn establish(
    fw: &mut tollgate_firewall::Firewall<TestRules>,
    now: u64,
    i: u16,
) -> tollgate_firewall::Decision {
    fw.process(now, EP, &established(i));
    fw.process(now, EP, &tcp(server(), client(i), ACK, 1, 1, 0))
}

#[test]
fn established_flows_are_never_evicted() {
    let mut fw = firewall(tiny(), TestRules::pass_all());
    assert_eq!(fw.slots(), 16);
    for i in 0..8 {
        assert_eq!(establish(&mut fw, 0, i).verdict, Verdict::Pass);
    }
    let d = fw.process(SEC, EP, &tcp(client(100), server(), SYN, 1, 0, 0));
    assert_eq!(d.verdict, Verdict::Drop(DropReason::TableFull));
    assert!(!d.flow_created);
    let c = fw.counters();
    assert_eq!(
        (c.refused_total(), c.evicted_total(), c.expired, c.active),
        (1, 0, 0, 8)
    );
    for i in 0..8 {
        assert_eq!(
            state_of(&fw, SEC, EP, &established(i)),
            Some(FlowState::TcpEstablished)
        );
    }
    // Existing flows still pass while the table is full.
    assert_eq!(fw.process(SEC, EP, &established(3)).verdict, Verdict::Pass);
}

#[test]
fn full_table_reclaims_expired_then_embryonic_then_refuses() {
    let mut fw = firewall(tiny(), TestRules::pass_all());
    for i in 0..6 {
        establish(&mut fw, 0, i);
    }
    let syn_sent = tcp(client(6), server(), SYN, 1, 0, 0);
    let one_way_udp = udp(client(7), (server().0, 53));
    fw.process(0, EP, &syn_sent);
    fw.process(0, EP, &one_way_udp);
    assert_eq!(fw.counters().active, 8);

    // At 40 s the UDP flow (30 s) has expired, the SYN (120 s) has not.
    let now = 40 * SEC;
    let d = fw.process(now, EP, &tcp(client(20), server(), SYN, 1, 0, 0));
    assert_eq!((d.verdict, d.flow_created), (Verdict::Pass, true));
    assert_eq!(
        (fw.counters().expired, fw.counters().evicted_total()),
        (1, 0)
    );
    assert_eq!(
        state_of(&fw, now, EP, &syn_sent),
        Some(FlowState::TcpSynSent)
    );

    // Next, the live SYN_SENT flows are reclaimed, the older one first.
    let d = fw.process(now, EP, &udp(client(21), (server().0, 53)));
    assert_eq!(d.verdict, Verdict::Pass);
    assert_eq!(fw.counters().evicted_total(), 1);
    assert_eq!(state_of(&fw, now, EP, &syn_sent), None);
    let syn_20 = tcp(client(20), server(), SYN, 1, 0, 0);
    assert_eq!(state_of(&fw, now, EP, &syn_20), Some(FlowState::TcpSynSent));

    // Then the UDP single flow and the second SYN; then nothing is left.
    establish(&mut fw, now, 22);
    establish(&mut fw, now, 23);
    assert_eq!(fw.counters().evicted_total(), 3);
    let d = fw.process(now, EP, &established(24));
    assert_eq!(d.verdict, Verdict::Drop(DropReason::TableFull));
    let c = fw.counters();
    assert_eq!((c.refused_total(), c.active), (1, 8));
    assert_eq!(fw.occupied_slots(), 8);
    for i in (0..6).chain(22..24) {
        assert_eq!(
            state_of(&fw, now, EP, &established(i)),
            Some(FlowState::TcpEstablished)
        );
    }
}

#[test]
fn denied_flows_are_not_remembered_when_full_and_not_counted_as_refused() {
    let mut fw = firewall(tiny(), TestRules::tcp_port(443));
    for i in 0..8 {
        establish(&mut fw, 0, i);
    }
    let d = fw.process(0, EP, &udp(client(50), server()));
    assert_eq!(
        (d.verdict, d.flow_created),
        (Verdict::Drop(DropReason::RuleDenied), false)
    );
    assert_eq!(fw.counters().refused_total(), 0);
}

#[test]
fn a_table_fills_to_its_capacity() {
    for capacity in [1_000u32, 20_000] {
        let config = FirewallConfig {
            capacity,
            ..FirewallConfig::default()
        };
        let mut fw = firewall(config, TestRules::pass_all());
        for i in 0..capacity {
            let c = (
                v4(10, (i >> 16) as u8, (i >> 8) as u8, i as u8),
                1024 + (i % 7) as u16,
            );
            fw.process(0, EP, &tcp(c, server(), ACK, 1, 1, 0));
            fw.process(0, EP, &tcp(server(), c, ACK, 1, 1, 0));
        }
        let counters = fw.counters();
        assert_eq!(
            (counters.refused_total(), counters.active),
            (0, u64::from(capacity))
        );
        let d = fw.process(0, EP, &tcp((v4(11, 0, 0, 1), 1), server(), ACK, 1, 1, 0));
        assert_eq!(d.verdict, Verdict::Drop(DropReason::TableFull));
        // 64-byte entries + 32-byte windows + 2-byte signatures, 25 %
        // headroom: <= 123 B/flow, each of the three arrays rounded up to
        // whole 4 KiB pages.
        assert!(fw.memory_bytes() as u64 <= 123 * u64::from(capacity) + 3 * 4096);
    }
}

#[test]
fn expiry_work_per_packet_is_bounded() {
    let config = FirewallConfig {
        capacity: 1_000,
        expiry_slots_per_packet: 2,
        ..FirewallConfig::default()
    };
    let mut fw = firewall(config, TestRules::pass_all());
    for i in 0..500 {
        fw.process(0, EP, &udp(client(i), server()));
    }
    assert_eq!(fw.counters().active, 500);
    // Long after every flow expired, each packet removes at most two by
    // the hand (and the new flows find free slots without reclaiming).
    let later = 1_000 * SEC;
    for n in 1..=10u64 {
        fw.process(later, EP, &udp(client(1000 + n as u16), server()));
        assert!(
            fw.counters().expired <= 2 * n,
            "packet {n}: {}",
            fw.counters().expired
        );
    }
    assert!(fw.counters().active > 400);
    // An idle worker finishes the job in bounded steps.
    let slots = fw.slots() as u32;
    let mut removed = 0;
    for _ in 0..slots.div_ceil(64) {
        let r = fw.expire(later, 64);
        assert!(r <= 64);
        removed += r;
    }
    assert_eq!(fw.counters().active, 10);
    assert_eq!(fw.counters().expired, 500);
    assert!(removed > 0);
    assert_eq!(fw.occupied_slots(), 10);
}

#[test]
fn bad_configurations_are_refused_with_a_reason() {
    use tollgate_firewall::{ConfigError, Firewall};
    let zero = FirewallConfig {
        capacity: 0,
        ..FirewallConfig::default()
    };
    assert!(matches!(
        Firewall::<TestRules>::new(zero).err(),
        Some(ConfigError::Capacity { got: 0, .. })
    ));
    let instant = FirewallConfig {
        timeouts: Timeouts {
            udp_single: Duration::ZERO,
            ..Timeouts::default()
        },
        ..FirewallConfig::default()
    };
    let err = Firewall::<TestRules>::new(instant).err().unwrap();
    assert!(matches!(
        err,
        ConfigError::Timeout {
            state: "UDP_SINGLE",
            ..
        }
    ));
    assert!(err.to_string().contains("UDP_SINGLE"), "{err}");
    for lap in [Duration::ZERO, Duration::from_secs(7200)] {
        let config = FirewallConfig {
            expiry_lap: lap,
            ..FirewallConfig::default()
        };
        let err = Firewall::<TestRules>::new(config).err().unwrap();
        assert!(matches!(err, ConfigError::ExpiryLap { got, .. } if got == lap));
        assert!(err.to_string().starts_with("expiry_lap must be"), "{err}");
    }
}

/// 500 one-way UDP flows (30 s timeout) opened at time 0, in a table of
/// 1000 flows (1256 slots) whose hand laps once per `lap_secs`. The same
/// layout every time (fixed hash seed).
fn flows_opened_at_time_zero(lap_secs: u64) -> tollgate_firewall::Firewall<TestRules> {
    let config = FirewallConfig {
        capacity: 1_000,
        timeouts: udp_single_30s(),
        expiry_lap: Duration::from_secs(lap_secs),
        expiry_slots_per_packet: 2,
        hash_seed: HashKey::fixed(7),
        ..FirewallConfig::default()
    };
    let mut fw = firewall(config, TestRules::pass_all());
    assert_eq!(fw.slots(), 1_256, "157 buckets of 8");
    for i in 0..500 {
        fw.process(0, EP, &udp(client(i), server()));
    }
    fw
}

#[test]
fn the_expiry_hand_is_paced_by_the_clock_not_the_packet_rate() {
    // An hour per lap: 2.87 s per slot.
    let mut fw = flows_opened_at_time_zero(3_600);
    // At 60 s every flow has expired; 20,000 packets of a live flow within
    // the next 10 ms may examine the 20.9 slots due since time 0, not 2
    // per packet (40,000 slots: the whole table, 32 times).
    let later = 60 * SEC;
    let live = udp(client(2_000), server());
    for n in 0..20_000u64 {
        fw.process(later + n * 500, EP, &live);
    }
    let expired = fw.counters().expired;
    assert!(expired <= 21, "{expired} flows removed");
    assert!(fw.counters().active > 470);
    // Within one lap (a live packet every 2 s), every expired flow is gone.
    for n in 1..=1_800u64 {
        fw.process(later + n * 2 * SEC, EP, &live);
    }
    assert_eq!(fw.counters().expired, 500);
    assert_eq!(fw.counters().active, 1);
    assert_eq!(fw.occupied_slots(), 1);
}

#[test]
fn bursts_sweep_what_their_packets_would() {
    // `sweep_for_burst(now, n)` takes the same steps as n packets at `now`:
    // what is due, at most 2 slots per packet.
    let mut one_by_one = flows_opened_at_time_zero(1);
    let mut burst = flows_opened_at_time_zero(1);
    let later = 1_000 * SEC;
    for (t, packets) in [
        (0, 16u32),
        (SEC / 100, 16),
        (SEC / 100 + 1_000, 4),
        (SEC, 32),
    ] {
        for _ in 0..packets {
            one_by_one.sweep_for_burst(later + t, 1);
        }
        burst.sweep_for_burst(later + t, packets);
        assert_eq!(
            one_by_one.counters().expired,
            burst.counters().expired,
            "at {t}"
        );
    }
    assert!(burst.counters().expired > 0);
}
