//! A rule's match space as one sorted, merged list of inclusive key ranges
//! per field and address family: the common form the shadow check and the
//! classifier compiler both read.
//!
//! The L4 fields are keyed 0..=`L4_UNKNOWN`: for TCP/UDP the source and
//! destination ports, for ICMP/ICMPv6 the type and the code, and
//! `L4_UNKNOWN` when the packet carries no L4 header we read (a later
//! fragment, another protocol). A rule without L4 constraints covers the
//! whole key space, unknown included; a rule with them never matches an
//! unknown key.

use crate::model::{AddrMatch, PortRange, Rule};
use tollgate_wire::summary::IpVersion;

/// L4 key of a packet whose ports or ICMP type/code are not known.
pub const L4_UNKNOWN: u32 = 65536;

/// Inclusive ranges, sorted, disjoint and not adjacent.
pub(crate) type Ranges<K> = Vec<(K, K)>;

/// Sorts and merges overlapping or adjacent ranges.
pub(crate) fn merge<K: Copy + Ord + Step>(mut r: Vec<(K, K)>) -> Ranges<K> {
    r.sort_unstable();
    let mut out: Vec<(K, K)> = Vec::with_capacity(r.len());
    for (lo, hi) in r {
        match out.last_mut() {
            Some(last) if last.1.next().is_none() || last.1.next() >= Some(lo) => {
                if hi > last.1 {
                    last.1 = hi;
                }
            }
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// Whether every key of `inner` is in `outer` (both merged).
pub(crate) fn is_subset<K: Copy + Ord>(inner: &[(K, K)], outer: &[(K, K)]) -> bool {
    inner.iter().all(|&(lo, hi)| {
        // The outer range that could contain `lo` is the last one starting at or before it.
        let i = outer.partition_point(|&(olo, _)| olo <= lo);
        i > 0 && outer[i - 1].1 >= hi
    })
}

/// The successor of a key, `None` at the top of its type.
pub(crate) trait Step: Sized {
    fn next(self) -> Option<Self>;
}
impl Step for u32 {
    fn next(self) -> Option<u32> {
        self.checked_add(1)
    }
}
impl Step for u64 {
    fn next(self) -> Option<u64> {
        self.checked_add(1)
    }
}
impl Step for u128 {
    fn next(self) -> Option<u128> {
        self.checked_add(1)
    }
}

/// One family's address ranges (mapped u128 space).
#[derive(Debug, Clone)]
pub(crate) struct FamilySpace {
    pub src: Ranges<u128>,
    pub dst: Ranges<u128>,
}

/// A rule's match space.
#[derive(Debug, Clone)]
pub(crate) struct RuleSpace {
    pub endpoints: Ranges<u64>,
    /// `None` is any protocol.
    pub protocol: Option<u8>,
    /// Indexed by `family_index`; `None` when the rule cannot match that family.
    pub families: [Option<FamilySpace>; 2],
    /// Source port or ICMP type.
    pub l4_a: Ranges<u32>,
    /// Destination port or ICMP code.
    pub l4_b: Ranges<u32>,
}

pub(crate) fn family_index(v: IpVersion) -> usize {
    match v {
        IpVersion::V4 => 0,
        IpVersion::V6 => 1,
    }
}

fn family_range(v: IpVersion) -> (u128, u128) {
    match v {
        IpVersion::V4 => (0xffff_0000_0000, 0xffff_ffff_ffff),
        IpVersion::V6 => (0, u128::MAX),
    }
}

fn addr_ranges(a: &AddrMatch, v: IpVersion) -> Ranges<u128> {
    match a {
        AddrMatch::Any => vec![family_range(v)],
        AddrMatch::Cidrs(c) => merge(
            c.iter()
                .filter(|c| c.version == v)
                .map(|c| c.range())
                .collect(),
        ),
    }
}

fn l4_ranges(primary: &Option<Vec<PortRange>>, icmp: &Option<Vec<PortRange>>) -> Ranges<u32> {
    match primary.as_ref().or(icmp.as_ref()) {
        None => vec![(0, L4_UNKNOWN)],
        Some(r) => merge(
            r.iter()
                .map(|p| (u32::from(p.lo), u32::from(p.hi)))
                .collect(),
        ),
    }
}

impl RuleSpace {
    pub(crate) fn of(rule: &Rule) -> RuleSpace {
        let families = [IpVersion::V4, IpVersion::V6].map(|v| {
            rule.applies_to(v).then(|| FamilySpace {
                src: addr_ranges(&rule.src, v),
                dst: addr_ranges(&rule.dst, v),
            })
        });
        let endpoints = if rule.endpoints.is_empty() {
            vec![(0, u64::MAX)]
        } else {
            merge(rule.endpoints.iter().map(|&e| (e, e)).collect())
        };
        RuleSpace {
            endpoints,
            protocol: rule.protocol,
            families,
            l4_a: l4_ranges(&rule.src_port, &rule.icmp_type),
            l4_b: l4_ranges(&rule.dst_port, &rule.icmp_code),
        }
    }

    /// Ranges held, over every field: what one full comparison may read.
    pub(crate) fn range_count(&self) -> usize {
        let families: usize = self
            .families
            .iter()
            .flatten()
            .map(|f| f.src.len() + f.dst.len())
            .sum();
        self.endpoints.len() + self.l4_a.len() + self.l4_b.len() + families
    }

    /// Whether every packet `self` matches is also matched by `outer`.
    pub(crate) fn is_covered_by(&self, outer: &RuleSpace) -> bool {
        if outer.protocol.is_some() && outer.protocol != self.protocol {
            return false;
        }

        if !is_subset(&self.endpoints, &outer.endpoints)
            || !is_subset(&self.l4_a, &outer.l4_a)
            || !is_subset(&self.l4_b, &outer.l4_b)
        {
            return false;
        }
        self.families
            .iter()
            .zip(&outer.families)
            .all(|(mine, theirs)| match (mine, theirs) {
                (None, _) => true,
                (Some(_), None) => false,
                (Some(m), Some(t)) => is_subset(&m.src, &t.src) && is_subset(&m.dst, &t.dst),
            })
    }
}

/// A rule's protocol and, per family, the span from lowest to highest
/// source and destination address: a small, flat summary that rejects most
/// pairs of the shadow check before the full comparison.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Envelope {
    protocol: Option<u8>,
    /// `[src_lo, src_hi, dst_lo, dst_hi]` per family.
    families: [Option<[u128; 4]>; 2],
}

impl Envelope {
    pub(crate) fn of(space: &RuleSpace) -> Envelope {
        let span = |r: &Ranges<u128>| {
            (
                r.first().map_or(u128::MAX, |f| f.0),
                r.last().map_or(0, |l| l.1),
            )
        };
        Envelope {
            protocol: space.protocol,
            families: space.families.each_ref().map(|f| {
                f.as_ref().map(|f| {
                    let (s0, s1) = span(&f.src);
                    let (d0, d1) = span(&f.dst);
                    [s0, s1, d0, d1]
                })
            }),
        }
    }

    /// The first family (by `family_index`) the rule applies to, with the
    /// span of its destination addresses.
    pub(crate) fn first_dst_span(&self) -> Option<(usize, u128, u128)> {
        self.families
            .iter()
            .enumerate()
            .find_map(|(f, e)| e.map(|e| (f, e[2], e[3])))
    }

    /// Whether the rule applies to family `f`, with its destination span.
    pub(crate) fn dst_span(&self, f: usize) -> Option<(u128, u128)> {
        self.families[f].map(|e| (e[2], e[3]))
    }

    /// False when `self` certainly is not covered by `outer`; true means "maybe".
    #[inline]
    pub(crate) fn may_be_covered_by(&self, outer: &Envelope) -> bool {
        if outer.protocol.is_some() && outer.protocol != self.protocol {
            return false;
        }
        self.families
            .iter()
            .zip(&outer.families)
            .all(|(mine, theirs)| match (mine, theirs) {
                (None, _) => true,
                (Some(_), None) => false,
                (Some(m), Some(t)) => m[0] >= t[0] && m[1] <= t[1] && m[2] >= t[2] && m[3] <= t[3],
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_joins_overlapping_and_adjacent() {
        assert_eq!(
            merge(vec![(5u32, 9), (1, 3), (4, 4), (20, 30), (25, 26)]),
            vec![(1, 9), (20, 30)]
        );
        assert_eq!(merge(vec![(0u32, u32::MAX), (3, 4)]), vec![(0, u32::MAX)]);
    }

    #[test]
    fn subset_needs_one_outer_range_per_inner_range() {
        let outer = vec![(1u32, 9), (20, 30)];
        assert!(is_subset(&[(2, 3), (20, 30)], &outer));
        assert!(!is_subset(&[(8, 21)], &outer));
        assert!(!is_subset(&[(0, 0)], &outer));
        assert!(!is_subset(&[(31, 31)], &outer));
    }
}
