//! Live flows per GWLB endpoint, for the table's fairness rule.
//!
//! The endpoint id comes from a packet option, so the number of distinct
//! ids is unbounded as far as the table can tell. The counts live in a
//! fixed open-addressed array (linear probing, deletion by backward shift,
//! no tombstones) sized at construction: [`TRACKED`] endpoints have a count
//! of their own; flows of any further endpoint all share one overflow
//! count, and so one share of the table. Nothing is allocated after
//! construction and every operation probes at most [`SLOTS`] entries.
//!
//! Each flow is counted exactly once, in its endpoint's own count or in the
//! overflow, and it must be uncounted from the same one. A new endpoint
//! takes an own count only while the overflow is empty: an endpoint that
//! has flows in the overflow therefore never gains an own count before
//! those flows are gone, and one with an own count keeps it until its last
//! flow is gone, so the two never mix.

/// Endpoints counted on their own; further ones share the overflow.
pub(crate) const TRACKED: usize = 192;
/// Array length: a power of two, a quarter left empty to keep probes short.
const SLOTS: usize = 256;

const _: () = assert!(SLOTS.is_power_of_two() && TRACKED < SLOTS);

#[derive(Clone, Copy)]
struct Slot {
    endpoint: u64,
    /// Live flows of `endpoint`; 0 marks an empty slot.
    flows: u32,
}

pub(crate) struct EndpointCounts {
    slots: Box<[Slot; SLOTS]>,
    tracked: usize,
    overflow: u32,
    /// Multiplier of the slot hash, odd and drawn from the table's key so
    /// that where an endpoint lands cannot be planned.
    mul: u64,
}

impl EndpointCounts {
    /// Empty counts whose slot hash is drawn from `key`.
    pub fn new(key: u64) -> EndpointCounts {
        // One splitmix64 step: unrelated to the flow hash's use of `key`.
        let mut z = key.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        let key = z ^ (z >> 31);
        EndpointCounts {
            slots: Box::new(
                [Slot {
                    endpoint: 0,
                    flows: 0,
                }; SLOTS],
            ),
            tracked: 0,
            overflow: 0,
            mul: key | 1,
        }
    }

    #[inline]
    fn home(&self, endpoint: u64) -> usize {
        let h = (endpoint ^ endpoint >> 29).wrapping_mul(self.mul);
        (h >> 56) as usize & (SLOTS - 1)
    }

    /// The slot counting `endpoint` on its own, if any.
    #[inline]
    fn find(&self, endpoint: u64) -> Option<usize> {
        let mut i = self.home(endpoint);
        for _ in 0..SLOTS {
            let s = &self.slots[i];
            if s.flows == 0 {
                return None;
            }
            if s.endpoint == endpoint {
                return Some(i);
            }
            i = (i + 1) & (SLOTS - 1);
        }
        None
    }

    /// Live flows counted with `endpoint`'s: its own, or the overflow's if
    /// it has no count of its own (it shares that count and its share).
    #[inline]
    pub fn flows(&self, endpoint: u64) -> u32 {
        match self.find(endpoint) {
            Some(i) => self.slots[i].flows,
            None => self.overflow,
        }
    }

    /// Count one more flow of `endpoint`.
    pub fn add(&mut self, endpoint: u64) {
        let mut i = self.home(endpoint);
        for _ in 0..SLOTS {
            let s = &mut self.slots[i];
            if s.flows == 0 {
                break;
            }
            if s.endpoint == endpoint {
                s.flows += 1;
                return;
            }
            i = (i + 1) & (SLOTS - 1);
        }
        // Not counted on its own: `i` is the empty slot ending its probe.
        if self.overflow == 0 && self.tracked < TRACKED {
            self.slots[i] = Slot { endpoint, flows: 1 };
            self.tracked += 1;
        } else {
            self.overflow += 1;
        }
    }

    /// Count one flow of `endpoint` less (one that [`Self::add`] counted).
    pub fn remove(&mut self, endpoint: u64) {
        let Some(i) = self.find(endpoint) else {
            debug_assert!(self.overflow > 0, "endpoint {endpoint} has no flows");
            self.overflow = self.overflow.saturating_sub(1);
            return;
        };
        self.slots[i].flows -= 1;
        if self.slots[i].flows == 0 {
            self.tracked -= 1;
            self.close_gap(i);
        }
    }

    /// Backward-shift deletion: move later entries of the probe run into
    /// the emptied slot `gap` where their home allows, so that every
    /// entry stays reachable from its home without tombstones.
    fn close_gap(&mut self, mut gap: usize) {
        let mut j = gap;
        loop {
            j = (j + 1) & (SLOTS - 1);
            let s = self.slots[j];
            if s.flows == 0 {
                break;
            }
            let home = self.home(s.endpoint);
            // Movable when its home is not cyclically within (gap, j].
            let dist_home = j.wrapping_sub(home) & (SLOTS - 1);
            let dist_gap = j.wrapping_sub(gap) & (SLOTS - 1);
            if dist_home >= dist_gap {
                self.slots[gap] = s;
                self.slots[j].flows = 0;
                gap = j;
            }
        }
    }

    /// Endpoints with a count of their own now.
    #[cfg(test)]
    pub fn tracked(&self) -> usize {
        self.tracked
    }

    /// Flows counted in the overflow now.
    #[cfg(test)]
    pub fn overflow(&self) -> u32 {
        self.overflow
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Where each live flow of the model is counted: its endpoint's own
    /// count (`true`) or the overflow.
    struct Model {
        own: HashMap<u64, u32>,
        in_overflow: HashMap<u64, u32>,
    }

    impl Model {
        fn check(&self, c: &EndpointCounts) {
            let overflow: u32 = self.in_overflow.values().sum();
            assert_eq!(c.overflow(), overflow);
            let tracked = self.own.values().filter(|&&n| n > 0).count();
            assert_eq!(c.tracked(), tracked);
            assert!(tracked <= TRACKED);
            for (&ep, &n) in &self.own {
                if n > 0 {
                    assert_eq!(c.flows(ep), n, "endpoint {ep}");
                }
            }
            for (&ep, &n) in &self.in_overflow {
                if n > 0 {
                    assert_eq!(self.own.get(&ep).copied().unwrap_or(0), 0, "mixed {ep}");
                    assert_eq!(c.flows(ep), overflow);
                }
            }
        }
    }

    #[test]
    fn counts_follow_a_model_through_overflow_and_deletion() {
        for key in [0x9e37_79b9_7f4a_7c15_u64, 1 << 63] {
            let mut c = EndpointCounts::new(key);
            let mut m = Model {
                own: HashMap::new(),
                in_overflow: HashMap::new(),
            };
            let mut live: Vec<u64> = Vec::new();
            let mut rng = 0x2545_f491_4f6c_dd1d_u64;
            let mut next = move || {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng
            };
            for step in 0..40_000 {
                // Grow to more endpoints than are tracked, then shrink.
                let grow = if step < 20_000 { 3 } else { 1 };
                if live.is_empty() || next() % 4 < grow {
                    let ep = next() % 400 * 0x1_0000_0001;
                    let own = m.own.get(&ep).copied().unwrap_or(0);
                    let over = m.in_overflow.get(&ep).copied().unwrap_or(0);
                    let overflowing = m.in_overflow.values().any(|&n| n > 0);
                    let tracked = m.own.values().filter(|&&n| n > 0).count();
                    if own > 0 || (over == 0 && !overflowing && tracked < TRACKED) {
                        *m.own.entry(ep).or_default() += 1;
                    } else {
                        *m.in_overflow.entry(ep).or_default() += 1;
                    }
                    c.add(ep);
                    live.push(ep);
                } else {
                    let ep = live.swap_remove((next() % live.len() as u64) as usize);
                    match m.own.get_mut(&ep) {
                        Some(n) if *n > 0 => *n -= 1,
                        _ => *m.in_overflow.get_mut(&ep).unwrap() -= 1,
                    }
                    c.remove(ep);
                }
                if step % 97 == 0 {
                    m.check(&c);
                }
            }
            m.check(&c);
            assert!(m.in_overflow.values().sum::<u32>() > 0 || live.len() < 200);
            for ep in live.drain(..) {
                c.remove(ep);
            }
            assert_eq!((c.tracked(), c.overflow()), (0, 0));
            assert!(c.slots.iter().all(|s| s.flows == 0));
        }
    }

    #[test]
    fn endpoints_beyond_the_tracked_ones_share_the_overflow() {
        let mut c = EndpointCounts::new(7);
        for ep in 0..TRACKED as u64 {
            c.add(ep);
        }
        assert_eq!((c.tracked(), c.overflow()), (TRACKED, 0));
        c.add(1_000);
        c.add(1_001);
        c.add(1_001);
        assert_eq!((c.tracked(), c.overflow()), (TRACKED, 3));
        assert_eq!((c.flows(1_000), c.flows(1_001)), (3, 3));
        // A slot frees up, but the overflow still holds flows: a newcomer
        // joins the overflow rather than splitting anyone's count.
        c.remove(5);
        c.add(2_000);
        assert_eq!((c.tracked(), c.overflow()), (TRACKED - 1, 4));
        for ep in [1_000, 1_001, 1_001, 2_000] {
            c.remove(ep);
        }
        // Overflow empty: the next newcomer counts on its own.
        c.add(2_000);
        assert_eq!((c.tracked(), c.overflow(), c.flows(2_000)), (TRACKED, 0, 1));
        assert_eq!(c.flows(3_000), 0);
    }
}
