//! A packet of a flow already in the table: its tracker decides.

use tollgate_wire::summary::L4Summary;
use tollgate_wire::InnerSummary;

use crate::classify::FlowAction;
use crate::decision::{Decision, DropReason};
use crate::firewall::{denied_decision, Hit, Tracker};
use crate::key::Side;
use crate::state::FlowState;
use crate::table::flag;
use crate::tcp::{self, Segment, TcpClass, TcpStep};

/// A packet that opens a connection (a TCP SYN, an ICMP echo request).
pub(crate) fn is_opening(pkt: &InnerSummary) -> bool {
    match pkt.l4 {
        L4Summary::Tcp { flags, .. } => Segment::new(flags, 0, 0, 0).class == TcpClass::Syn,
        L4Summary::IcmpEcho { request, .. } => request,
        _ => false,
    }
}

impl Tracker {
    /// Apply a packet from `sender` to the flow in `slot`. Passing packets
    /// restart the flow's timer; dropped ones do not (except on a denied
    /// flow, which stays remembered while it is being sent to).
    #[inline(always)]
    pub(crate) fn existing(&mut self, slot: usize, sender: Side, pkt: &InnerSummary) -> Hit {
        let e = self.table.entry_mut(slot);
        let Some(state) = e.state() else {
            return Hit::Decided(Decision::drop(DropReason::Inconsistent));
        };
        let from_initiator = sender == e.initiator();
        let consistent = match (state, &pkt.l4) {
            (FlowState::Denied, _) => {
                if e.flags & flag::FLUSHED != 0 && is_opening(pkt) {
                    // A killed flow's endpoints start over: a new flow.
                    self.table.remove(slot);
                    return Hit::Gone;
                }
                e.expires = self
                    .clock
                    .expiry(self.timeouts_ns[FlowState::Denied as usize]);
                let d = if e.flags & flag::FLUSHED != 0 {
                    Decision::drop(DropReason::Flushed)
                } else if e.flags & flag::REJECT != 0 {
                    denied_decision(FlowAction::Reject, pkt)
                } else {
                    denied_decision(FlowAction::Drop, pkt)
                };
                return Hit::Decided(d);
            }
            (_, L4Summary::Tcp { .. }) if state.kind() == Some(crate::key::FlowKind::Tcp) => {
                let Some(seg) = Segment::of(&pkt.l4) else {
                    return Hit::Decided(Decision::drop(DropReason::Inconsistent));
                };
                let (e, w) = self.table.tcp_mut(slot);
                match tcp::step(e, w, sender, &seg) {
                    TcpStep::Pass => true,
                    TcpStep::Drop(reason) => return Hit::Decided(Decision::drop(reason)),
                    TcpStep::Reopen => {
                        self.table.remove(slot);
                        return Hit::Gone;
                    }
                }
            }
            (FlowState::UdpSingle, L4Summary::Udp { .. }) => {
                if !from_initiator {
                    e.state = FlowState::UdpStream as u8;
                }
                true
            }
            (FlowState::UdpStream, L4Summary::Udp { .. })
            | (FlowState::IcmpEcho, L4Summary::IcmpEcho { .. })
            | (FlowState::Generic, L4Summary::Other) => true,
            _ => false,
        };
        if !consistent {
            return Hit::Decided(Decision::drop(DropReason::Inconsistent));
        }
        let e = self.table.entry_mut(slot);
        e.expires = self.clock.expiry(self.timeouts_ns[usize::from(e.state)]);
        Hit::Decided(Decision::PASS)
    }
}
