//! A packet of no known flow: decide whether it may open one, ask the
//! rules, and remember the answer.

use tollgate_wire::summary::L4Summary;
use tollgate_wire::InnerSummary;

use crate::classify::{Classify, FlowAction, RuleMatch};
use crate::decision::{Decision, DropReason};
use crate::firewall::{denied_decision, Tracker};
use crate::key::{reversed_summary, FlowKey, Side};
use crate::state::FlowState;
use crate::table::{flag, Reclaimed, NO_RULE};
use crate::tcp::{Segment, TcpClass};
use crate::window::TcpWindows;

/// How a packet may open a flow.
struct Opening {
    state: FlowState,
    /// The initiator is the packet's receiver (a picked-up SYN/ACK).
    receiver_initiates: bool,
    /// Mid-stream pickup: if the sender's direction is denied, try the
    /// receiver as initiator.
    try_reverse: bool,
    picked_up: bool,
    track_seq: u32,
    /// A FIN flag to record for the sender.
    sender_fin: bool,
    /// A SYN with data (TCP Fast Open).
    syn_data: bool,
}

impl Opening {
    fn plain(state: FlowState) -> Opening {
        Opening {
            state,
            receiver_initiates: false,
            try_reverse: false,
            picked_up: false,
            track_seq: 0,
            sender_fin: false,
            syn_data: false,
        }
    }
}

enum Plan {
    Open(Opening),
    /// Decide by the rules but keep no state (a RST of an unknown flow).
    Stateless,
    Drop(DropReason),
}

impl Tracker {
    fn plan(&self, pkt: &InnerSummary) -> Plan {
        let pickup = self.config.mid_stream_pickup;
        match pkt.l4 {
            L4Summary::Tcp {
                flags,
                seq,
                ack,
                payload_len,
                ..
            } => {
                let seg = Segment::new(flags, seq, ack, payload_len);
                let picked = |state: FlowState| Opening {
                    state,
                    receiver_initiates: false,
                    try_reverse: self.config.pickup_try_reverse,
                    picked_up: true,
                    track_seq: 0,
                    sender_fin: false,
                    syn_data: false,
                };
                match seg.class {
                    TcpClass::Invalid => Plan::Drop(DropReason::TcpInvalid),
                    TcpClass::Syn => Plan::Open(Opening {
                        track_seq: seq,
                        syn_data: payload_len > 0,
                        ..Opening::plain(FlowState::TcpSynSent)
                    }),
                    _ if !pickup => Plan::Drop(DropReason::MidStreamPickupOff),
                    TcpClass::Ack => Plan::Open(picked(FlowState::TcpUnconfirmed)),
                    TcpClass::Fin => Plan::Open(Opening {
                        sender_fin: true,
                        track_seq: seq.wrapping_add(u32::from(payload_len)).wrapping_add(1),
                        ..picked(FlowState::TcpFinWait)
                    }),
                    // The handshake moved here between SYN and SYN/ACK: the
                    // receiver is the initiator; its ACK must match this seq.
                    TcpClass::SynAck => Plan::Open(Opening {
                        receiver_initiates: true,
                        try_reverse: false,
                        track_seq: seq,
                        ..picked(FlowState::TcpSynRecv)
                    }),
                    TcpClass::Rst => Plan::Stateless,
                }
            }
            L4Summary::Udp { .. } => Plan::Open(Opening::plain(FlowState::UdpSingle)),
            L4Summary::IcmpEcho { request: true, .. } => {
                Plan::Open(Opening::plain(FlowState::IcmpEcho))
            }
            L4Summary::IcmpEcho { request: false, .. } => {
                Plan::Drop(DropReason::UnsolicitedEchoReply)
            }
            // TCP, UDP and ICMP always carry a header the codec reads; a
            // summary without one (not a later fragment) is not trusted.
            L4Summary::Other if matches!(pkt.protocol, 1 | 6 | 17 | 58) => {
                Plan::Drop(DropReason::Inconsistent)
            }
            L4Summary::Other => Plan::Open(Opening::plain(FlowState::Generic)),
            L4Summary::IcmpError { .. } | L4Summary::IcmpOther { .. } => {
                Plan::Drop(DropReason::Inconsistent)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new_flow<C: Classify + ?Sized>(
        &mut self,
        now_tick: u32,
        key: &FlowKey,
        hash: u64,
        sender: Side,
        endpoint: u64,
        pkt: &InnerSummary,
        rules: &C,
    ) -> Decision {
        let opening = match self.plan(pkt) {
            Plan::Drop(reason) => return Decision::drop(reason),
            Plan::Stateless => {
                let m = rules.classify(endpoint, pkt);
                let mut d = match m.action {
                    FlowAction::Pass => Decision::PASS,
                    _ => denied_decision(m.action, pkt),
                };
                d.rule = m.rule;
                return d;
            }
            Plan::Open(o) => o,
        };

        let (mut initiator, mut m): (Side, RuleMatch) = if opening.receiver_initiates {
            (
                sender.other(),
                rules.classify(endpoint, &reversed_summary(pkt)),
            )
        } else {
            (sender, rules.classify(endpoint, pkt))
        };
        if m.action != FlowAction::Pass && opening.try_reverse {
            let reverse = rules.classify(endpoint, &reversed_summary(pkt));
            if reverse.action == FlowAction::Pass {
                m = reverse;
                initiator = sender.other();
            }
        }

        let (slot, reclaimed) =
            match self
                .table
                .insert(key, hash, now_tick, self.config.reclaim_scan_slots)
            {
                Ok(claimed) => claimed,
                Err(refused) => {
                    let mut d = if m.action == FlowAction::Pass {
                        self.counters.refused[refused as usize] += 1;
                        Decision::drop(refused.drop_reason())
                    } else {
                        denied_decision(m.action, pkt)
                    };
                    d.rule = m.rule;
                    return d;
                }
            };
        match reclaimed {
            Reclaimed::Nothing => {}
            Reclaimed::Expired => self.counters.expired += 1,
            Reclaimed::Evicted(reason) => self.counters.evicted[reason as usize] += 1,
        }
        self.counters.created += 1;

        let state = if m.action == FlowAction::Pass {
            opening.state
        } else {
            FlowState::Denied
        };
        let mut flags = 0;
        if initiator == Side::A {
            flags |= flag::INITIATOR_A;
        }
        match m.action {
            FlowAction::Pass => {
                if opening.picked_up {
                    flags |= flag::PICKED_UP;
                    self.counters.picked_up += 1;
                }
                if opening.syn_data {
                    flags |= flag::SYN_DATA;
                }
                if opening.state == FlowState::TcpUnconfirmed && sender == Side::A {
                    flags |= flag::PICKUP_SENDER_A;
                }
                if opening.sender_fin {
                    flags |= if sender == Side::A {
                        flag::FIN_A
                    } else {
                        flag::FIN_B
                    };
                }
            }
            FlowAction::Reject => flags |= flag::REJECT,
            FlowAction::Drop => {}
        }
        let expires = self.clock.expiry(self.timeouts_ns[state as usize]);
        let e = self.table.entry_mut(slot);
        e.state = state as u8;
        e.flags = flags;
        e.track_seq = opening.track_seq;
        e.rule = m.rule.unwrap_or(NO_RULE);
        e.rules_epoch = self.rules_epoch;
        e.expires = expires;
        if m.action == FlowAction::Pass {
            if let Some(seg) = Segment::of(&pkt.l4) {
                let (_, w) = self.table.tcp_mut(slot);
                if opening.picked_up {
                    *w = TcpWindows::picked_up(sender, &seg);
                } else {
                    *w = TcpWindows::EMPTY;
                    w.track(sender, state, true, &seg);
                }
            }
        }

        let mut d = match m.action {
            FlowAction::Pass => Decision::PASS,
            _ => denied_decision(m.action, pkt),
        };
        d.rule = m.rule;
        d.flow_created = true;
        d
    }
}
