//! One worker's statistics block: counters, heartbeat, rule hits, endpoints.
//!
//! Each block has exactly one writer, the worker lcore it belongs to, which
//! updates with a `Relaxed` load and store (no locked `fetch_add` on the hot
//! path). Readers in any process load `Relaxed` and sum across workers.
//! Two writers on one block lose counts but never corrupt memory.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::counter::Counter;

/// Rule indexes at or above this are not counted.
pub const MAX_RULES: usize = 16384;
/// Distinct GWLB endpoint ids tracked per worker before "other" takes over.
pub const ENDPOINT_SLOTS: usize = 64;

/// A worker's statistics block inside the segment (cache-line aligned).
#[repr(C, align(64))]
pub struct WorkerStats {
    heartbeat_ns: AtomicU64,
    counters: [AtomicU64; Counter::COUNT],
    endpoints: EndpointTable,
    rule_hits: [AtomicU64; MAX_RULES],
}

#[repr(C, align(64))]
struct EndpointTable {
    /// Slots `0..claimed` hold an id; published with `Release`.
    claimed: AtomicU64,
    other_packets: AtomicU64,
    other_bytes: AtomicU64,
    slots: [EndpointCounters; ENDPOINT_SLOTS],
}

#[repr(C)]
struct EndpointCounters {
    id: AtomicU64,
    packets: AtomicU64,
    bytes: AtomicU64,
}

/// Where a worker counts an endpoint's traffic; cache it per flow to skip
/// the lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndpointSlot {
    Slot(u8),
    /// The table is full: counted in the shared "other" bucket.
    Other,
}

/// One endpoint's traffic as seen by a reader.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct EndpointCount {
    pub endpoint_id: u64,
    pub packets: u64,
    pub bytes: u64,
}

#[inline]
fn bump(cell: &AtomicU64, n: u64) {
    // Single writer: a plain load and store is enough and avoids a locked instruction.
    cell.store(
        cell.load(Ordering::Relaxed).wrapping_add(n),
        Ordering::Relaxed,
    );
}

impl WorkerStats {
    // ---- writer side (the owning worker only) ----

    /// Adds `n` to a counter.
    #[inline]
    pub fn add(&self, counter: Counter, n: u64) {
        bump(&self.counters[counter.index()], n);
    }

    /// Adds one to a counter.
    #[inline]
    pub fn inc(&self, counter: Counter) {
        self.add(counter, 1);
    }

    /// Sets a gauge (or any counter) to `value`.
    #[inline]
    pub fn set(&self, counter: Counter, value: u64) {
        self.counters[counter.index()].store(value, Ordering::Relaxed);
    }

    /// Records that the worker is alive; `now_ns` from [`crate::monotonic_ns`].
    #[inline]
    pub fn beat(&self, now_ns: u64) {
        self.heartbeat_ns.store(now_ns, Ordering::Release);
    }

    /// Counts `n` hits on rule `index`; returns false if the index is out of range.
    #[inline]
    pub fn rule_hit(&self, index: usize, n: u64) -> bool {
        match self.rule_hits.get(index) {
            Some(cell) => {
                bump(cell, n);
                true
            }
            None => false,
        }
    }

    /// Finds the slot of `endpoint_id`, claiming a free one on first sight.
    pub fn endpoint_slot(&self, endpoint_id: u64) -> EndpointSlot {
        let table = &self.endpoints;
        let claimed = self.claimed_endpoints();
        if let Some(i) = table.slots[..claimed]
            .iter()
            .position(|s| s.id.load(Ordering::Relaxed) == endpoint_id)
        {
            return slot(i);
        }
        if claimed == ENDPOINT_SLOTS {
            return EndpointSlot::Other;
        }
        table.slots[claimed]
            .id
            .store(endpoint_id, Ordering::Relaxed);
        // Publishes the id before readers look at the slot.
        table.claimed.store(claimed as u64 + 1, Ordering::Release);
        slot(claimed)
    }

    /// Counts traffic for an endpoint slot from [`Self::endpoint_slot`].
    #[inline]
    pub fn add_endpoint(&self, slot: EndpointSlot, packets: u64, bytes: u64) {
        let table = &self.endpoints;
        let (p, b) = match slot {
            EndpointSlot::Slot(i) => match table.slots.get(usize::from(i)) {
                Some(s) => (&s.packets, &s.bytes),
                None => (&table.other_packets, &table.other_bytes),
            },
            EndpointSlot::Other => (&table.other_packets, &table.other_bytes),
        };
        bump(p, packets);
        bump(b, bytes);
    }

    // ---- reader side (any process) ----

    pub fn get(&self, counter: Counter) -> u64 {
        self.counters[counter.index()].load(Ordering::Relaxed)
    }

    /// CLOCK_MONOTONIC ns of the last [`Self::beat`], 0 if never.
    pub fn heartbeat_ns(&self) -> u64 {
        self.heartbeat_ns.load(Ordering::Acquire)
    }

    /// Hits on rule `index` (0 when out of range).
    pub fn rule_hits(&self, index: usize) -> u64 {
        self.rule_hits
            .get(index)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    fn claimed_endpoints(&self) -> usize {
        let n = self.endpoints.claimed.load(Ordering::Acquire);
        usize::try_from(n).map_or(ENDPOINT_SLOTS, |n| n.min(ENDPOINT_SLOTS))
    }

    /// Claimed endpoint slots with their counts.
    pub fn endpoints(&self) -> impl Iterator<Item = EndpointCount> + '_ {
        self.endpoints.slots[..self.claimed_endpoints()]
            .iter()
            .map(|s| EndpointCount {
                endpoint_id: s.id.load(Ordering::Relaxed),
                packets: s.packets.load(Ordering::Relaxed),
                bytes: s.bytes.load(Ordering::Relaxed),
            })
    }

    /// Packets and bytes of endpoints that found the table full.
    pub fn other_endpoints(&self) -> (u64, u64) {
        (
            self.endpoints.other_packets.load(Ordering::Relaxed),
            self.endpoints.other_bytes.load(Ordering::Relaxed),
        )
    }
}

fn slot(i: usize) -> EndpointSlot {
    u8::try_from(i).map_or(EndpointSlot::Other, EndpointSlot::Slot)
}
