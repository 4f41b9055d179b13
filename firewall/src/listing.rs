//! Control-plane views: listing flows and removing some. Off the fast
//! path: both walk the whole table.

use std::ops::Range;
use std::time::Duration;

use crate::classify::{Classify, FlowAction};
use crate::firewall::Firewall;
use crate::key::{FlowKey, Side};
use crate::state::FlowState;
use crate::table::{flag, NO_RULE};

/// One flow, as a listing shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowInfo {
    pub key: FlowKey,
    pub initiator: Side,
    pub state: FlowState,
    /// What happens to the flow's packets: `Pass`, or for a denied flow
    /// `Drop` / `Reject`.
    pub action: FlowAction,
    /// The rule that decided it (`None`: the default action, or a flush).
    pub rule: Option<u32>,
    /// Idle time left before it expires.
    pub expires_in: Duration,
    /// Created from a mid-stream TCP packet.
    pub picked_up: bool,
    /// Decided before the latest `revalidate` or `flush` rule change and
    /// not seen since (its next packet applies that change).
    pub stale: bool,
}

/// An address or a prefix (IPv4 in its IPv4-mapped form: `len` 96 + the
/// IPv4 prefix length).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    pub addr: u128,
    pub len: u8,
}

impl Prefix {
    pub fn contains(&self, addr: u128) -> bool {
        match self.len {
            0 => true,
            l if l >= 128 => addr == self.addr,
            l => (addr ^ self.addr) >> (128 - u32::from(l)) == 0,
        }
    }
}

/// Which flows to remove; every field that is set must match.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowFilter {
    pub endpoint: Option<u64>,
    /// Either side's address.
    pub address: Option<Prefix>,
    /// Either side's port (the identifier, for ICMP echo).
    pub port: Option<u16>,
    pub protocol: Option<u8>,
}

impl FlowFilter {
    pub fn matches(&self, key: &FlowKey) -> bool {
        self.endpoint.is_none_or(|e| e == key.endpoint)
            && self.protocol.is_none_or(|p| p == key.protocol)
            && self
                .address
                .is_none_or(|p| p.contains(key.addr_a) || p.contains(key.addr_b))
            && self.port.is_none_or(|p| p == key.port_a || p == key.port_b)
    }
}

impl<C: Classify> Firewall<C> {
    /// The live flows at `now_ns` (expired entries not yet reclaimed are
    /// left out).
    pub fn flows(&self, now_ns: u64) -> impl Iterator<Item = FlowInfo> + '_ {
        self.flows_in(0..self.tracker.table.slots(), now_ns)
            .map(|(_, f)| f)
    }

    /// The live flows in table slots `slots` (clipped to the table), each
    /// with its slot, in slot order. Slots are stable positions, so a walk
    /// can resume after the last slot it saw; an entry moved to its other
    /// bucket by an insertion changes slot.
    pub fn flows_in(
        &self,
        slots: Range<usize>,
        now_ns: u64,
    ) -> impl Iterator<Item = (usize, FlowInfo)> + '_ {
        let t = &self.tracker;
        let mut clock = t.clock;
        let now_tick = clock.advance(now_ns);
        let end = slots.end.min(t.table.slots());
        (slots.start..end).filter_map(move |slot| {
            let e = t.table.entry(slot);
            if e.state == 0 || e.is_expired(now_tick) {
                return None;
            }
            let state = e.state()?;
            let action = if state != FlowState::Denied {
                FlowAction::Pass
            } else if e.flags & flag::REJECT != 0 {
                FlowAction::Reject
            } else {
                FlowAction::Drop
            };
            Some((
                slot,
                FlowInfo {
                    key: e.key(),
                    initiator: e.initiator(),
                    state,
                    action,
                    rule: (e.rule != NO_RULE).then_some(e.rule),
                    expires_in: Duration::from_nanos(clock.ns_until(e.expires)),
                    picked_up: e.flags & flag::PICKED_UP != 0,
                    stale: e.rules_epoch < t.stale_below,
                },
            ))
        })
    }

    /// Remove every flow `filter` matches; returns how many. Their next
    /// packets are handled as packets of new flows.
    pub fn flush_matching(&mut self, filter: &FlowFilter) -> usize {
        self.flush_where(|key, _| filter.matches(key))
    }

    /// Remove every flow for which `select(key, state)` is true (expired
    /// entries not yet reclaimed included); returns how many.
    pub fn flush_where(&mut self, mut select: impl FnMut(&FlowKey, FlowState) -> bool) -> usize {
        let t = &mut self.tracker;
        let mut removed = 0;
        for slot in 0..t.table.slots() {
            let e = t.table.entry(slot);
            if e.state == 0 {
                continue;
            }
            if e.state().is_some_and(|state| select(&e.key(), state)) {
                t.table.remove(slot);
                removed += 1;
            }
        }
        t.counters.removed += removed as u64;
        removed
    }
}
