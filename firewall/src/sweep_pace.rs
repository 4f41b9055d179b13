//! How fast the expiry hand moves: once around the table per lap
//! ([`FirewallConfig::expiry_lap`]), paced by the clock rather than by
//! the packet count.
//!
//! Paced by packets, a busy worker swept a million-flow table many times a
//! second, and each examined slot of a table that size is a cache miss:
//! about 50 cycles per packet at 1M flows on the benchmark machine. By the
//! clock, the work follows the table size and the lap, not the load.
//! Expired flows are also removed by the lookups that meet them and by
//! inserts into full buckets, so the lap only bounds how long an idle
//! flow keeps its slot and its place in the active count.
//!
//! [`FirewallConfig::expiry_lap`]: crate::FirewallConfig::expiry_lap

/// The clock-paced budget of the expiry hand.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SweepPace {
    ns_per_slot: u64,
    /// Nanoseconds one lap takes (`ns_per_slot` times the slots).
    lap_ns: u64,
    /// The time up to which the hand has done its due slots.
    done_until: Option<u64>,
}

impl SweepPace {
    /// The pace for `slots` slots and a lap of `lap_ns` nanoseconds.
    pub fn new(lap_ns: u64, slots: usize) -> SweepPace {
        let slots = (slots as u64).max(1);
        let ns_per_slot = (lap_ns / slots).max(1);
        SweepPace {
            ns_per_slot,
            lap_ns: ns_per_slot.saturating_mul(slots),
            done_until: None,
        }
    }

    /// The slots due at `now_ns`, at most `cap`, counted as done. Owed work
    /// never exceeds one lap (after a long pause the hand does not race).
    #[inline]
    pub fn take(&mut self, now_ns: u64, cap: u32) -> u32 {
        let done_until = *self.done_until.get_or_insert(now_ns);
        if now_ns <= done_until {
            return 0;
        }
        let owed_ns = now_ns.saturating_sub(done_until).min(self.lap_ns);
        let due = owed_ns / self.ns_per_slot;
        let take = due.min(u64::from(cap));
        self.done_until = Some(now_ns - owed_ns + take * self.ns_per_slot);
        take as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn one_lap_per_lap_time_however_many_calls() {
        // 1000 slots, one per millisecond.
        let mut pace = SweepPace::new(1_000 * MS, 1_000);
        let mut taken = 0u64;
        // A call every 10 µs for one lap, with room for 2 slots each.
        let mut now = 5_000 * MS;
        pace.take(now, 2);
        for _ in 0..100_000 {
            now += 10_000;
            taken += u64::from(pace.take(now, 2));
        }
        assert_eq!(taken, 1_000);
    }

    #[test]
    fn the_cap_bounds_each_call_and_the_rest_stays_owed() {
        let mut pace = SweepPace::new(1_000 * MS, 1_000);
        pace.take(0, 8);
        assert_eq!(pace.take(100 * MS, 8), 8, "100 due, 8 allowed");
        let mut taken = 8;
        for _ in 0..20 {
            taken += pace.take(100 * MS, 8);
        }
        assert_eq!(taken, 100, "the rest of what was due, no more");
        assert_eq!(pace.take(100 * MS, 8), 0);
    }

    #[test]
    fn a_long_pause_owes_at_most_one_lap() {
        let mut pace = SweepPace::new(1_000 * MS, 1_000);
        pace.take(0, u32::MAX);
        assert_eq!(pace.take(3_600_000 * MS, u32::MAX), 1_000);
        assert_eq!(pace.take(3_600_000 * MS, u32::MAX), 0);
        assert_eq!(pace.take(3_600_001 * MS, u32::MAX), 1);
    }

    #[test]
    fn clock_going_backwards_owes_nothing() {
        let mut pace = SweepPace::new(1_000 * MS, 1_000);
        pace.take(50 * MS, 10);
        assert_eq!(pace.take(10 * MS, 10), 0);
        assert_eq!(pace.take(52 * MS, 10), 2);
    }

    #[test]
    fn tiny_laps_and_huge_tables_stay_sane() {
        // More slots than nanoseconds in the lap: one slot per ns.
        let mut pace = SweepPace::new(1_000, 1 << 28);
        pace.take(0, u32::MAX);
        assert_eq!(pace.take(500, u32::MAX), 500);
        let mut pace = SweepPace::new(1_000 * MS, 0);
        pace.take(0, 5);
        assert_eq!(pace.take(1_000 * MS, 5), 1);
    }
}
