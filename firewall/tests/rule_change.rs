//! Rule-set replacement under each `on_rule_change`.

mod common;

use std::sync::Arc;

use common::*;
use tollgate_firewall::{DropReason, FlowAction, FlowState, OnRuleChange, Verdict};

fn c() -> Addr {
    (v4(10, 1, 0, 10), 40000)
}
fn web() -> Addr {
    (v4(10, 2, 0, 20), 443)
}
fn ssh() -> Addr {
    (v4(10, 2, 0, 20), 22)
}

/// Under "pass all": an established web flow, an established ssh flow, a
/// UDP stream and an echo flow.
fn setup() -> tollgate_firewall::Firewall<TestRules> {
    let mut fw = firewall(small_config(), TestRules::pass_all());
    for p in [
        tcp(c(), web(), ACK, 1, 1, 0),
        tcp(c(), ssh(), ACK, 1, 1, 0),
        udp(c(), (web().0, 53)),
        udp((web().0, 53), c()),
        echo(c().0, web().0, 3, true),
    ] {
        assert_eq!(fw.process(0, EP, &p).verdict, Verdict::Pass);
    }
    fw
}

#[test]
fn keep_leaves_existing_flows_alone() {
    let mut fw = setup();
    fw.set_rules(
        Arc::new(TestRules::new(vec![], FlowAction::Drop)),
        2,
        OnRuleChange::Keep,
    );
    assert_eq!(fw.generation(), Some(2));
    for p in [tcp(ssh(), c(), ACK, 1, 1, 0), udp((web().0, 53), c())] {
        let d = fw.process(SEC, EP, &p);
        assert_eq!((d.verdict, d.rule), (Verdict::Pass, None));
    }
    assert_eq!(fw.rules().unwrap().evaluations(), 0);
    // New flows follow the new set.
    let d = fw.process(SEC, EP, &tcp((c().0, 1), web(), SYN, 1, 0, 0));
    assert_eq!(d.verdict, Verdict::Drop(DropReason::RuleDenied));
}

#[test]
fn revalidate_reclassifies_with_the_initiator_tuple() {
    let mut fw = setup();
    fw.set_rules(
        Arc::new(TestRules::tcp_port(443)),
        2,
        OnRuleChange::Revalidate,
    );
    // The web flow's next packet comes from the server: revalidated as
    // client -> server:443, still allowed, rule 0 reported once.
    let d = fw.process(SEC, EP, &tcp(web(), c(), ACK, 1, 1, 0));
    assert_eq!((d.verdict, d.rule), (Verdict::Pass, Some(0)));
    let d = fw.process(SEC, EP, &tcp(c(), web(), ACK, 1, 1, 0));
    assert_eq!((d.verdict, d.rule), (Verdict::Pass, None));
    // ssh is now denied, and remembered as such.
    let ssh_pkt = tcp(ssh(), c(), ACK, 1, 1, 0);
    let d = fw.process(SEC, EP, &ssh_pkt);
    assert_eq!(
        (d.verdict, d.rule),
        (Verdict::Drop(DropReason::RuleDenied), None)
    );
    assert_eq!(state_of(&fw, SEC, EP, &ssh_pkt), Some(FlowState::Denied));
    let d = fw.process(SEC, EP, &tcp(c(), ssh(), ACK, 1, 1, 0));
    assert_eq!(d.verdict, Verdict::Drop(DropReason::RuleDenied));
    // UDP and echo: denied too.
    let d = fw.process(SEC, EP, &udp((web().0, 53), c()));
    assert_eq!(d.verdict, Verdict::Drop(DropReason::RuleDenied));
    let d = fw.process(SEC, EP, &echo(web().0, c().0, 3, false));
    assert_eq!(d.verdict, Verdict::Drop(DropReason::RuleDenied));
    assert_eq!(fw.rules().unwrap().evaluations(), 4);
    assert_eq!(fw.counters().revalidated, 4);

    // Back to "pass all" with revalidate: the denied flows are decided
    // afresh from their next packet.
    fw.set_rules(Arc::new(TestRules::pass_all()), 3, OnRuleChange::Revalidate);
    let d = fw.process(2 * SEC, EP, &tcp(c(), ssh(), ACK, 1, 1, 0));
    assert_eq!((d.verdict, d.flow_created), (Verdict::Pass, true));
    assert_eq!(
        state_of(&fw, 2 * SEC, EP, &ssh_pkt),
        Some(FlowState::TcpUnconfirmed)
    );
}

#[test]
fn revalidate_applies_after_a_later_keep() {
    let mut fw = setup();
    fw.set_rules(
        Arc::new(TestRules::tcp_port(443)),
        2,
        OnRuleChange::Revalidate,
    );
    fw.set_rules(Arc::new(TestRules::tcp_port(443)), 3, OnRuleChange::Keep);
    let d = fw.process(SEC, EP, &tcp(c(), ssh(), ACK, 1, 1, 0));
    assert_eq!(d.verdict, Verdict::Drop(DropReason::RuleDenied));
    assert!(fw.flows(SEC).all(|f| !f.stale || f.key.port_b != 22));
}

#[test]
fn flush_kills_existing_flows_lazily() {
    let mut fw = setup();
    assert_eq!(fw.flows(0).filter(|f| f.stale).count(), 0);
    fw.set_rules(Arc::new(TestRules::pass_all()), 2, OnRuleChange::Flush);
    assert_eq!(fw.flows(0).filter(|f| f.stale).count(), 4);
    let web_ack = tcp(web(), c(), ACK, 1, 1, 0);
    for _ in 0..2 {
        let d = fw.process(SEC, EP, &web_ack);
        assert_eq!(d.verdict, Verdict::Drop(DropReason::Flushed));
    }
    assert_eq!(fw.counters().flushed, 1);
    // An ICMP error about a killed flow is unrelated.
    let err = icmp_error(v4(10, 254, 0, 1), c().0, &tcp(c(), web(), ACK, 1, 1, 0));
    assert_eq!(
        fw.process(SEC, EP, &err).verdict,
        Verdict::Drop(DropReason::IcmpErrorUnrelated)
    );
    // A new SYN on the same tuple opens a new flow under the new rules.
    let d = fw.process(SEC, EP, &tcp(c(), web(), SYN, 7, 0, 0));
    assert_eq!((d.verdict, d.flow_created), (Verdict::Pass, true));
    assert_eq!(
        state_of(&fw, SEC, EP, &web_ack),
        Some(FlowState::TcpSynSent)
    );
    // So does a new echo request.
    let d = fw.process(SEC, EP, &echo(c().0, web().0, 3, true));
    assert_eq!((d.verdict, d.flow_created), (Verdict::Pass, true));
    // A UDP flow stays killed while it keeps talking, and comes back once
    // it has been quiet for the denied timeout.
    let dns = udp(c(), (web().0, 53));
    assert_eq!(
        fw.process(SEC, EP, &dns).verdict,
        Verdict::Drop(DropReason::Flushed)
    );
    assert_eq!(
        fw.process(20 * SEC, EP, &dns).verdict,
        Verdict::Drop(DropReason::Flushed)
    );
    let d = fw.process(51 * SEC, EP, &dns);
    assert_eq!((d.verdict, d.flow_created), (Verdict::Pass, true));
    // Flows created after the flush are untouched by it.
    let d = fw.process(52 * SEC, EP, &tcp(web(), c(), SYN | ACK, 1, 8, 0));
    assert_eq!(d.verdict, Verdict::Pass);
    assert_eq!(fw.rules().unwrap().evaluations(), 3);
}

#[test]
fn set_rules_is_constant_time_and_flows_survive_keep_chains() {
    let mut fw = setup();
    for g in 2..100 {
        fw.set_rules(Arc::new(TestRules::pass_all()), g, OnRuleChange::Keep);
    }
    let d = fw.process(SEC, EP, &tcp(ssh(), c(), ACK, 1, 1, 0));
    assert_eq!((d.verdict, d.flow_created), (Verdict::Pass, false));
}
