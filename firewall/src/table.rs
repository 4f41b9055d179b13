//! The flow table: fixed capacity, bucketized two-choice hashing.
//!
//! Layout (measured in `examples/flow_bench.rs`):
//! - `sigs`: one 16-byte array of eight 16-bit signatures per bucket (0 =
//!   empty slot), four buckets per cache line. A lookup reads the
//!   signatures of at most two buckets and compares full keys only where a
//!   signature matches: an occupied slot matches another key's signature
//!   once in 2^15, so about one lookup in 2,700 reads an extra entry line
//!   at 80 % load, and the signatures take half the cache 32-bit ones
//!   would (the trade DPDK's `rte_hash` makes too).
//! - `entries`: one 64-byte, cache-line-aligned [`FlowEntry`] per slot: the
//!   canonical key and all tracking state, so a hit touches one line.
//! - `windows`: a TCP flow's sequence windows ([`TcpWindows`], 32 bytes),
//!   at the entry's slot: a TCP hit touches a second line, requested with
//!   the entry's (UDP and other flows never touch it).
//!
//! Each key may live in one of two buckets chosen from its hash; inserting
//! into two full buckets first tries to move one of their entries to its
//! other bucket. The table has 25 % more slots than its capacity, so that
//! at full capacity this rarely fails: 98 bytes per slot, 123 bytes per flow
//! of capacity (123 MB for the default million flows). All of it is
//! allocated and written at construction; nothing is allocated later.
//! Both arrays are mapped on transparent huge pages where the kernel allows
//! (see [`huge_array`]): at a million flows, 4 KiB pages make most lookups
//! miss the TLB as well as the cache.
//!
//! Expiry is incremental: a clock hand walks the slots a few per call, a
//! lookup that finds an expired entry removes it, and an insert into a full
//! table reclaims from its two buckets and a bounded window of the hand.
//!
//! Fairness between GWLB endpoints: the table counts each endpoint's live
//! flows (see [`endpoints`]). While the table has room anyone may take it;
//! once full, a new flow may evict a live reclaimable flow of another
//! endpoint only while its own endpoint holds less than its share
//! ([`FlowTable::set_endpoint_share`]), and victims of endpoints at or over
//! their share go first. An endpoint at its share may still evict its own
//! reclaimable flows, and anyone may take an expired flow's slot.

mod endpoints;
mod huge_array;

use tollgate_wire::summary::IpVersion;

use self::endpoints::EndpointCounts;
use self::huge_array::HugeArray;
pub use self::huge_array::TableAllocError;
use crate::decision::RefuseReason;
use crate::key::{FlowKey, KeyHasher, Side};
use crate::state::{EvictReason, FlowState};
use crate::window::TcpWindows;

/// Slots per bucket.
pub(crate) const BUCKET_SLOTS: usize = 8;
/// Largest capacity (keeps slot indices and the table size sane).
pub const MAX_CAPACITY: u32 = 1 << 28;

/// Flag bits of [`FlowEntry::flags`].
pub(crate) mod flag {
    /// The initiator is side A of the key.
    pub const INITIATOR_A: u8 = 0x01;
    /// Denied flow: rejected rather than dropped.
    pub const REJECT: u8 = 0x02;
    /// Denied flow: killed by a flush rather than by a rule.
    pub const FLUSHED: u8 = 0x04;
    /// Side A / side B sent a FIN.
    pub const FIN_A: u8 = 0x08;
    pub const FIN_B: u8 = 0x10;
    /// In LAST_ACK: the final ACK is expected from side A (else side B).
    pub const LAST_ACKER_A: u8 = 0x20;
    /// In SYN_SENT: the SYN carried data (TCP Fast Open), so the SYN/ACK may
    /// acknowledge more than the ISN. Shares its bit with `LAST_ACKER_A`,
    /// which only LAST_ACK reads and which entering LAST_ACK always sets.
    pub const SYN_DATA: u8 = 0x20;
    /// In UNCONFIRMED: side A sent the segment that picked the flow up, so
    /// only side B's segment confirms it. Shares the bit too: UNCONFIRMED
    /// is entered only at pickup, which sets or clears it.
    pub const PICKUP_SENDER_A: u8 = 0x20;
    /// The flow was created from a mid-stream packet.
    pub const PICKED_UP: u8 = 0x40;
    /// In SYN_SENT and SYN_RECV: the responder sent a SYN too (a
    /// simultaneous open).
    pub const SIMULTANEOUS: u8 = 0x80;
}

/// `rule` value meaning "decided by the default action".
pub(crate) const NO_RULE: u32 = u32::MAX;

/// One flow: its canonical key and its tracking state, in one cache line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, align(64))]
pub(crate) struct FlowEntry {
    pub addr_a: u128,
    pub addr_b: u128,
    pub endpoint: u64,
    pub port_a: u16,
    pub port_b: u16,
    pub protocol: u8,
    /// 4 or 6.
    pub version: u8,
    /// A [`FlowState`] code; 0 in an empty slot.
    pub state: u8,
    /// See [`flag`].
    pub flags: u8,
    /// Expiry time in ticks (see `crate::clock`).
    pub expires: u32,
    /// Rule index that decided the flow, or [`NO_RULE`].
    pub rule: u32,
    /// The rule-set epoch the flow was decided under.
    pub rules_epoch: u32,
    /// TCP: the sequence number the state waits for to be acknowledged
    /// (the initiator's ISN in SYN_SENT, the responder's in SYN_RECV, the
    /// end of a FIN in FIN_WAIT / LAST_ACK).
    pub track_seq: u32,
}

const _: () = assert!(std::mem::size_of::<FlowEntry>() == 64);
const _: () = {
    use std::mem::offset_of;
    assert!(offset_of!(FlowEntry, addr_b) == offset_of!(FlowKey, addr_b));
    assert!(offset_of!(FlowEntry, endpoint) == offset_of!(FlowKey, endpoint));
    assert!(offset_of!(FlowEntry, port_a) == offset_of!(FlowKey, port_a));
    assert!(offset_of!(FlowEntry, port_b) == offset_of!(FlowKey, port_b));
    assert!(offset_of!(FlowEntry, protocol) == offset_of!(FlowKey, protocol));
    assert!(offset_of!(FlowEntry, version) == offset_of!(FlowKey, version));
};

impl FlowEntry {
    const EMPTY: FlowEntry = FlowEntry {
        addr_a: 0,
        addr_b: 0,
        endpoint: 0,
        port_a: 0,
        port_b: 0,
        protocol: 0,
        version: 0,
        state: 0,
        flags: 0,
        expires: 0,
        rule: NO_RULE,
        rules_epoch: 0,
        track_seq: 0,
    };

    #[inline]
    fn matches(&self, key: &FlowKey) -> bool {
        self.addr_a == key.addr_a
            && self.addr_b == key.addr_b
            && self.endpoint == key.endpoint
            && self.port_a == key.port_a
            && self.port_b == key.port_b
            && self.protocol == key.protocol
            && self.version == key.version as u8
    }

    pub fn key(&self) -> FlowKey {
        FlowKey {
            endpoint: self.endpoint,
            version: if self.version == 6 {
                IpVersion::V6
            } else {
                IpVersion::V4
            },
            protocol: self.protocol,
            addr_a: self.addr_a,
            port_a: self.port_a,
            addr_b: self.addr_b,
            port_b: self.port_b,
        }
    }

    pub fn state(&self) -> Option<FlowState> {
        FlowState::from_code(self.state)
    }

    pub fn initiator(&self) -> Side {
        if self.flags & flag::INITIATOR_A != 0 {
            Side::A
        } else {
            Side::B
        }
    }

    #[inline]
    pub fn is_expired(&self, now_tick: u32) -> bool {
        self.expires <= now_tick
    }
}

/// Where a key's hash may live: its two buckets and its signature.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Probe {
    b1: u32,
    b2: u32,
    sig: u16,
    /// The slot whose signature matched when the entry was requested
    /// ([`FlowTable::prefetch_entry`]), tried first by the lookup; `NO_HINT`
    /// before that or when none matched.
    hint: u32,
}

const NO_HINT: u32 = u32::MAX;

impl Probe {
    /// The probe of hash 0 in any table (see `Prepared::EMPTY`): buckets
    /// 0 and 1, signature 1.
    pub const EMPTY: Probe = Probe {
        b1: 0,
        b2: 1,
        sig: 1,
        hint: NO_HINT,
    };
}

#[derive(Clone, Copy)]
#[repr(C, align(16))]
struct SigBucket([u16; BUCKET_SLOTS]);

/// Why a slot was freed to make room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reclaimed {
    /// Nothing: a free slot was used.
    Nothing,
    /// An expired flow.
    Expired,
    /// A live but reclaimable flow (see [`FlowState::evict_reason`]).
    Evicted(EvictReason),
}

/// How good a victim a slot is, lowest first: expired before live, then
/// flows of endpoints at or over their share, then by [`EvictReason`],
/// then the one expiring first. One integer, so that the search compares
/// once per slot: the tier (see [`rank`]) above the expiry tick.
type Rank = u64;

/// The rank of a live flow evicted for `reason`, of an endpoint under its
/// share or not, expiring at `expires`. Tier 0 is an expired flow.
#[inline]
fn rank(reason: EvictReason, under_share: bool, expires: u32) -> Rank {
    let tier = 1 + u64::from(under_share) * EvictReason::COUNT as u64 + reason as u64;
    tier << 32 | u64::from(expires)
}

/// The flow table. See the module doc.
pub(crate) struct FlowTable {
    sigs: HugeArray<SigBucket>,
    entries: HugeArray<FlowEntry>,
    /// A TCP flow's sequence windows, beside its entry (same slot). Read
    /// and written only for TCP flows.
    windows: HugeArray<TcpWindows>,
    n_buckets: u32,
    capacity: u32,
    active: u32,
    hand: usize,
    hasher: KeyHasher,
    endpoints: EndpointCounts,
    /// Live flows an endpoint may hold and still evict others' flows.
    endpoint_limit: u32,
}

impl FlowTable {
    /// [`Self::try_new`], panicking if the memory cannot be mapped (as a
    /// `Box` allocation would abort).
    #[cfg(test)]
    pub fn new(capacity: u32, seed: u64) -> FlowTable {
        Self::try_new(capacity, seed).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A table for `capacity` flows (clamped to 1..=[`MAX_CAPACITY`]),
    /// every slot written, or why its memory could not be mapped.
    pub fn try_new(capacity: u32, seed: u64) -> Result<FlowTable, TableAllocError> {
        let capacity = capacity.clamp(1, MAX_CAPACITY);
        let slots = u64::from(capacity) * 5 / 4;
        let n_buckets = slots.div_ceil(BUCKET_SLOTS as u64).max(2);
        let n_buckets = u32::try_from(n_buckets).unwrap_or(u32::MAX);
        let n = n_buckets as usize;
        Ok(FlowTable {
            sigs: HugeArray::new(n, SigBucket([0; BUCKET_SLOTS]))?,
            entries: HugeArray::new(n * BUCKET_SLOTS, FlowEntry::EMPTY)?,
            windows: HugeArray::new(n * BUCKET_SLOTS, TcpWindows::EMPTY)?,
            n_buckets,
            capacity,
            active: 0,
            hand: 0,
            hasher: KeyHasher::new(seed),
            endpoints: EndpointCounts::new(seed),
            endpoint_limit: capacity,
        })
    }

    /// An endpoint holding `percent` % of the capacity (at least one
    /// flow) or more may no longer evict other endpoints' flows.
    pub fn set_endpoint_share(&mut self, percent: u8) {
        let limit = u64::from(self.capacity) * u64::from(percent.clamp(1, 100)) / 100;
        self.endpoint_limit = (limit as u32).max(1);
    }

    /// Live flows counted with `endpoint`'s (see [`endpoints`]).
    pub fn endpoint_flows(&self, endpoint: u64) -> u32 {
        self.endpoints.flows(endpoint)
    }

    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    pub fn active(&self) -> u32 {
        self.active
    }

    pub fn slots(&self) -> usize {
        self.entries.len()
    }

    /// Bytes the table mapped (its arrays rounded up to whole pages).
    pub fn memory_bytes(&self) -> usize {
        self.sigs.mapped_bytes() + self.entries.mapped_bytes() + self.windows.mapped_bytes()
    }

    #[inline(always)]
    pub fn hash(&self, key: &FlowKey) -> u64 {
        self.hasher.hash(key)
    }

    #[inline]
    fn buckets(&self, hash: u64) -> (usize, usize) {
        let n = u64::from(self.n_buckets);
        // Multiply-shift maps 32 random bits onto 0..n without a division.
        let b1 = ((hash & 0xffff_ffff) * n) >> 32;
        let b2 = ((hash >> 32) * n) >> 32;
        let b2 = if b2 == b1 { (b1 + 1) % n } else { b2 };
        (b1 as usize, b2 as usize)
    }

    #[inline]
    fn sig(hash: u64) -> u16 {
        // Bits independent of the bucket indices; never 0 (= empty).
        ((hash.rotate_left(21).wrapping_mul(0x2545_f491_4f6c_dd1d) >> 48) as u16) | 1
    }

    /// The buckets and signature of `hash`, computed once for a burst's
    /// prefetches and lookup.
    #[inline]
    pub fn probe(&self, hash: u64) -> Probe {
        let (b1, b2) = self.buckets(hash);
        Probe {
            b1: b1 as u32,
            b2: b2 as u32,
            sig: Self::sig(hash),
            hint: NO_HINT,
        }
    }

    /// Start loading the two candidate buckets into the cache, so that a
    /// burst can hash all its packets, prefetch, then look up.
    #[inline]
    pub fn prefetch(&self, probe: Probe) {
        prefetch_line(&self.sigs[probe.b1 as usize]);
        prefetch_line(&self.sigs[probe.b2 as usize]);
    }

    /// Second prefetch stage, once the buckets are in cache: start loading
    /// the entry whose signature matches (if any), so that the lookup that
    /// follows touches only cached lines. Notes that slot in `probe` for
    /// the lookup to try first.
    #[inline]
    pub fn prefetch_entry(&self, probe: &mut Probe, tcp: bool) {
        let Probe { b1, b2, sig, .. } = *probe;
        let (b1, b2) = (b1 as usize, b2 as usize);
        for b in [b1, b2] {
            let matches = sig_matches(&self.sigs[b].0, sig);
            if matches != 0 {
                let slot = b * BUCKET_SLOTS + matches.trailing_zeros() as usize;
                prefetch_line(&self.entries[slot]);
                if tcp {
                    prefetch_line(&self.windows[slot]);
                }
                probe.hint = slot as u32;
                return;
            }
        }
        // A new flow: the slot an insert will most likely take.
        if let Some(free) = self.empty_in(b1) {
            prefetch_line(&self.entries[free]);
            if tcp {
                prefetch_line(&self.windows[free]);
            }
        }
    }

    /// The slot holding `key`, expired or not.
    #[inline]
    pub fn find(&self, key: &FlowKey, hash: u64) -> Option<usize> {
        self.find_probed(key, self.probe(hash))
    }

    /// [`Self::find`] with `probe` = `self.probe(hash)`.
    #[inline(always)]
    pub fn find_probed(&self, key: &FlowKey, probe: Probe) -> Option<usize> {
        let Probe { b1, b2, sig, hint } = probe;
        // The hinted slot, if it still holds this signature (the table may
        // have changed since: the key decides).
        let h = hint as usize;
        if let Some(bucket) = self.sigs.get(h / BUCKET_SLOTS) {
            if bucket.0[h % BUCKET_SLOTS] == sig && self.entries[h].matches(key) {
                return Some(h);
            }
        }
        for b in [b1 as usize, b2 as usize] {
            let mut matches = sig_matches(&self.sigs[b].0, sig);
            while matches != 0 {
                let slot = b * BUCKET_SLOTS + matches.trailing_zeros() as usize;
                if self.entries[slot].matches(key) {
                    return Some(slot);
                }
                matches &= matches - 1;
            }
        }
        None
    }

    #[inline]
    pub fn entry(&self, slot: usize) -> &FlowEntry {
        &self.entries[slot]
    }

    #[inline]
    pub fn entry_mut(&mut self, slot: usize) -> &mut FlowEntry {
        &mut self.entries[slot]
    }

    /// A TCP flow's entry and its windows.
    #[inline(always)]
    pub fn tcp_mut(&mut self, slot: usize) -> (&mut FlowEntry, &mut TcpWindows) {
        (&mut self.entries[slot], &mut self.windows[slot])
    }

    /// The entry in `slot` and every slot's windows, for a caller that
    /// reads the windows only if the flow is TCP.
    #[inline(always)]
    pub fn entry_and_windows(&mut self, slot: usize) -> (&mut FlowEntry, &mut [TcpWindows]) {
        (&mut self.entries[slot], &mut self.windows)
    }

    #[inline]
    fn is_occupied(&self, slot: usize) -> bool {
        self.sigs[slot / BUCKET_SLOTS].0[slot % BUCKET_SLOTS] != 0
    }

    pub fn remove(&mut self, slot: usize) {
        if self.is_occupied(slot) {
            self.sigs[slot / BUCKET_SLOTS].0[slot % BUCKET_SLOTS] = 0;
            self.entries[slot].state = 0;
            self.active -= 1;
            self.endpoints.remove(self.entries[slot].endpoint);
        }
    }

    fn empty_in(&self, bucket: usize) -> Option<usize> {
        self.sigs[bucket]
            .0
            .iter()
            .position(|&s| s == 0)
            .map(|i| bucket * BUCKET_SLOTS + i)
    }

    /// Move one entry of `bucket` to its other bucket, if that has room.
    /// Returns the freed slot.
    fn displace_from(&mut self, bucket: usize) -> Option<usize> {
        for i in 0..BUCKET_SLOTS {
            let slot = bucket * BUCKET_SLOTS + i;
            let hash = self.hash(&self.entries[slot].key());
            let (x1, x2) = self.buckets(hash);
            let alt = if x1 == bucket { x2 } else { x1 };
            if let Some(free) = self.empty_in(alt) {
                self.entries[free] = self.entries[slot];
                self.windows[free] = self.windows[slot];
                self.sigs[alt].0[free % BUCKET_SLOTS] = self.sigs[bucket].0[i];
                self.sigs[bucket].0[i] = 0;
                self.entries[slot].state = 0;
                return Some(slot);
            }
        }
        None
    }

    /// How good a victim `slot` is for a new flow of `endpoint` (see
    /// [`Rank`]); `None` if it may not be taken. `at_share`: `endpoint`
    /// holds its share, so only its own live flows may be taken.
    #[inline]
    fn victim_rank(
        &self,
        slot: usize,
        now_tick: u32,
        endpoint: u64,
        at_share: bool,
    ) -> Option<Rank> {
        if !self.is_occupied(slot) {
            return None;
        }
        let e = &self.entries[slot];
        if e.is_expired(now_tick) {
            return Some(u64::from(e.expires));
        }
        let reason = e.state()?.evict_reason()?;
        let under_share = if e.endpoint == endpoint {
            // The new flow's own endpoint: known without a lookup.
            !at_share
        } else if at_share {
            return None;
        } else {
            self.endpoints.flows(e.endpoint) < self.endpoint_limit
        };
        Some(rank(reason, under_share, e.expires))
    }

    /// The best victim in `slots` for a new flow of `endpoint`, or why
    /// there is none: [`RefuseReason::EndpointShare`] when the share rule
    /// alone kept a victim out of reach.
    fn best_victim(
        &self,
        slots: impl Iterator<Item = usize> + Clone,
        now_tick: u32,
        endpoint: u64,
    ) -> Result<(usize, Rank), RefuseReason> {
        let best = |at_share| {
            slots
                .clone()
                .filter_map(|s| {
                    self.victim_rank(s, now_tick, endpoint, at_share)
                        .map(|r| (s, r))
                })
                .min_by_key(|&(_, r)| r)
        };
        let at_share = self.endpoints.flows(endpoint) >= self.endpoint_limit;
        match best(at_share) {
            Some(victim) => Ok(victim),
            None if at_share && best(false).is_some() => Err(RefuseReason::EndpointShare),
            None => Err(RefuseReason::TableFull),
        }
    }

    fn free_victim(&mut self, slot: usize, rank: Rank) -> Reclaimed {
        self.remove(slot);
        self.reason_of(rank)
    }

    /// Why a slot of rank `rank` was reclaimed.
    fn reason_of(&self, rank: Rank) -> Reclaimed {
        match rank >> 32 {
            0 => Reclaimed::Expired,
            tier => Reclaimed::Evicted(EvictReason::ALL[(tier - 1) as usize % EvictReason::COUNT]),
        }
    }

    /// Claim a slot for `key` (which must not be in the table). The slot's
    /// key fields are written; the caller fills in the state. Refused when
    /// the table is full and nothing in reach may be reclaimed.
    pub fn insert(
        &mut self,
        key: &FlowKey,
        hash: u64,
        now_tick: u32,
        scan_budget: u32,
    ) -> Result<(usize, Reclaimed), RefuseReason> {
        let (b1, b2) = self.buckets(hash);
        let bucket_slots = |b: usize| b * BUCKET_SLOTS..(b + 1) * BUCKET_SLOTS;
        let mut reclaimed = Reclaimed::Nothing;
        let free = self.empty_in(b1).or_else(|| self.empty_in(b2));
        let slot = match free {
            Some(free) if self.active < self.capacity => free,
            Some(free) => {
                // At capacity with room in the buckets: free any reclaimable
                // flow in reach, preferring the candidate buckets' own.
                let window = self.scan_window(scan_budget);
                let reach = bucket_slots(b1).chain(bucket_slots(b2)).chain(window);
                let (victim, rank) = self.best_victim(reach, now_tick, key.endpoint)?;
                reclaimed = self.free_victim(victim, rank);
                if victim / BUCKET_SLOTS == b1 || victim / BUCKET_SLOTS == b2 {
                    victim
                } else {
                    free
                }
            }
            None => {
                let displaced = if self.active < self.capacity {
                    self.displace_from(b1).or_else(|| self.displace_from(b2))
                } else {
                    None
                };
                match displaced {
                    Some(slot) => slot,
                    None => {
                        let reach = bucket_slots(b1).chain(bucket_slots(b2));
                        let (victim, rank) = self.best_victim(reach, now_tick, key.endpoint)?;
                        reclaimed = self.free_victim(victim, rank);
                        victim
                    }
                }
            }
        };
        self.sigs[slot / BUCKET_SLOTS].0[slot % BUCKET_SLOTS] = Self::sig(hash);
        let e = &mut self.entries[slot];
        e.addr_a = key.addr_a;
        e.addr_b = key.addr_b;
        e.endpoint = key.endpoint;
        e.port_a = key.port_a;
        e.port_b = key.port_b;
        e.protocol = key.protocol;
        e.version = key.version as u8;
        e.flags = 0;
        e.track_seq = 0;
        e.rule = NO_RULE;
        self.active += 1;
        self.endpoints.add(key.endpoint);
        Ok((slot, reclaimed))
    }

    /// The next `budget` slots under the clock hand (advancing it).
    fn scan_window(&mut self, budget: u32) -> ScanWindow {
        let len = self.entries.len();
        let count = (budget as usize).min(len);
        let start = self.hand;
        // No division on the per-packet path: the hand moves less than one
        // table length per call.
        self.hand += count;
        if self.hand >= len {
            self.hand -= len;
        }
        ScanWindow { start, count, len }
    }

    /// Advance the clock hand over `budget` slots, removing expired flows.
    /// Returns how many were removed.
    pub fn expire_step(&mut self, now_tick: u32, budget: u32) -> u32 {
        let w = self.scan_window(budget);
        // The window as at most two plain ranges (it may wrap once).
        let first = (w.len - w.start).min(w.count);
        self.expire_range(w.start..w.start + first, now_tick)
            + self.expire_range(0..w.count - first, now_tick)
    }

    /// Remove the expired flows of `slots`, a bucket at a time: one
    /// signature test per bucket finds its occupied slots, and only their
    /// entries are read.
    #[inline]
    fn expire_range(&mut self, slots: std::ops::Range<usize>, now_tick: u32) -> u32 {
        let mut removed = 0;
        let mut slot = slots.start;
        while slot < slots.end {
            let bucket = slot / BUCKET_SLOTS;
            let base = bucket * BUCKET_SLOTS;
            let end = (slots.end - base).min(BUCKET_SLOTS);
            // The bucket's slots from `slot - base` up to `end`.
            let in_range = (1u32 << end) - (1u32 << (slot - base));
            let mut due = self.occupied_mask(bucket) & in_range;
            while due != 0 {
                let s = base + due.trailing_zeros() as usize;
                due &= due - 1;
                if self.entries[s].is_expired(now_tick) {
                    self.remove(s);
                    removed += 1;
                }
            }
            slot = base + end;
        }
        removed
    }

    /// Bit i set when slot i of `bucket` is occupied.
    #[inline]
    fn occupied_mask(&self, bucket: usize) -> u32 {
        !sig_matches(&self.sigs[bucket].0, 0) & ((1 << BUCKET_SLOTS) - 1)
    }

    /// Occupied slots, for listings and control-plane flushes.
    pub fn occupied(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.entries.len()).filter(|&s| self.is_occupied(s))
    }
}

/// Consecutive slots from `start`, wrapping at `len`. Owns no borrow, so
/// the table can be changed while walking it.
#[derive(Debug, Clone, Copy)]
struct ScanWindow {
    start: usize,
    count: usize,
    len: usize,
}

impl Iterator for ScanWindow {
    type Item = usize;
    fn next(&mut self) -> Option<usize> {
        if self.count == 0 {
            return None;
        }
        let slot = self.start;
        self.start += 1;
        if self.start == self.len {
            self.start = 0;
        }
        self.count -= 1;
        Some(slot)
    }
}

/// Bit `i` set where slot `i` of a bucket holds `sig`: one vector compare,
/// narrowed to a byte per slot for the mask.
#[inline(always)]
fn sig_matches(sigs: &[u16; BUCKET_SLOTS], sig: u16) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi16, _mm_loadu_si128, _mm_movemask_epi8, _mm_packs_epi16,
            _mm_set1_epi16, _mm_setzero_si128,
        };
        let p = sigs.as_ptr().cast::<__m128i>();
        // SAFETY: SSE2 is part of x86_64; the unaligned 16-byte load reads
        // the 16 bytes of `sigs`, a valid reference.
        unsafe {
            let eq = _mm_cmpeq_epi16(_mm_loadu_si128(p), _mm_set1_epi16(sig as i16));
            // Signed narrowing: a matching lane (-1) stays -1, others 0.
            _mm_movemask_epi8(_mm_packs_epi16(eq, _mm_setzero_si128())) as u32
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    sigs.iter()
        .enumerate()
        .fold(0, |m, (i, &s)| m | u32::from(s == sig) << i)
}

#[inline]
fn prefetch_line<T>(p: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: prefetch is a hint; it never faults and `p` is a valid
        // reference anyway.
        unsafe { _mm_prefetch::<_MM_HINT_T0>((p as *const T).cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u32) -> FlowKey {
        FlowKey {
            endpoint: 7,
            version: IpVersion::V4,
            protocol: 17,
            addr_a: 0xffff_0a00_0000 | u128::from(i),
            port_a: (i % 13) as u16,
            addr_b: 0xffff_0b00_0001,
            port_b: 53,
        }
    }

    #[test]
    fn ranks_order_expired_then_over_share_then_reason_then_expiry() {
        use EvictReason::*;
        let expired = u64::from(u32::MAX);
        let order = [
            expired,
            rank(Unconfirmed, false, 5),
            rank(Unconfirmed, false, 6),
            rank(Denied, false, 0),
            rank(Unconfirmed, true, 0),
            rank(Embryonic, true, 0),
            rank(Closing, true, 0),
            rank(Denied, true, u32::MAX),
        ];
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:x?}");
        let t = FlowTable::new(8, 1);
        for reason in EvictReason::ALL {
            for under in [false, true] {
                let r = rank(reason, under, 9);
                assert_eq!(t.reason_of(r), Reclaimed::Evicted(reason));
            }
        }
        assert_eq!(t.reason_of(expired), Reclaimed::Expired);
    }

    #[test]
    fn empty_probe_is_the_probe_of_hash_zero() {
        for capacity in [1, 100, 1_000_000] {
            let t = FlowTable::new(capacity, 7);
            let (p, e) = (t.probe(0), Probe::EMPTY);
            assert_eq!(
                (p.b1, p.b2, p.sig),
                (e.b1, e.b2, e.sig),
                "capacity {capacity}"
            );
        }
    }

    #[test]
    fn a_stale_entry_hint_never_decides_a_lookup() {
        let mut t = FlowTable::new(100, 5);
        let (k1, k2) = (key(1), key(2));
        let (h1, h2) = (t.hash(&k1), t.hash(&k2));
        let (s1, _) = t.insert(&k1, h1, 0, 0).expect("room");
        let (s2, _) = t.insert(&k2, h2, 0, 0).expect("room");
        let mut p1 = t.probe(h1);
        t.prefetch_entry(&mut p1, false);
        assert_eq!(p1.hint as usize, s1);
        assert_eq!(t.find_probed(&k1, p1), Some(s1));
        // Another flow's slot as the hint: the lookup still finds k2's.
        let mut p2 = t.probe(h2);
        p2.hint = s1 as u32;
        assert_eq!(t.find_probed(&k2, p2), Some(s2));
        // Removed since the hint: the slot still holds k1's bytes, but not
        // its signature, so k1 is gone.
        t.remove(s1);
        assert_eq!(t.find_probed(&k1, p1), None);
        // Inserted again (wherever it lands): found, hint or not.
        let (again, _) = t.insert(&k1, h1, 0, 0).expect("room");
        assert_eq!(t.find_probed(&k1, p1), Some(again));
        // A hint past the table's end is ignored.
        p1.hint = NO_HINT;
        assert_eq!(t.find_probed(&k1, p1), Some(again));
    }

    #[test]
    fn inserts_up_to_capacity_stay_findable_through_displacement() {
        let mut t = FlowTable::new(400, 1);
        assert_eq!(t.slots(), 504);
        for i in 0..400 {
            let k = key(i);
            let h = t.hash(&k);
            assert_eq!(t.find(&k, h), None);
            let (slot, reclaimed) = t.insert(&k, h, 0, 0).expect("room below capacity");
            assert_eq!(reclaimed, Reclaimed::Nothing);
            // Mark it established so nothing may reclaim it.
            t.entry_mut(slot).state = FlowState::TcpEstablished as u8;
            t.entry_mut(slot).expires = u32::MAX;
            // Every earlier key is still found where it now lives.
            for j in (0..=i).step_by(37) {
                let kj = key(j);
                let slot = t.find(&kj, t.hash(&kj)).expect("still present");
                assert_eq!(t.entry(slot).key(), kj);
            }
        }
        assert_eq!(t.active(), 400);
        let k = key(10_000);
        assert_eq!(
            t.insert(&k, t.hash(&k), 0, 64),
            Err(RefuseReason::TableFull),
            "full of established flows"
        );
        for i in 0..400 {
            let k = key(i);
            let slot = t.find(&k, t.hash(&k)).unwrap();
            t.remove(slot);
            t.remove(slot);
        }
        assert_eq!(t.active(), 0);
        assert_eq!(t.occupied().count(), 0);
    }

    /// Real traffic's keys differ in a few bits (one client's ports, a
    /// subnet's addresses): the hash must still spread them so that a
    /// large table fills to capacity.
    #[test]
    fn structured_keys_fill_a_large_table_to_capacity() {
        const N: u32 = 100_000;
        for version in [IpVersion::V4, IpVersion::V6] {
            let key = |i: u32| FlowKey {
                endpoint: 7,
                version,
                protocol: 6,
                addr_a: match version {
                    IpVersion::V4 => 0xffff_0a00_0000 | u128::from(i / 50_000),
                    IpVersion::V6 => 0x2001_0db8 << 96 | u128::from(i / 50_000),
                },
                port_a: 1024 + (i % 50_000) as u16,
                addr_b: match version {
                    IpVersion::V4 => 0xffff_ac10_0001,
                    IpVersion::V6 => 0x2001_0db8 << 96 | 1 << 64,
                },
                port_b: 443,
            };
            let mut t = FlowTable::new(N, 3);
            for i in 0..N {
                let k = key(i);
                let (slot, _) = t.insert(&k, t.hash(&k), 0, 0).expect("room below capacity");
                t.entry_mut(slot).expires = u32::MAX;
            }
            assert_eq!(t.active(), N, "{version:?}");
            for i in (0..N).step_by(7) {
                let k = key(i);
                assert!(t.find(&k, t.hash(&k)).is_some(), "{version:?} {i}");
            }
        }
    }

    #[test]
    fn signature_matching_finds_every_slot_holding_the_signature() {
        // Signatures with the top bit set too: the narrowing is signed.
        for sig in [1u16, 0x7fff, 0x8001, 0xffff] {
            for pattern in [0u32, 1, 0x80, 0xa5, 0xff] {
                let mut bucket = [0u16; BUCKET_SLOTS];
                for (i, s) in bucket.iter_mut().enumerate() {
                    let other = (sig ^ 0x8000) | 1;
                    *s = if pattern & 1 << i != 0 { sig } else { other };
                }
                assert_eq!(sig_matches(&bucket, sig), pattern, "sig {sig:#x}");
            }
        }
        assert_eq!(sig_matches(&[0; BUCKET_SLOTS], 0), 0xff, "empty slots");
    }

    #[test]
    fn large_tables_map_whole_huge_pages_small_ones_whole_pages() {
        let small = FlowTable::new(1_000, 1);
        assert_eq!(small.memory_bytes(), 4096 + 81920 + 40960);
        // 125k slots: 8 MB of entries (4 huge pages), 4 MB of windows (2),
        // 250 kB of signatures (below one huge page: 62 small ones).
        let large = FlowTable::new(100_000, 1);
        assert_eq!(large.memory_bytes(), 6 * huge_array::HUGE_PAGE + 62 * 4096);
        // Every slot starts empty, huge pages or not.
        assert_eq!(large.occupied().count(), 0);
        assert!(large.entries.iter().all(|e| *e == FlowEntry::EMPTY));
    }

    #[test]
    fn expiry_steps_remove_exactly_the_expired_flows_under_the_hand() {
        let mut t = FlowTable::new(300, 3);
        let slots = t.slots();
        let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut inserted = 0;
        for round in 0..40u32 {
            // Top up with flows expiring at random ticks around now.
            while t.active() < 250 {
                let k = key(inserted);
                inserted += 1;
                let (slot, _) = t.insert(&k, t.hash(&k), round, 0).unwrap();
                t.entry_mut(slot).state = FlowState::UdpSingle as u8;
                t.entry_mut(slot).expires = round + (next() % 8) as u32;
            }
            let budget = (next() % 70) as u32;
            let start = t.hand;
            let expect: Vec<usize> = (0..budget as usize)
                .map(|i| (start + i) % slots)
                .filter(|&s| t.is_occupied(s) && t.entry(s).is_expired(round))
                .collect();
            let before: Vec<usize> = t.occupied().collect();
            let removed = t.expire_step(round, budget);
            let after: Vec<usize> = t.occupied().collect();
            let gone: Vec<usize> = before.into_iter().filter(|s| !after.contains(s)).collect();
            let mut expect_sorted = expect.clone();
            expect_sorted.sort_unstable();
            assert_eq!(
                gone, expect_sorted,
                "round {round}, window {start}+{budget}"
            );
            assert_eq!(removed as usize, expect.len());
            assert_eq!(t.hand, (start + budget as usize) % slots);
        }
    }

    #[test]
    fn the_clock_hand_wraps_and_is_bounded() {
        let mut t = FlowTable::new(8, 1);
        let slots = t.slots();
        for i in 0..8 {
            let k = key(i);
            let (slot, _) = t.insert(&k, t.hash(&k), 0, 0).unwrap();
            t.entry_mut(slot).state = FlowState::UdpSingle as u8;
            t.entry_mut(slot).expires = 5;
        }
        assert_eq!(t.expire_step(4, slots as u32), 0, "not yet expired");
        let mut removed = 0;
        for _ in 0..slots {
            let r = t.expire_step(5, 1);
            assert!(r <= 1);
            removed += r;
        }
        assert_eq!(removed, 8);
        assert_eq!(t.hand, 0, "one full turn");
        assert_eq!(
            t.expire_step(5, u32::MAX),
            0,
            "budget capped at the table size"
        );
    }
}
