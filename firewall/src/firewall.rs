//! The per-worker firewall: a flow table, its tracker and a rule snapshot.

use std::sync::Arc;

use tollgate_wire::summary::{Fragment, L4Summary};
use tollgate_wire::InnerSummary;

use crate::classify::{Classify, FlowAction, OnRuleChange, RuleMatch};
use crate::clock::Clock;
use crate::config::{ConfigError, FirewallConfig};
use crate::decision::{Decision, DropReason, FirewallCounters, Verdict};
use crate::key::FlowKey;
use crate::state::{FlowState, STATE_CODES};
use crate::sweep_pace::SweepPace;
use crate::table::{flag, FlowTable, Probe};

/// A stateful firewall for one worker. Not shared: each worker owns one,
/// and each flow is processed by its owner (see [`crate::OwnerHasher`]).
pub struct Firewall<C: Classify> {
    pub(crate) rules: Option<Arc<C>>,
    generation: u64,
    pub(crate) tracker: Tracker,
}

/// Everything but the rules, so the per-packet path can borrow the rule
/// snapshot and the table at once.
pub(crate) struct Tracker {
    pub table: FlowTable,
    pub config: FirewallConfig,
    pub timeouts_ns: [u64; STATE_CODES],
    pub clock: Clock,
    pub sweep_pace: SweepPace,
    /// Incremented by every `set_rules`.
    pub rules_epoch: u32,
    /// Flows decided under an epoch below this are re-classified.
    pub revalidate_below: u32,
    /// Flows decided under an epoch below this are killed.
    pub flush_below: u32,
    /// The larger of the two above: flows decided under an epoch below
    /// this need the general path.
    pub stale_below: u32,
    /// What the established-flow fast path computes once per `now_ns`.
    pub fast_times: Option<crate::express::FastTimes>,
    /// Kept per packet by the general path; the fast path counts only
    /// `fast_passed` here, and `active` is read from the table
    /// ([`Firewall::counters`] adds them up).
    pub counters: FirewallCounters,
}

impl<C: Classify> Firewall<C> {
    /// A firewall with an empty table of `config.capacity` flows (allocated
    /// now) and no rule set: it drops everything until [`Self::set_rules`].
    pub fn new(config: FirewallConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut table = FlowTable::try_new(config.capacity, config.hash_seed.value())?;
        table.set_endpoint_share(config.endpoint_share);
        let lap_ns = u64::try_from(config.expiry_lap.as_nanos()).unwrap_or(u64::MAX);
        let tracker = Tracker {
            sweep_pace: SweepPace::new(lap_ns, table.slots()),
            table,
            timeouts_ns: config.timeouts.table_ns(),
            config,
            clock: Clock::default(),
            rules_epoch: 0,
            revalidate_below: 0,
            flush_below: 0,
            stale_below: 0,
            fast_times: None,
            counters: FirewallCounters::default(),
        };
        Ok(Firewall {
            rules: None,
            generation: 0,
            tracker,
        })
    }

    /// Replace the rule set (call between bursts). `on_change` says what
    /// happens to flows decided under earlier sets; it is applied lazily,
    /// at each flow's next packet, so this call is O(1).
    pub fn set_rules(&mut self, rules: Arc<C>, generation: u64, on_change: OnRuleChange) {
        let t = &mut self.tracker;
        t.rules_epoch = t.rules_epoch.saturating_add(1);
        match on_change {
            OnRuleChange::Keep => {}
            OnRuleChange::Revalidate => t.revalidate_below = t.rules_epoch,
            OnRuleChange::Flush => t.flush_below = t.rules_epoch,
        }
        t.stale_below = t.revalidate_below.max(t.flush_below);
        self.rules = Some(rules);
        self.generation = generation;
    }

    /// The generation of the loaded rule set, if any.
    pub fn generation(&self) -> Option<u64> {
        self.rules.as_ref().map(|_| self.generation)
    }

    pub fn rules(&self) -> Option<&Arc<C>> {
        self.rules.as_ref()
    }

    pub fn config(&self) -> &FirewallConfig {
        &self.tracker.config
    }

    /// The counters now (a copy: the fast path's passes are added in here
    /// rather than counted three times per packet).
    pub fn counters(&self) -> FirewallCounters {
        let t = &self.tracker;
        let mut c = t.counters.clone();
        c.packets += c.fast_passed;
        c.passed += c.fast_passed;
        c.active = u64::from(t.table.active());
        c
    }

    /// The most flows the table holds.
    pub fn capacity(&self) -> u32 {
        self.tracker.table.capacity()
    }

    /// Bytes allocated by the flow table.
    pub fn memory_bytes(&self) -> usize {
        self.tracker.table.memory_bytes()
    }

    /// Occupied slots, counted by walking the table (a diagnostic for
    /// tests and the control plane; `counters().active` is the cheap one).
    pub fn occupied_slots(&self) -> usize {
        self.tracker.table.occupied().count()
    }

    /// Live flows counted with `endpoint`'s for the fairness rule: its own,
    /// or, for an endpoint beyond the ones the table counts separately,
    /// those of all such endpoints (see [`FirewallConfig::endpoint_share`]).
    pub fn endpoint_flows(&self, endpoint: u64) -> u32 {
        self.tracker.table.endpoint_flows(endpoint)
    }

    /// Slots in the flow table (capacity plus headroom).
    pub fn slots(&self) -> usize {
        self.tracker.table.slots()
    }

    /// Decide one packet seen at `now_ns` on GWLB endpoint `endpoint`.
    /// No allocation, no syscall; bounded work (see the crate doc).
    #[inline]
    pub fn process(&mut self, now_ns: u64, endpoint: u64, pkt: &InnerSummary) -> Decision {
        let prepared = self.prepare(endpoint, pkt);
        self.process_prepared(now_ns, endpoint, pkt, &prepared)
    }

    /// First step of burst processing: key and hash `pkt` and start
    /// loading its table buckets. For a burst, prepare every packet, then
    /// [`Self::prefetch_flow`] every packet, then
    /// [`Self::process_prepared`] every packet: the cache misses of the
    /// whole burst then overlap instead of adding up.
    #[inline]
    pub fn prepare(&self, endpoint: u64, pkt: &InnerSummary) -> Prepared {
        let mut prepared = Prepared::EMPTY;
        self.prepare_into(endpoint, pkt, &mut prepared);
        prepared
    }

    /// [`Self::prepare`] written into `out` (a burst's storage), without
    /// copying the result.
    #[inline]
    pub fn prepare_into(&self, endpoint: u64, pkt: &InnerSummary, out: &mut Prepared) {
        (out.key, out.sender) = match pkt.l4 {
            L4Summary::IcmpError { quoted, .. } => {
                FlowKey::of_quoted(endpoint, pkt.version, &quoted)
            }
            _ => FlowKey::of_packet(endpoint, pkt),
        };
        self.hash_prepared(out);
    }

    /// The rest of [`Self::prepare_into`] once `out` holds the key and the
    /// sender: hash, probe, and the buckets' prefetch. Always inlined: as a
    /// call it cost the burst 10 cycles per packet or more.
    #[inline(always)]
    pub(crate) fn hash_prepared(&self, out: &mut Prepared) {
        let t = &self.tracker.table;
        out.hash = t.hash(&out.key);
        out.probe = t.probe(out.hash);
        t.prefetch(out.probe);
    }

    /// Second step of burst processing: start loading the flow entry (its
    /// buckets should be in cache by now), and a TCP flow's windows.
    #[inline]
    pub fn prefetch_flow(&self, prepared: &mut Prepared) {
        let tcp = prepared.key.protocol == 6;
        self.tracker.table.prefetch_entry(&mut prepared.probe, tcp);
    }

    /// [`Self::process`] with the work of [`Self::prepare`] already done.
    /// `prepared` must come from `prepare(endpoint, pkt)` for this very
    /// packet (otherwise the packet is decided as if it belonged to the
    /// prepared packet's flow).
    #[inline]
    pub fn process_prepared(
        &mut self,
        now_ns: u64,
        endpoint: u64,
        pkt: &InnerSummary,
        prepared: &Prepared,
    ) -> Decision {
        self.process_prepared_with::<true>(now_ns, endpoint, pkt, prepared)
    }

    /// The expiry steps of the next `packets` calls to
    /// [`Self::process_swept`], done at once for a burst: the clock hand
    /// advances over the same number of slots as `packets` calls to
    /// [`Self::process_prepared`] would advance it (none without a rule
    /// set, as there).
    #[inline]
    pub fn sweep_for_burst(&mut self, now_ns: u64, packets: u32) {
        if self.rules.is_none() || packets == 0 {
            return;
        }
        self.tracker.sweep(now_ns, packets);
    }

    /// [`Self::process_prepared`] without its expiry step, for a packet
    /// whose step [`Self::sweep_for_burst`] has already done.
    #[inline]
    pub fn process_swept(
        &mut self,
        now_ns: u64,
        endpoint: u64,
        pkt: &InnerSummary,
        prepared: &Prepared,
    ) -> Decision {
        self.process_prepared_with::<false>(now_ns, endpoint, pkt, prepared)
    }

    #[inline(always)]
    fn process_prepared_with<const SWEEP: bool>(
        &mut self,
        now_ns: u64,
        endpoint: u64,
        pkt: &InnerSummary,
        prepared: &Prepared,
    ) -> Decision {
        let decision = match self.rules.as_deref() {
            None => Decision::drop(DropReason::NoRuleSet),
            Some(rules) => self
                .tracker
                .decide::<C, SWEEP>(now_ns, endpoint, pkt, rules, prepared),
        };
        self.tracker.counters.count(&decision);
        decision
    }

    /// Expire up to `slots` slots' worth of flows (for a worker with idle
    /// time; [`Self::process`] already does a little per packet).
    pub fn expire(&mut self, now_ns: u64, slots: u32) -> u32 {
        let t = &mut self.tracker;
        let now_tick = t.clock.advance(now_ns);
        let removed = t.table.expire_step(now_tick, slots);
        t.counters.expired += u64::from(removed);
        removed
    }
}

/// A packet's flow key and hash, computed once for a burst (see
/// [`Firewall::prepare`]).
#[derive(Debug, Clone, Copy)]
pub struct Prepared {
    pub(crate) key: FlowKey,
    pub(crate) sender: crate::key::Side,
    hash: u64,
    pub(crate) probe: Probe,
}

impl Prepared {
    /// A placeholder for a burst's storage before [`Firewall::prepare`]
    /// fills it (it keys no real flow: endpoint 0, all-zero tuple).
    pub const EMPTY: Prepared = Prepared {
        key: FlowKey {
            endpoint: 0,
            version: tollgate_wire::IpVersion::V4,
            protocol: 0,
            addr_a: 0,
            port_a: 0,
            addr_b: 0,
            port_b: 0,
        },
        sender: crate::key::Side::A,
        hash: 0,
        probe: Probe::EMPTY,
    };
}

/// What a hit on an existing entry led to.
pub(crate) enum Hit {
    Decided(Decision),
    /// The entry was removed; handle the packet as a new flow.
    Gone,
}

impl Tracker {
    /// The expiry hand's due steps for `packets` packets at `now_ns`;
    /// returns the current tick (the clock is advanced to `now_ns`).
    #[inline]
    fn sweep(&mut self, now_ns: u64, packets: u32) -> u32 {
        let now_tick = self.clock.advance(now_ns);
        let cap = self.config.expiry_slots_per_packet.saturating_mul(packets);
        let budget = self.sweep_pace.take(now_ns, cap);
        if budget > 0 {
            let expired = self.table.expire_step(now_tick, budget);
            self.counters.expired += u64::from(expired);
        }
        now_tick
    }

    /// `SWEEP`: do this packet's expiry step here (false when
    /// [`Firewall::sweep_for_burst`] did it for the burst).
    #[inline]
    fn decide<C: Classify + ?Sized, const SWEEP: bool>(
        &mut self,
        now_ns: u64,
        endpoint: u64,
        pkt: &InnerSummary,
        rules: &C,
        prepared: &Prepared,
    ) -> Decision {
        let now_tick = if SWEEP {
            self.sweep(now_ns, 1)
        } else {
            self.clock.advance(now_ns)
        };
        if pkt.fragment == Fragment::Later {
            return Decision::drop(DropReason::Fragment);
        }
        match pkt.l4 {
            L4Summary::IcmpError { ref quoted, .. } => {
                self.related(now_tick, pkt, quoted, &prepared.key, prepared.hash)
            }
            L4Summary::IcmpOther { .. } => stateless(rules.classify(endpoint, pkt)),
            _ => self.tracked(now_tick, endpoint, pkt, rules, prepared),
        }
    }

    fn tracked<C: Classify + ?Sized>(
        &mut self,
        now_tick: u32,
        endpoint: u64,
        pkt: &InnerSummary,
        rules: &C,
        prepared: &Prepared,
    ) -> Decision {
        // Fields by reference: the key is 64 bytes.
        let sender = prepared.sender;
        if let Some(slot) = self.table.find_probed(&prepared.key, prepared.probe) {
            let hit = self.on_hit(slot, now_tick, endpoint, sender, pkt, rules);
            if let Hit::Decided(d) = hit {
                return d;
            }
        }
        let (key, hash) = (&prepared.key, prepared.hash);
        self.new_flow(now_tick, key, hash, sender, endpoint, pkt, rules)
    }

    /// A packet of a flow in the table: expiry, rule-change handling, then
    /// the flow's tracker.
    fn on_hit<C: Classify + ?Sized>(
        &mut self,
        slot: usize,
        now_tick: u32,
        endpoint: u64,
        sender: crate::key::Side,
        pkt: &InnerSummary,
        rules: &C,
    ) -> Hit {
        let e = self.table.entry(slot);
        if e.is_expired(now_tick) {
            self.table.remove(slot);
            self.counters.expired += 1;
            return Hit::Gone;
        }
        let mut rule = None;
        if e.rules_epoch < self.flush_below {
            self.kill(slot);
        } else if e.rules_epoch < self.revalidate_below {
            match self.revalidate(slot, endpoint, pkt, rules) {
                Ok(m) => rule = m.rule,
                Err(hit) => return hit,
            }
        }
        match self.existing(slot, sender, pkt) {
            Hit::Decided(mut d) => {
                if rule.is_some() {
                    d.rule = rule;
                }
                Hit::Decided(d)
            }
            Hit::Gone => Hit::Gone,
        }
    }

    /// Turn a flow decided before a flush into a killed (denied) one.
    fn kill(&mut self, slot: usize) {
        let expires = self
            .clock
            .expiry(self.timeouts_ns[FlowState::Denied as usize]);
        let epoch = self.rules_epoch;
        let e = self.table.entry_mut(slot);
        e.state = FlowState::Denied as u8;
        e.flags = (e.flags & flag::INITIATOR_A) | flag::FLUSHED;
        e.rules_epoch = epoch;
        e.expires = expires;
        self.counters.flushed += 1;
    }

    /// Re-classify a flow decided before a revalidating rule change, with
    /// its initiator's tuple. `Ok` when it is still allowed.
    fn revalidate<C: Classify + ?Sized>(
        &mut self,
        slot: usize,
        endpoint: u64,
        pkt: &InnerSummary,
        rules: &C,
    ) -> Result<RuleMatch, Hit> {
        let e = *self.table.entry(slot);
        let Some(kind) = e.state().and_then(FlowState::kind) else {
            // A denied flow holds no connection state: decide afresh.
            self.table.remove(slot);
            self.counters.revalidated += 1;
            return Err(Hit::Gone);
        };
        let opening = crate::key::opening_summary(&e.key(), e.initiator(), kind, pkt);
        let m = rules.classify(endpoint, &opening);
        self.counters.revalidated += 1;
        let expires = self
            .clock
            .expiry(self.timeouts_ns[FlowState::Denied as usize]);
        let epoch = self.rules_epoch;
        let em = self.table.entry_mut(slot);
        em.rules_epoch = epoch;
        em.rule = m.rule.unwrap_or(crate::table::NO_RULE);
        if m.action == FlowAction::Pass {
            return Ok(m);
        }
        em.state = FlowState::Denied as u8;
        em.flags &= flag::INITIATOR_A;
        if m.action == FlowAction::Reject {
            em.flags |= flag::REJECT;
        }
        em.expires = expires;
        let mut d = denied_decision(m.action, pkt);
        d.rule = m.rule;
        Err(Hit::Decided(d))
    }
}

/// The decision for a packet of a denied flow. Never reject a RST (that
/// would answer a reset with a reset).
pub(crate) fn denied_decision(action: FlowAction, pkt: &InnerSummary) -> Decision {
    let is_rst = matches!(pkt.l4, L4Summary::Tcp { flags, .. }
        if flags & tollgate_wire::summary::tcp_flags::RST != 0);
    let verdict = if action == FlowAction::Reject && !is_rst {
        Verdict::Reject
    } else {
        Verdict::Drop(DropReason::RuleDenied)
    };
    Decision {
        verdict,
        rule: None,
        flow_created: false,
    }
}

/// A packet decided by the rules alone, with no flow (ICMP informational
/// messages other than echo).
fn stateless(m: RuleMatch) -> Decision {
    let verdict = match m.action {
        FlowAction::Pass => Verdict::Pass,
        FlowAction::Drop => Verdict::Drop(DropReason::RuleDenied),
        FlowAction::Reject => Verdict::Reject,
    };
    Decision {
        verdict,
        rule: m.rule,
        flow_created: false,
    }
}
