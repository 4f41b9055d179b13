//! Control-plane listing and selective flushes.

mod common;

use std::time::Duration;

use common::*;
use tollgate_firewall::{FlowAction, FlowFilter, FlowState, Prefix, Verdict};

fn client() -> Addr {
    (v4(10, 1, 0, 10), 40000)
}
fn server() -> Addr {
    (v4(10, 2, 0, 20), 443)
}

#[test]
fn flows_lists_live_flows_with_their_initiator() {
    let mut fw = firewall(small_config(), TestRules::tcp_port(443));
    // Picked up from the server's packet, so the reverse direction decides.
    fw.process(0, 1, &tcp(server(), client(), ACK, 1, 1, 0));
    fw.process(0, 1, &tcp(client(), server(), ACK, 1, 1, 0));
    fw.process(0, 2, &udp(client(), (server().0, 53)));
    let flows: Vec<_> = fw.flows(10 * SEC).collect();
    assert_eq!(flows.len(), 2);
    let web = flows.iter().find(|f| f.key.endpoint == 1).unwrap();
    assert_eq!(web.key.side(web.initiator), client());
    assert_eq!(
        (web.state, web.action, web.rule, web.picked_up, web.stale),
        (
            FlowState::TcpEstablished,
            FlowAction::Pass,
            Some(0),
            true,
            false
        )
    );
    assert_eq!(web.expires_in.as_secs(), 432_000 - 10);
    let dns = flows.iter().find(|f| f.key.endpoint == 2).unwrap();
    assert_eq!(
        (dns.state, dns.action, dns.rule),
        (FlowState::Denied, FlowAction::Drop, None)
    );
    let tick = Duration::from_nanos(tollgate_firewall::TICK_NS);
    assert!(
        dns.expires_in >= Duration::from_secs(20)
            && dns.expires_in <= Duration::from_secs(20) + tick
    );
    // Expired entries are not listed even before they are reclaimed.
    assert_eq!(fw.flows(31 * SEC).count(), 1);
}

#[test]
fn flush_matching_removes_only_what_the_filter_selects() {
    let mut fw = firewall(small_config(), TestRules::pass_all());
    for ep in [1, 2] {
        for port in [443, 80] {
            fw.process(0, ep, &tcp(client(), (server().0, port), SYN, 1, 0, 0));
        }
        fw.process(
            0,
            ep,
            &udp((v4(192, 168, 0, 1), 5), (v4(192, 168, 1, 1), 53)),
        );
    }
    assert_eq!(fw.counters().active, 6);
    let by_port = FlowFilter {
        port: Some(80),
        endpoint: Some(1),
        ..FlowFilter::default()
    };
    assert_eq!(fw.flush_matching(&by_port), 1);
    let by_prefix = FlowFilter {
        address: Some(Prefix {
            addr: v4(192, 168, 0, 0),
            len: 96 + 16,
        }),
        ..FlowFilter::default()
    };
    assert_eq!(fw.flush_matching(&by_prefix), 2);
    let by_protocol = FlowFilter {
        protocol: Some(6),
        endpoint: Some(2),
        ..FlowFilter::default()
    };
    assert_eq!(fw.flush_matching(&by_protocol), 2);
    assert_eq!(fw.counters().removed, 5);
    assert_eq!(fw.counters().active, 1);
    let left: Vec<_> = fw.flows(0).collect();
    assert_eq!((left[0].key.endpoint, left[0].key.port_b), (1, 443));
    // A removed flow's next packet is a new flow (here a pickup).
    let d = fw.process(1, 2, &tcp(client(), (server().0, 80), ACK, 2, 1, 0));
    assert_eq!((d.verdict, d.flow_created), (Verdict::Pass, true));
    assert_eq!(fw.flush_matching(&FlowFilter::default()), 2);
}

#[test]
fn flows_in_walks_slot_ranges_and_flush_where_selects_by_state() {
    let mut fw = firewall(small_config(), TestRules::pass_all());
    for port in 0..300 {
        fw.process(0, 1, &udp((client().0, 1000 + port), (server().0, 53)));
    }
    // The server answers ten of them: UDP_STREAM.
    for port in 0..10 {
        fw.process(0, 1, &udp((server().0, 53), (client().0, 1000 + port)));
    }
    // Consecutive ranges cover the table once, in slot order, each flow at
    // the slot it occupies; ranges past the end are empty.
    let slots = fw.slots();
    let mut walked = Vec::new();
    for start in (0..slots + 100).step_by(37) {
        walked.extend(fw.flows_in(start..start + 37, SEC));
    }
    assert!(walked.windows(2).all(|w| w[0].0 < w[1].0));
    assert!(walked.iter().all(|&(s, _)| s < slots));
    let flows: Vec<_> = fw.flows(SEC).collect();
    let in_order: Vec<_> = walked.iter().map(|(_, f)| *f).collect();
    assert_eq!(in_order, flows);
    assert_eq!(flows.len(), 300);
    assert_eq!(fw.flows_in(slots..usize::MAX, SEC).count(), 0);
    let removed = fw.flush_where(|_, state| state == FlowState::UdpStream);
    assert_eq!(removed, 10);
    assert_eq!(fw.counters().removed, 10);
    assert!(fw.flows(SEC).all(|f| f.state == FlowState::UdpSingle));
    assert_eq!(fw.flows(SEC).count(), 290);
}
