//! A full table: early drop of unconfirmed, embryonic and closing flows,
//! and each GWLB endpoint's share of the table.

mod common;

use common::*;
use tollgate_firewall::{
    Decision, DropReason, EvictReason, Firewall, FirewallConfig, FlowState, HashKey, RefuseReason,
    Verdict,
};
use tollgate_wire::InnerSummary;

/// The flooding endpoint and two others.
const A: u64 = 0xa;
const B: u64 = 0xb;
const C: u64 = 0xc;

fn host(net: u8, i: u16) -> Addr {
    (v4(10, net, (i >> 8) as u8, i as u8), 10_000 + i % 50_000)
}
fn server() -> Addr {
    (v4(10, 2, 0, 1), 443)
}

/// Pick flow `c` up on `ep` and confirm it with the server's answer.
fn establish(fw: &mut Firewall<TestRules>, now: u64, ep: u64, c: Addr) {
    fw.process(now, ep, &tcp(c, server(), ACK, 1, 1, 0));
    let d = fw.process(now, ep, &tcp(server(), c, ACK, 1, 1, 0));
    assert_eq!(d.verdict, Verdict::Pass);
    assert_eq!(
        state_of(fw, now, ep, &tcp(c, server(), ACK, 1, 1, 0)),
        Some(FlowState::TcpEstablished)
    );
}

fn opens(d: Decision) -> bool {
    d.verdict == Verdict::Pass && d.flow_created
}

#[test]
fn a_pickup_flood_larger_than_the_table_leaves_confirmed_and_new_flows_working() {
    let config = FirewallConfig {
        capacity: 1_000,
        hash_seed: HashKey::fixed(11),
        ..FirewallConfig::default()
    };
    let mut fw = firewall(config, TestRules::pass_all());
    let mut confirmed = Vec::new();
    for i in 0..200 {
        for (ep, net) in [(A, 1), (B, 3)] {
            establish(&mut fw, 0, ep, host(net, i));
            confirmed.push((ep, host(net, i)));
        }
    }
    // Five times the table in bare ACKs of unseen flows, all from A.
    let flood = 5_000u16;
    let mut now = SEC;
    for i in 0..flood {
        now += SEC / 1_000;
        let d = fw.process(now, A, &tcp(host(9, i), server(), ACK, 1, 1, 0));
        assert!(opens(d), "pickup {i}: {d:?}");
    }
    let c = fw.counters();
    assert_eq!(c.active, 1_000, "full");
    let evicted = c.evicted[EvictReason::Unconfirmed as usize];
    assert_eq!(c.evicted_total(), evicted, "only pickups were evicted");
    assert!(evicted >= u64::from(flood) - 600, "{evicted}");
    assert_eq!(c.refused_total(), 0);

    // Every confirmed flow still passes, both ways.
    for &(ep, h) in &confirmed {
        let there = fw.process(now, ep, &tcp(h, server(), PSH | ACK, 1, 1, 10));
        let back = fw.process(now, ep, &tcp(server(), h, ACK, 1, 11, 0));
        assert_eq!(
            (there.verdict, back.verdict),
            (Verdict::Pass, Verdict::Pass)
        );
        assert!(!there.flow_created && !back.flow_created);
    }
    // New flows of every endpoint open, the flooder's and the others'.
    for (ep, net) in [(A, 4), (B, 5), (C, 6)] {
        let syn = tcp(host(net, 1), server(), SYN, 1, 0, 0);
        assert!(opens(fw.process(now, ep, &syn)), "SYN on {ep}");
        assert_eq!(state_of(&fw, now, ep, &syn), Some(FlowState::TcpSynSent));
        let pickup = tcp(host(net, 2), server(), ACK, 1, 1, 0);
        assert!(opens(fw.process(now, ep, &pickup)), "pickup on {ep}");
        establish(&mut fw, now, ep, host(net, 2));
    }
}

#[test]
fn a_fin_pickup_flood_is_evicted_as_closing() {
    // A FIN|ACK of an unseen flow opens it in FIN_WAIT: one packet each,
    // like a bare ACK, so it must not hold the table either.
    let config = FirewallConfig {
        capacity: 200,
        hash_seed: HashKey::fixed(5),
        ..FirewallConfig::default()
    };
    let mut fw = firewall(config, TestRules::pass_all());
    for i in 0..50 {
        establish(&mut fw, 0, B, host(3, i));
    }
    for i in 0..1_000 {
        let d = fw.process(SEC, A, &tcp(host(9, i), server(), FIN | ACK, 1, 1, 0));
        assert!(opens(d), "FIN pickup {i}: {d:?}");
    }
    let c = fw.counters();
    assert_eq!(c.active, 200);
    assert!(c.evicted[EvictReason::Closing as usize] >= 800 - 50);
    let syn = tcp(host(4, 1), server(), SYN, 1, 0, 0);
    assert!(opens(fw.process(SEC, B, &syn)));
    for i in 0..50 {
        let pkt = tcp(host(3, i), server(), ACK, 1, 1, 0);
        assert_eq!(state_of(&fw, SEC, B, &pkt), Some(FlowState::TcpEstablished));
    }
}

/// 8 flows in 16 slots, every slot in reach of every insert, no
/// background expiry: each endpoint's share is 4 flows.
fn tiny() -> FirewallConfig {
    FirewallConfig {
        capacity: 8,
        expiry_slots_per_packet: 0,
        reclaim_scan_slots: 16,
        endpoint_share: 50,
        ..FirewallConfig::default()
    }
}

#[test]
fn an_endpoint_at_its_share_may_evict_only_its_own_flows() {
    let mut fw = firewall(tiny(), TestRules::pass_all());
    // A holds six confirmed flows (over its share of 4); B has two
    // handshakes in progress, older than anything A opens next.
    for i in 0..6 {
        establish(&mut fw, 0, A, host(1, i));
    }
    let b_syns: Vec<InnerSummary> = (0..2)
        .map(|i| tcp(host(3, i), server(), SYN, 100 + u32::from(i), 0, 0))
        .collect();
    for syn in &b_syns {
        assert!(opens(fw.process(0, B, syn)));
    }
    assert_eq!((fw.endpoint_flows(A), fw.endpoint_flows(B)), (6, 2));

    // A's new flows would have to evict B's handshakes: refused.
    let now = SEC;
    for i in 0..20 {
        let d = fw.process(now, A, &tcp(host(9, i), server(), SYN, 1, 0, 0));
        assert_eq!(d.verdict, Verdict::Drop(DropReason::EndpointShare), "{i}");
        let d = fw.process(now, A, &tcp(host(8, i), server(), ACK, 1, 1, 0));
        assert_eq!(d.verdict, Verdict::Drop(DropReason::EndpointShare), "{i}");
    }
    let c = fw.counters();
    assert_eq!(c.refused[RefuseReason::EndpointShare as usize], 40);
    assert_eq!(c.refused[RefuseReason::TableFull as usize], 0);
    assert_eq!(c.drops_for(DropReason::EndpointShare), 40);
    assert_eq!(c.evicted_total(), 0);
    // B's handshakes were left alone and complete.
    for (i, syn) in b_syns.iter().enumerate() {
        assert_eq!(state_of(&fw, now, B, syn), Some(FlowState::TcpSynSent));
        let isn = 100 + i as u32;
        let syn_ack = tcp(server(), host(3, i as u16), SYN | ACK, 7, isn + 1, 0);
        assert_eq!(fw.process(now, B, &syn_ack).verdict, Verdict::Pass);
    }

    // A flow A itself may give up makes room for A again.
    let a_syn = tcp(host(1, 6), server(), SYN, 1, 0, 0);
    for i in 0..2 {
        // Close two of A's flows: FIN, FIN back, last ACK -> TIME_WAIT.
        let (c, s) = (host(1, i), server());
        fw.process(now, A, &tcp(c, s, FIN | ACK, 1, 1, 0));
        fw.process(now, A, &tcp(s, c, FIN | ACK, 1, 2, 0));
        fw.process(now, A, &tcp(c, s, ACK, 2, 2, 0));
        assert_eq!(
            state_of(&fw, now, A, &tcp(c, s, ACK, 2, 2, 0)),
            Some(FlowState::TcpTimeWait)
        );
    }
    assert!(opens(fw.process(now, A, &a_syn)));
    let c = fw.counters();
    assert_eq!(c.evicted[EvictReason::Closing as usize], 1);
    assert_eq!(fw.endpoint_flows(A), 6);
}

#[test]
fn endpoints_under_their_share_evict_from_those_over_it_first() {
    let mut fw = firewall(tiny(), TestRules::pass_all());
    // C's two pickups are the oldest reclaimable flows; A's six (over its
    // share) are younger. Oldest-first alone would take C's.
    for i in 0..2 {
        assert!(opens(fw.process(
            0,
            C,
            &tcp(host(6, i), server(), ACK, 1, 1, 0)
        )));
    }
    for i in 0..6 {
        assert!(opens(fw.process(
            SEC,
            A,
            &tcp(host(1, i), server(), ACK, 1, 1, 0)
        )));
    }
    let now = 2 * SEC;
    for i in 0..2 {
        assert!(opens(fw.process(
            now,
            B,
            &tcp(host(3, i), server(), SYN, 1, 0, 0)
        )));
    }
    assert_eq!(
        (
            fw.endpoint_flows(A),
            fw.endpoint_flows(B),
            fw.endpoint_flows(C)
        ),
        (4, 2, 2)
    );
    for i in 0..2 {
        let pkt = tcp(host(6, i), server(), ACK, 1, 1, 0);
        assert_eq!(state_of(&fw, now, C, &pkt), Some(FlowState::TcpUnconfirmed));
    }
    assert_eq!(fw.counters().evicted[EvictReason::Unconfirmed as usize], 2);
    // At its share now, A refills from its own flows, not from C's.
    assert!(opens(fw.process(
        now,
        A,
        &tcp(host(1, 9), server(), SYN, 1, 0, 0)
    )));
    assert_eq!((fw.endpoint_flows(A), fw.endpoint_flows(C)), (4, 2));
}

#[test]
fn more_endpoints_than_are_counted_apart_share_one_count() {
    let config = FirewallConfig {
        capacity: 2_000,
        ..FirewallConfig::default()
    };
    let mut fw = firewall(config, TestRules::pass_all());
    let endpoints = 300u64;
    for ep in 0..endpoints {
        for i in 0..2 {
            let pkt = udp(host(1, ep as u16 * 2 + i), server());
            assert!(opens(fw.process(0, 1_000 + ep, &pkt)));
        }
    }
    let counted: Vec<u32> = (0..endpoints)
        .map(|ep| fw.endpoint_flows(1_000 + ep))
        .collect();
    // The first endpoints are counted apart; the rest share one count.
    let apart = counted.iter().take_while(|&&n| n == 2).count();
    assert!((100..300).contains(&apart), "{apart}");
    let shared = 2 * (endpoints as usize - apart) as u32;
    assert!(counted[apart..].iter().all(|&n| n == shared), "{counted:?}");
    assert_eq!(
        fw.endpoint_flows(9_999),
        shared,
        "an unseen endpoint joins them"
    );
    assert_eq!(
        counted[..apart].iter().sum::<u32>() + shared,
        fw.counters().active as u32
    );
    // Once every flow is gone, so is every count; a newcomer is counted
    // apart again.
    let later = 1_000 * SEC;
    fw.expire(later, u32::MAX);
    assert_eq!(fw.counters().active, 0);
    assert!((0..endpoints).all(|ep| fw.endpoint_flows(1_000 + ep) == 0));
    assert!(opens(fw.process(later, 9_999, &udp(host(2, 1), server()))));
    assert_eq!((fw.endpoint_flows(9_999), fw.endpoint_flows(1_299)), (1, 0));
}

#[test]
fn the_share_must_be_a_percentage() {
    for share in [0u8, 101] {
        let config = FirewallConfig {
            endpoint_share: share,
            ..small_config()
        };
        let err = Firewall::<TestRules>::new(config).err().unwrap();
        assert!(
            err.to_string().starts_with("endpoint_share must be"),
            "{err}"
        );
    }
}
