//! The compiled classifier: first match wins, at a cost that grows with
//! the number of rules divided by 64 in the worst case and barely at all in
//! practice (measured: ~30 ns at 10 rules, ~60-80 ns at 1k, ~120-200 ns at
//! 10k, against 1.3-3 us for a linear scan; `examples/classify_bench.rs`).
//!
//! # Design: elementary intervals and aggregated bitsets
//! Each packet is six keys: endpoint ID, source and destination address,
//! protocol, and two L4 keys (ports, or ICMP type and code; see
//! [`crate::space`]). Rules are compiled separately per IP family (IPv4
//! addresses as u32 keys, IPv6 as u128), each family holding only the rules
//! that can match it, renumbered densely in file order. This also keeps an
//! IPv4 rule from matching an IPv4-mapped address inside an IPv6 packet.
//!
//! Per field, the key space is cut at every rule boundary into elementary
//! intervals (sorted start points, found by binary search; the protocol is a
//! 256-entry table). Each interval points at a bitset of the rules whose
//! range covers it. Identical bitsets are stored once. A bitset is `S`
//! summary words (summary bit `i`: "rule word `i` is not zero") followed by
//! the `W = ceil(rules/64)` rule words (dense), or, when at most half of them
//! are non-zero, only those (sparse, found by rank: a popcount of the
//! summary). Fields where most rules are wildcards are dense; specific ones
//! (one host, one port per rule) are sparse.
//!
//! Lookup: six binary searches; AND the six summary words; for each
//! surviving bit AND the six rule words, most selective field first and
//! stopping at the first zero; the lowest set bit is the first matching rule.
//! With 10k random rules that visits 3-4 rule words on average. No
//! allocation, no locks; the structure is immutable after compilation, so it
//! is `Send + Sync` and one snapshot is shared by all workers.
//!
//! Decision trees (HiCuts/HyperCuts) can use less memory on large sets but
//! need heuristics and replicate rules; elementary intervals give an exact
//! structure with a predictable lookup, easy to test against the reference.
//!
//! # Memory
//! Per family and field: up to `2r+1` intervals (one start key and one
//! 8-byte offset each) and one bitset per distinct interval content, of at
//! most `(S + W) * 8` bytes. Dense bitsets make the worst case quadratic:
//! 10k random rules with mostly-wildcard fields take 18 MiB, 1k 0.3 MiB;
//! 16384 rules for 16384 different hosts take 0.9 MiB thanks to the sparse
//! form (33 MiB without it). Rules that share sets and ports share bitsets.
//! `memory_bytes` gives the real figure, and [`Classifier::compile_within`]
//! refuses a rule set whose tables would pass a budget, so an adversarial
//! file fails to load instead of exhausting memory.
//!
//! # Fragments and unknown L4
//! A later fragment (or any packet whose L4 header is not read) has L4 keys
//! `L4_UNKNOWN`: it matches only rules without port or ICMP type/code
//! constraints, like nftables' port matches fail on such packets. The flow
//! table should give later fragments the verdict of their first fragment
//! where it can. ICMP echo is keyed by its family's type (8/0 for IPv4,
//! 128/129 for IPv6) with code 0.

use crate::model::{Rule, RuleAction, RuleSet};
use crate::space::{family_index, merge, Ranges, RuleSpace, Step, L4_UNKNOWN};
use std::collections::HashMap;
use std::hash::BuildHasher;
use tollgate_wire::summary::{Fragment, InnerSummary, IpVersion, L4Summary};

/// The classifier's decision for the first packet of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match {
    /// Index (file order) of the rule that matched; `None` for the default.
    pub rule: Option<u32>,
    pub action: RuleAction,
}

/// A rule set compiled for lookup. Build off the fast path with [`Classifier::compile`].
#[derive(Debug, Clone)]
pub struct Classifier {
    default_action: RuleAction,
    actions: Vec<RuleAction>,
    v4: FamilyTable<u32>,
    v6: FamilyTable<u128>,
}

/// The compiled tables would exceed the memory budget given to
/// [`Classifier::compile_within`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge {
    pub limit_bytes: usize,
}

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "compiled rule set would need more than {} MiB (the classifier's budget); \
             use fewer distinct addresses and ports, or sets shared between rules",
            self.limit_bytes >> 20
        )
    }
}

impl std::error::Error for TooLarge {}

impl Classifier {
    /// Compiles without a memory limit: for rule sets from trusted code.
    pub fn compile(rules: &RuleSet) -> Classifier {
        match Classifier::compile_within(rules, usize::MAX) {
            Ok(c) => c,
            // The budget is all of memory: allocation fails before it is reached.
            Err(TooLarge { .. }) => unreachable!("unlimited budget"),
        }
    }

    /// Compiles, giving up once the bitset pool (the term that grows with
    /// rules x distinct boundaries) passes `limit_bytes`. The control plane
    /// uses this on operator files so that an adversarial file fails with an
    /// error instead of exhausting memory.
    pub fn compile_within(rules: &RuleSet, limit_bytes: usize) -> Result<Classifier, TooLarge> {
        let spaces: Vec<RuleSpace> = rules.rules().iter().map(RuleSpace::of).collect();
        let too_large = TooLarge { limit_bytes };
        let limit_words = limit_bytes / 8;
        let v4 = FamilyTable::build(&spaces, IpVersion::V4, |a| a as u32, limit_words)
            .ok_or(too_large)?;
        let v6 = FamilyTable::build(&spaces, IpVersion::V6, |a| a, limit_words - v4.pool.len())
            .ok_or(too_large)?;
        Ok(Classifier {
            default_action: rules.default_action(),
            actions: rules.rules().iter().map(|r: &Rule| r.action).collect(),
            v4,
            v6,
        })
    }

    /// First matching rule for a flow's first packet seen on `endpoint`.
    #[inline]
    pub fn classify(&self, endpoint: u64, pkt: &InnerSummary) -> Match {
        let (l4_a, l4_b) = l4_keys(pkt);
        let found = match pkt.version {
            // IPv4 addresses are IPv4-mapped: the low 32 bits are the address.
            IpVersion::V4 => self.v4.lookup(
                endpoint,
                pkt.src as u32,
                pkt.dst as u32,
                pkt.protocol,
                l4_a,
                l4_b,
            ),
            IpVersion::V6 => self
                .v6
                .lookup(endpoint, pkt.src, pkt.dst, pkt.protocol, l4_a, l4_b),
        };
        match found {
            Some(rule) => Match {
                rule: Some(rule),
                action: self.actions[rule as usize],
            },
            None => Match {
                rule: None,
                action: self.default_action,
            },
        }
    }

    pub fn default_action(&self) -> RuleAction {
        self.default_action
    }

    /// Heap bytes held by the compiled tables.
    pub fn memory_bytes(&self) -> usize {
        self.actions.len() + self.v4.memory_bytes() + self.v6.memory_bytes()
    }
}

/// The two L4 keys (see [`crate::space`]).
#[inline]
fn l4_keys(pkt: &InnerSummary) -> (u32, u32) {
    if pkt.fragment == Fragment::Later {
        return (L4_UNKNOWN, L4_UNKNOWN);
    }
    match pkt.l4 {
        L4Summary::Tcp {
            src_port, dst_port, ..
        }
        | L4Summary::Udp { src_port, dst_port } => (u32::from(src_port), u32::from(dst_port)),
        L4Summary::IcmpEcho { request, .. } => {
            let icmp_type = match (pkt.version, request) {
                (IpVersion::V4, true) => 8,
                (IpVersion::V4, false) => 0,
                (IpVersion::V6, true) => 128,
                (IpVersion::V6, false) => 129,
            };
            (icmp_type, 0)
        }
        L4Summary::IcmpError {
            icmp_type, code, ..
        }
        | L4Summary::IcmpOther { icmp_type, code } => (u32::from(icmp_type), u32::from(code)),
        L4Summary::Other => (L4_UNKNOWN, L4_UNKNOWN),
    }
}

/// One field's elementary intervals: `starts[i]` begins interval `i`
/// (`starts[0]` is the key type's minimum), `sets[i]` is its bitset's offset
/// in the pool.
#[derive(Debug, Clone)]
struct Intervals<K> {
    starts: Vec<K>,
    sets: Vec<usize>,
}

impl<K: Copy + Ord> Intervals<K> {
    #[inline]
    fn lookup(&self, key: K) -> usize {
        // starts[0] is the minimum key, so the partition point is at least 1.
        let i = self.starts.partition_point(|&s| s <= key);
        self.sets[i - 1]
    }

    fn memory_bytes(&self) -> usize {
        self.starts.len() * std::mem::size_of::<K>()
            + self.sets.len() * std::mem::size_of::<usize>()
    }
}

/// The rules of one IP family.
#[derive(Debug, Clone)]
struct FamilyTable<A> {
    /// Dense family index to rule index in file order.
    rule_index: Vec<u32>,
    summary_words: usize,
    /// All distinct bitsets, each `summary_words` summary words followed by
    /// the rule words the summary marks non-zero (see `PoolBuilder::intern`).
    pool: Vec<u64>,
    endpoint: Intervals<u64>,
    src: Intervals<A>,
    dst: Intervals<A>,
    protocol: [usize; 256],
    l4_a: Intervals<u32>,
    l4_b: Intervals<u32>,
}

impl<A: Copy + Ord + Step + Default> FamilyTable<A> {
    /// `None` when the pool would pass `limit_words`.
    fn build(
        spaces: &[RuleSpace],
        version: IpVersion,
        key: impl Fn(u128) -> A,
        limit_words: usize,
    ) -> Option<Self> {
        let fi = family_index(version);
        let members: Vec<(u32, &RuleSpace)> = spaces
            .iter()
            .enumerate()
            .filter(|(_, s)| s.families[fi].is_some())
            .map(|(i, s)| (i as u32, s))
            .collect();
        let n = members.len();
        let rule_words = n.div_ceil(64);
        let summary_words = rule_words.div_ceil(64);
        let mut pool = PoolBuilder {
            summary_words,
            rule_words,
            limit_words,
            pool: Vec::new(),
            seen: HashMap::new(),
            stored: Vec::new(),
        };

        let addr = |pick: fn(&crate::space::FamilySpace) -> &Ranges<u128>| -> Vec<Ranges<A>> {
            members
                .iter()
                .map(|(_, s)| {
                    let fam = s.families[fi].as_ref().map(pick);
                    merge(
                        fam.into_iter()
                            .flatten()
                            .map(|&(lo, hi)| (key(lo), key(hi)))
                            .collect(),
                    )
                })
                .collect()
        };
        let src = pool.intervals(&addr(|f| &f.src))?;
        let dst = pool.intervals(&addr(|f| &f.dst))?;
        let endpoint = pool.intervals(&column(&members, |s| &s.endpoints))?;
        let l4_a = pool.intervals(&column(&members, |s| &s.l4_a))?;
        let l4_b = pool.intervals(&column(&members, |s| &s.l4_b))?;
        let mut protocol = [0usize; 256];
        for (p, slot) in protocol.iter_mut().enumerate() {
            let mut bits = vec![0u64; rule_words];
            for (dense, (_, s)) in members.iter().enumerate() {
                if s.protocol.is_none() || s.protocol.map(usize::from) == Some(p) {
                    bits[dense / 64] |= 1 << (dense % 64);
                }
            }
            *slot = pool.intern(&bits)?;
        }

        Some(FamilyTable {
            rule_index: members.iter().map(|&(i, _)| i).collect(),
            summary_words,
            pool: {
                let mut p = pool.pool;
                p.shrink_to_fit();
                p
            },
            endpoint,
            src,
            dst,
            protocol,
            l4_a,
            l4_b,
        })
    }

    #[inline]
    fn lookup(
        &self,
        endpoint: u64,
        src: A,
        dst: A,
        protocol: u8,
        l4_a: u32,
        l4_b: u32,
    ) -> Option<u32> {
        // Most selective fields first, so that the word loop can stop early.
        let offsets = [
            self.dst.lookup(dst),
            self.l4_b.lookup(l4_b),
            self.src.lookup(src),
            self.endpoint.lookup(endpoint),
            self.protocol[usize::from(protocol)],
            self.l4_a.lookup(l4_a),
        ];
        let sets = offsets.map(|o| &self.pool[o >> 1..]);
        let sparse = offsets.map(|o| o & 1 == 1);
        let head = self.summary_words;
        // Per sparse field, how many stored words precede summary word `s`.
        let mut stored_before = [0usize; 6];
        for s in 0..head {
            let summaries = sets.map(|b| b[s]);
            let mut candidates = summaries.iter().fold(u64::MAX, |acc, m| acc & m);
            while candidates != 0 {
                let bit = candidates.trailing_zeros();
                // Where rule word `s * 64 + bit` is stored: in place, or at its
                // rank among the non-zero words.
                let at = |k: usize| {
                    if sparse[k] {
                        let below = (1u64 << bit) - 1;
                        head + stored_before[k] + (summaries[k] & below).count_ones() as usize
                    } else {
                        head + s * 64 + bit as usize
                    }
                };
                let mut word = sets[0][at(0)];
                for (k, b) in sets.iter().enumerate().skip(1) {
                    if word == 0 {
                        break;
                    }
                    word &= b[at(k)];
                }
                if word != 0 {
                    let dense = (s * 64 + bit as usize) * 64 + word.trailing_zeros() as usize;
                    return Some(self.rule_index[dense]);
                }
                candidates &= candidates - 1;
            }
            for k in 0..6 {
                if sparse[k] {
                    stored_before[k] += summaries[k].count_ones() as usize;
                }
            }
        }
        None
    }

    fn memory_bytes(&self) -> usize {
        self.rule_index.len() * 4
            + self.pool.capacity() * 8
            + std::mem::size_of_val(&self.protocol)
            + self.endpoint.memory_bytes()
            + self.src.memory_bytes()
            + self.dst.memory_bytes()
            + self.l4_a.memory_bytes()
            + self.l4_b.memory_bytes()
    }
}

/// Deduplicating store of bitsets during compilation.
struct PoolBuilder {
    summary_words: usize,
    rule_words: usize,
    limit_words: usize,
    pool: Vec<u64>,
    /// Hash of a stored form to where it is (`intern`'s encoding); the form
    /// itself is read back from the pool, so the pool is not held twice.
    seen: HashMap<u64, usize>,
    /// Scratch space for the stored form being interned.
    stored: Vec<u64>,
}

impl PoolBuilder {
    /// Where the stored form of `bits` (all rule words) is, as
    /// `pool offset << 1 | sparse`. Stored form: the summary words, then
    /// either every rule word (dense) or, when at most half are non-zero,
    /// only the non-zero ones in order (sparse: found by rank, saving memory
    /// where rules are specific, e.g. one host each). Added if new; `None`
    /// past the word limit.
    fn intern(&mut self, bits: &[u64]) -> Option<usize> {
        debug_assert_eq!(bits.len(), self.rule_words);
        let non_zero = bits.iter().filter(|&&w| w != 0).count();
        let sparse = non_zero * 2 <= bits.len();
        let mut stored = std::mem::take(&mut self.stored);
        stored.clear();
        stored.resize(self.summary_words, 0);
        for (w, &word) in bits.iter().enumerate() {
            if word != 0 {
                stored[w / 64] |= 1 << (w % 64);
            }
            if word != 0 || !sparse {
                stored.push(word);
            }
        }
        let located = self.store(&stored, sparse);
        self.stored = stored;
        located
    }

    /// Finds or appends a stored form. A dense form is longer than any
    /// sparse one, so the forms cannot collide; a hash collision between
    /// different forms only costs a copy.
    fn store(&mut self, stored: &[u64], sparse: bool) -> Option<usize> {
        let hash = self.seen.hasher().hash_one(stored);
        if let Some(&located) = self.seen.get(&hash) {
            if self.stored_form(located) == stored {
                return Some(located);
            }
        }
        // Checked before the pool grows, and the pool never reserves past
        // the budget (a doubling Vec could take twice it): a rule set over
        // budget allocates no more.
        let offset = self.pool.len();
        let needed = offset + stored.len();
        if needed > self.limit_words {
            return None;
        }
        if needed > self.pool.capacity() {
            let grown = (self.pool.capacity() * 2).clamp(needed, self.limit_words);
            self.pool.reserve_exact(grown - offset);
        }
        self.pool.extend_from_slice(stored);
        let located = offset << 1 | usize::from(sparse);
        self.seen.entry(hash).or_insert(located);
        Some(located)
    }

    /// The stored form at `located` (`intern`'s encoding).
    fn stored_form(&self, located: usize) -> &[u64] {
        let at = located >> 1;
        let summary = &self.pool[at..at + self.summary_words];
        let words = if located & 1 == 1 {
            summary.iter().map(|w| w.count_ones() as usize).sum()
        } else {
            self.rule_words
        };
        &self.pool[at..at + self.summary_words + words]
    }

    /// Elementary intervals of one field; `per_rule[d]` are dense rule `d`'s merged ranges.
    fn intervals<K: Copy + Ord + Step + Default>(
        &mut self,
        per_rule: &[Ranges<K>],
    ) -> Option<Intervals<K>> {
        // (point, dense rule, true = enters / false = leaves)
        let mut events: Vec<(K, u32, bool)> = Vec::new();
        for (d, ranges) in per_rule.iter().enumerate() {
            for &(lo, hi) in ranges {
                events.push((lo, d as u32, true));
                if let Some(after) = hi.next() {
                    events.push((after, d as u32, false));
                }
            }
        }
        events.sort_unstable_by_key(|e| e.0);
        let mut bits = vec![0u64; self.rule_words];
        let mut starts = vec![K::default()];
        let mut sets = Vec::new();
        let mut i = 0;
        // Events at the minimum key apply before the first interval is emitted.
        while i < events.len() && events[i].0 == K::default() {
            apply(&mut bits, events[i]);
            i += 1;
        }
        sets.push(self.intern(&bits)?);
        while i < events.len() {
            let point = events[i].0;
            while i < events.len() && events[i].0 == point {
                apply(&mut bits, events[i]);
                i += 1;
            }
            let set = self.intern(&bits)?;
            // Adjacent intervals with the same rules are one interval.
            if sets.last() != Some(&set) {
                starts.push(point);
                sets.push(set);
            }
        }
        Some(Intervals { starts, sets })
    }
}

fn apply<K>(bits: &mut [u64], (_, rule, enters): (K, u32, bool)) {
    let (w, b) = (rule as usize / 64, rule % 64);
    if enters {
        bits[w] |= 1 << b;
    } else {
        bits[w] &= !(1 << b);
    }
}

/// One field of every member rule, in member order.
fn column<T: Clone>(members: &[(u32, &RuleSpace)], pick: impl Fn(&RuleSpace) -> &T) -> Vec<T> {
    members.iter().map(|(_, s)| pick(s).clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{OnRuleChange, PortRange};
    use tollgate_wire::ipv4::protocol;
    use tollgate_wire::summary::ipv4_mapped;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn classifier_is_shareable_between_workers() {
        assert_send_sync::<Classifier>();
    }

    fn pkt(version: IpVersion, protocol: u8, fragment: Fragment, l4: L4Summary) -> InnerSummary {
        let (src, dst) = match version {
            IpVersion::V4 => (ipv4_mapped([10, 0, 0, 1]), ipv4_mapped([10, 0, 0, 2])),
            IpVersion::V6 => (0x2001_0db8 << 96 | 1, 0x2001_0db8 << 96 | 2),
        };
        InnerSummary {
            version,
            src,
            dst,
            protocol,
            fragment,
            l4,
            l4_offset: 0,
            total_len: 0,
        }
    }

    #[test]
    fn later_fragments_match_only_rules_without_l4_constraints() {
        let mut port_rule = Rule::any("tcp-80", RuleAction::Pass);
        port_rule.protocol = Some(protocol::TCP);
        port_rule.dst_port = Some(vec![PortRange { lo: 80, hi: 80 }]);
        let mut tcp_rule = Rule::any("tcp", RuleAction::Reject);
        tcp_rule.protocol = Some(protocol::TCP);
        let set = RuleSet::from_rules(
            RuleAction::Drop,
            OnRuleChange::Keep,
            vec![port_rule, tcp_rule],
        );
        let c = Classifier::compile(&set);
        let first = L4Summary::Tcp {
            src_port: 9,
            dst_port: 80,
            flags: 0,
            seq: 0,
            ack: 0,
            window: 0,
            payload_len: 0,
            window_scale: None,
        };
        assert_eq!(
            c.classify(0, &pkt(IpVersion::V4, 6, Fragment::First, first))
                .rule,
            Some(0)
        );
        // Ports unknown: the port rule cannot match, the port-less TCP rule does.
        let later = pkt(IpVersion::V4, 6, Fragment::Later, L4Summary::Other);
        assert_eq!(
            c.classify(0, &later),
            Match {
                rule: Some(1),
                action: RuleAction::Reject
            }
        );
        // Even if a summary carried ports on a later fragment, they are not trusted.
        assert_eq!(
            c.classify(0, &pkt(IpVersion::V4, 6, Fragment::Later, first))
                .rule,
            Some(1)
        );
    }

    #[test]
    fn icmp_echo_is_keyed_by_its_family_type() {
        let mut ping = Rule::any("ping", RuleAction::Pass);
        ping.protocol = Some(protocol::ICMP);
        ping.icmp_type = Some(vec![PortRange { lo: 8, hi: 8 }]);
        let mut ping6 = Rule::any("ping6", RuleAction::Pass);
        ping6.protocol = Some(protocol::ICMPV6);
        ping6.icmp_type = Some(vec![PortRange { lo: 128, hi: 128 }]);
        let set = RuleSet::from_rules(RuleAction::Drop, OnRuleChange::Keep, vec![ping, ping6]);
        let c = Classifier::compile(&set);
        let echo = |request| L4Summary::IcmpEcho { request, ident: 7 };
        assert_eq!(
            c.classify(0, &pkt(IpVersion::V4, 1, Fragment::None, echo(true)))
                .rule,
            Some(0)
        );
        assert_eq!(
            c.classify(0, &pkt(IpVersion::V4, 1, Fragment::None, echo(false)))
                .rule,
            None
        );
        assert_eq!(
            c.classify(0, &pkt(IpVersion::V6, 58, Fragment::None, echo(true)))
                .rule,
            Some(1)
        );
        let m = c.classify(0, &pkt(IpVersion::V6, 58, Fragment::None, echo(false)));
        assert_eq!(
            m,
            Match {
                rule: None,
                action: RuleAction::Drop
            }
        );
    }

    #[test]
    fn compile_within_refuses_a_set_past_its_budget() {
        // 600 rules with distinct destination ports: 600 distinct stored bitsets of 2 words.
        let rules: Vec<Rule> = (1..=600u16)
            .map(|p| {
                let mut r = Rule::any(format!("r{p}"), RuleAction::Pass);
                r.protocol = Some(protocol::TCP);
                r.dst_port = Some(vec![PortRange {
                    lo: p * 50,
                    hi: p * 50,
                }]);
                r
            })
            .collect();
        let set = RuleSet::from_rules(RuleAction::Drop, OnRuleChange::Keep, rules);
        let needed = Classifier::compile(&set).memory_bytes();
        let refused = Classifier::compile_within(&set, 4096);
        assert!(
            matches!(refused, Err(TooLarge { limit_bytes: 4096 })),
            "compiled within 4 KiB"
        );
        let c = Classifier::compile_within(&set, needed).expect("fits in what compile used");
        let tcp = L4Summary::Tcp {
            src_port: 1,
            dst_port: 500,
            flags: 0,
            seq: 0,
            ack: 0,
            window: 0,
            payload_len: 0,
            window_scale: None,
        };
        assert_eq!(
            c.classify(0, &pkt(IpVersion::V4, 6, Fragment::None, tcp))
                .rule,
            Some(9)
        );
    }

    #[test]
    fn the_pool_never_reserves_past_its_budget() {
        let mut pool = PoolBuilder {
            summary_words: 1,
            rule_words: 2,
            limit_words: 10,
            pool: Vec::new(),
            seen: HashMap::new(),
            stored: Vec::new(),
        };
        // Dense forms of 3 words: three fit in 10 words, a fourth does not.
        for (i, bits) in [[1u64, 1], [2, 2], [3, 3]].iter().enumerate() {
            assert_eq!(pool.intern(bits), Some((i * 3) << 1));
            assert!(pool.pool.capacity() <= 10, "{}", pool.pool.capacity());
        }
        assert_eq!(pool.intern(&[1, 1]), Some(0), "found again, not stored");
        assert_eq!(pool.intern(&[4, 4]), None);
        assert!(pool.pool.capacity() <= 10);
    }

    #[test]
    fn one_host_per_rule_is_stored_sparsely() {
        let rules: Vec<Rule> = (0..2000u32)
            .map(|i| {
                let mut r = Rule::any(format!("h{i}"), RuleAction::Pass);
                let addr = ipv4_mapped((0x0a00_0000 + i).to_be_bytes());
                r.dst = crate::model::AddrMatch::Cidrs(
                    vec![crate::model::Cidr {
                        version: IpVersion::V4,
                        addr,
                        prefix_len: 32,
                    }]
                    .into(),
                );
                r
            })
            .collect();
        let c = Classifier::compile(&RuleSet::from_rules(
            RuleAction::Drop,
            OnRuleChange::Keep,
            rules,
        ));
        // Dense, the 2000 destination bitsets alone would take 2000 * 33 words * 8 B = 528 KB.
        assert!(c.memory_bytes() < 150_000, "{} bytes", c.memory_bytes());
        let mut p = pkt(
            IpVersion::V4,
            17,
            Fragment::None,
            L4Summary::Udp {
                src_port: 1,
                dst_port: 2,
            },
        );
        p.dst = ipv4_mapped([10, 0, 7, 207]);
        assert_eq!(c.classify(0, &p).rule, Some(7 * 256 + 207));
    }

    #[test]
    fn empty_rule_set_gives_the_default() {
        let c = Classifier::compile(&RuleSet::from_rules(
            RuleAction::Pass,
            OnRuleChange::Flush,
            Vec::new(),
        ));
        let m = c.classify(
            5,
            &pkt(
                IpVersion::V6,
                17,
                Fragment::None,
                L4Summary::Udp {
                    src_port: 1,
                    dst_port: 2,
                },
            ),
        );
        assert_eq!(
            m,
            Match {
                rule: None,
                action: RuleAction::Pass
            }
        );
    }
}
