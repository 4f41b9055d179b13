//! ICMP and ICMPv6 errors: passed when they belong to an allowed flow.

use tollgate_wire::summary::QuotedFlow;
use tollgate_wire::InnerSummary;

use crate::decision::{Decision, DropReason};
use crate::firewall::Tracker;
use crate::key::FlowKey;
use crate::state::FlowState;

impl Tracker {
    /// An error is related when it goes to the sender of the packet it
    /// quotes and that packet's flow is allowed and live. Errors are never
    /// classified and never change or refresh the flow.
    pub(crate) fn related(
        &mut self,
        now_tick: u32,
        pkt: &InnerSummary,
        quoted: &QuotedFlow,
        key: &FlowKey,
        hash: u64,
    ) -> Decision {
        let unrelated = Decision::drop(DropReason::IcmpErrorUnrelated);
        if pkt.dst != quoted.src {
            return unrelated;
        }
        let Some(slot) = self.table.find(key, hash) else {
            return unrelated;
        };
        let e = self.table.entry(slot);
        if e.is_expired(now_tick) {
            self.table.remove(slot);
            self.counters.expired += 1;
            return unrelated;
        }
        if e.rules_epoch < self.flush_below || e.state() == Some(FlowState::Denied) {
            return unrelated;
        }
        self.counters.related += 1;
        Decision::PASS
    }
}
