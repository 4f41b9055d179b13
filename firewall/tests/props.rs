//! Random packet sequences, rule changes and control-plane flushes: never a
//! panic, and the counters agree with the table.

mod common;

use std::sync::Arc;

use common::*;
use proptest::prelude::*;
use tollgate_firewall::{
    DropReason, FirewallConfig, FlowAction, FlowFilter, FlowKey, FlowState, OnRuleChange, Prefix,
    Prepared, Verdict,
};
use tollgate_wire::summary::L4Summary;
use tollgate_wire::{InnerSummary, TcpFields, TupleV4};

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
        2 => TestRules::new(vec![], FlowAction::Drop),
        _ => TestRules::new(vec![], FlowAction::Reject),
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
        share in 1..=100u8,
        ops in proptest::collection::vec(op(), 1..300),
    ) {
        let config = FirewallConfig {
            capacity,
            endpoint_share: share,
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
                    let refused = [DropReason::TableFull, DropReason::EndpointShare];
                    if refused.iter().any(|&r| d.verdict == Verdict::Drop(r)) {
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
            // Every flow is counted with its endpoint (1 or 2), once.
            let by_endpoint = fw.endpoint_flows(1) + fw.endpoint_flows(2);
            prop_assert_eq!(u64::from(by_endpoint), c.active);
            prop_assert_eq!(
                c.drops_for(DropReason::TableFull) + c.drops_for(DropReason::EndpointShare),
                c.refused_total()
            );
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
                prop_assert_eq!(own.action, FlowAction::Pass, "{:?}", pkt.l4);
            }
        }
    }
}

/// One end of a modelled TCP connection: what it has sent, received and
/// advertises.
#[derive(Debug, Clone)]
struct End {
    addr: Addr,
    /// Next sequence number to send.
    nxt: u32,
    /// Next sequence number expected from the peer.
    rcv_nxt: u32,
    /// Receive window in bytes, and the shift its header field uses.
    wnd: u32,
    scale: u8,
    /// The peer's last acknowledgement and its window's right edge, as
    /// last advertised to us.
    peer_ack: u32,
    peer_edge: u32,
    /// The largest window the peer has advertised.
    peer_max_wnd: u32,
    /// Segments sent: (seq, len), for retransmissions.
    sent: Vec<(u32, u16)>,
}

impl End {
    fn window_field(&self) -> u16 {
        (self.wnd >> self.scale).min(0xffff) as u16
    }

    fn segment(&self, to: Addr, flags: u8, seq: u32, len: u16) -> InnerSummary {
        tcp_win(
            self.addr,
            to,
            flags,
            seq,
            self.rcv_nxt,
            len,
            self.window_field(),
            None,
        )
    }
}

#[derive(Debug, Clone)]
enum Act {
    Data(bool, u16),
    Ack(bool),
    Retransmit(bool, usize),
    Keepalive(bool, bool),
    Window(bool, u32),
    Reset(bool),
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        6 => (any::<bool>(), prop_oneof![Just(1u16), 1..1500u16, Just(8400u16)])
            .prop_map(|(c, n)| Act::Data(c, n)),
        3 => any::<bool>().prop_map(Act::Ack),
        2 => (any::<bool>(), any::<usize>()).prop_map(|(c, k)| Act::Retransmit(c, k)),
        1 => (any::<bool>(), any::<bool>()).prop_map(|(c, b)| Act::Keepalive(c, b)),
        1 => (any::<bool>(), prop_oneof![Just(0u32), 1..100_000u32, 100_000..4_000_000u32])
            .prop_map(|(c, w)| Act::Window(c, w)),
        1 => any::<bool>().prop_map(Act::Reset),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
    /// A well-behaved connection is never dropped: a handshake with or
    /// without window scaling on either side, then data both ways within
    /// the advertised windows, retransmissions of anything sent,
    /// keepalives (one below the next sequence number, bare or with a
    /// byte), window changes down to zero and window probes, through the
    /// general path and the express lane alike.
    #[test]
    fn real_connections_always_pass(
        isn_c in any::<u32>(),
        isn_s in any::<u32>(),
        scale_c in proptest::option::of(0..=14u8),
        scale_s in proptest::option::of(0..=14u8),
        wnd_c in 1..2_000_000u32,
        wnd_s in 1..2_000_000u32,
        acts in proptest::collection::vec(act(), 1..200),
    ) {
        let mut fw = firewall(small_config(), TestRules::tcp_port(443));
        let both = scale_c.is_some() && scale_s.is_some();
        let eff = |s: Option<u8>| if both { s.unwrap_or(0) } else { 0 };
        let cap = |w: u32, s: u8| w.min(0xffff << s);
        let mut c = End {
            addr: (v4(10, 0, 0, 1), 40000),
            nxt: isn_c.wrapping_add(1),
            rcv_nxt: isn_s.wrapping_add(1),
            wnd: cap(wnd_c, eff(scale_c)),
            scale: eff(scale_c),
            peer_ack: 0,
            peer_edge: 0,
            peer_max_wnd: 0,
            sent: Vec::new(),
        };
        let mut s = End {
            addr: (v4(10, 0, 0, 2), 443),
            nxt: isn_s.wrapping_add(1),
            rcv_nxt: isn_c.wrapping_add(1),
            wnd: cap(wnd_s, eff(scale_s)),
            scale: eff(scale_s),
            peer_ack: 0,
            peer_edge: 0,
            peer_max_wnd: 0,
            sent: Vec::new(),
        };
        let mut now = 0u64;
        // As the pipeline does: the express lane first, then the general
        // path if it declines.
        let mut send = |fw: &mut tollgate_firewall::Firewall<TestRules>, pkt: InnerSummary| {
            now += 1_000_000;
            let t = TupleV4::of_summary(&pkt).expect("ipv4 tcp");
            let fields = TcpFields::of_summary(&pkt).expect("tcp");
            fw.sweep_for_burst(now, 1);
            let mut prepared = Prepared::EMPTY;
            fw.prepare_key_into(FlowKey::of_tuple_v4(EP, &t), &mut prepared);
            if fw.pass_established(now, &prepared, t.tcp_flags, || fields) {
                Verdict::Pass
            } else {
                fw.process_swept(now, EP, &pkt, &prepared).verdict
            }
        };
        let syn_win = |w: u32| w.min(0xffff) as u16;
        // The handshake: SYNs carry unscaled windows.
        let syn = tcp_win(c.addr, s.addr, SYN, isn_c, 0, 0, syn_win(c.wnd), scale_c);
        prop_assert_eq!(send(&mut fw, syn), Verdict::Pass);
        let syn_ack = tcp_win(s.addr, c.addr, SYN | ACK, isn_s, s.rcv_nxt, 0, syn_win(s.wnd), scale_s);
        prop_assert_eq!(send(&mut fw, syn_ack), Verdict::Pass);
        c.peer_ack = c.nxt;
        c.peer_edge = c.nxt.wrapping_add(u32::from(syn_win(s.wnd)));
        c.peer_max_wnd = u32::from(syn_win(s.wnd));
        let ack = c.segment(s.addr, ACK, c.nxt, 0);
        prop_assert_eq!(send(&mut fw, ack), Verdict::Pass);
        s.peer_ack = s.nxt;
        s.peer_edge = s.nxt.wrapping_add(u32::from(ack_window(&ack)) << c.scale);
        s.peer_max_wnd = (u32::from(ack_window(&ack)) << c.scale).max(u32::from(syn_win(c.wnd)));
        for a in acts {
            let from_c = match a {
                Act::Data(x, _) | Act::Ack(x) | Act::Retransmit(x, _) | Act::Keepalive(x, _)
                | Act::Window(x, _) | Act::Reset(x) => x,
            };
            let (me, peer) = if from_c { (&mut c, &mut s) } else { (&mut s, &mut c) };
            let pkt = match a {
                Act::Data(_, n) => {
                    let room = me.peer_edge.wrapping_sub(me.nxt);
                    if me.peer_edge == me.peer_ack {
                        // A zero window: probe with the byte at the
                        // peer's acknowledgement (BSD; Linux probes one
                        // below it, as a keepalive does).
                        me.segment(peer.addr, ACK, me.peer_ack, 1)
                    } else if room as i32 <= 0 {
                        // The window is full: wait, acknowledging.
                        me.segment(peer.addr, ACK, me.nxt, 0)
                    } else {
                        let len = u32::from(n).min(room) as u16;
                        let seq = me.nxt;
                        me.nxt = me.nxt.wrapping_add(u32::from(len));
                        me.sent.push((seq, len));
                        peer.rcv_nxt = me.nxt;
                        me.segment(peer.addr, ACK | PSH, seq, len)
                    }
                }
                Act::Ack(_) => me.segment(peer.addr, ACK, me.nxt, 0),
                Act::Retransmit(_, k) => {
                    // Anything the peer has not acknowledged yet, or whose
                    // acknowledgement the sender may have lost: at most a
                    // window behind what it has sent.
                    let oldest = me.nxt.wrapping_sub(me.peer_max_wnd);
                    let unacked: Vec<(u32, u16)> = me
                        .sent
                        .iter()
                        .copied()
                        .filter(|&(seq, len)| {
                            (seq.wrapping_add(u32::from(len)).wrapping_sub(oldest) as i32) > 0
                        })
                        .collect();
                    match unacked.get(k % unacked.len().max(1)) {
                        Some(&(seq, len)) => me.segment(peer.addr, ACK | PSH, seq, len),
                        None => me.segment(peer.addr, ACK, me.nxt, 0),
                    }
                }
                Act::Keepalive(_, byte) => {
                    me.segment(peer.addr, ACK, me.nxt.wrapping_sub(1), u16::from(byte))
                }
                Act::Window(_, w) => {
                    me.wnd = w.min(0xffff << me.scale);
                    me.segment(peer.addr, ACK, me.nxt, 0)
                }
                Act::Reset(_) => {
                    // The connection ends: a RST at the next sequence.
                    let rst = me.segment(peer.addr, RST | ACK, me.nxt, 0);
                    prop_assert_eq!(send(&mut fw, rst), Verdict::Pass);
                    prop_assert_eq!(state_of(&fw, now, EP, &rst), Some(FlowState::TcpClose));
                    break;
                }
            };
            let verdict = send(&mut fw, pkt);
            prop_assert_eq!(verdict, Verdict::Pass, "{:?}", pkt.l4);
            // What the peer now knows of this side's window.
            if let L4Summary::Tcp { ack, window, .. } = pkt.l4 {
                let wnd = u32::from(window) << me.scale;
                peer.peer_ack = ack;
                peer.peer_edge = ack.wrapping_add(wnd);
                peer.peer_max_wnd = peer.peer_max_wnd.max(wnd);
            }
        }
        let c = fw.counters();
        prop_assert_eq!(c.dropped, 0);
        // After the handshake the segments are the express lane's.
        prop_assert!(c.fast_passed > 0 || c.passed == 4);
    }
}

fn ack_window(pkt: &InnerSummary) -> u16 {
    match pkt.l4 {
        L4Summary::Tcp { window, .. } => window,
        _ => 0,
    }
}
