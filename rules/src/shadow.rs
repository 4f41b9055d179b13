//! Warnings for rules that can never match because one earlier rule
//! already matches every packet they would (first match wins).
//!
//! Only earlier rules whose destination span (lowest to highest address)
//! holds the later rule's can cover it, and the smallest CIDR block around
//! such a span is an ancestor of the smallest block around the later one:
//! indexing earlier rules by that block finds the candidates with at most
//! 129 lookups, so a list of distinct hosts or networks costs about n log n
//! instead of n². Rules with wide destinations ("any") are candidates for
//! everything after them, which is quadratic again; the work is bounded by
//! [`SHADOW_CHECK_BUDGET`], past which the check stops with a warning
//! naming the first rule not checked. Rules covered only by the union of
//! several earlier rules are not detected.

use std::collections::HashMap;

use crate::error::Warning;
use crate::limits::SHADOW_CHECK_BUDGET;
use crate::model::Rule;
use crate::space::{Envelope, RuleSpace};

pub(crate) fn shadow_warnings(rules: &[Rule], origin: &str) -> Vec<Warning> {
    shadow_warnings_within(rules, origin, SHADOW_CHECK_BUDGET)
}

/// The check with a work budget: one unit per pair of rules compared, plus
/// the later rule's range count for each full comparison. Checked after
/// each comparison, so one comparison is the most it can overrun.
pub(crate) fn shadow_warnings_within(rules: &[Rule], origin: &str, budget: u64) -> Vec<Warning> {
    let spaces: Vec<RuleSpace> = rules.iter().map(RuleSpace::of).collect();
    let envelopes: Vec<Envelope> = spaces.iter().map(Envelope::of).collect();
    // Per family, earlier rules by the smallest CIDR block around their
    // destination span, in file order.
    let mut by_block: [HashMap<(u8, u128), Vec<u32>>; 2] = Default::default();
    let mut candidates: Vec<u32> = Vec::new();
    let mut warnings = Vec::new();
    let mut spent = 0u64;
    for (j, later) in spaces.iter().enumerate() {
        candidates.clear();
        match envelopes[j].first_dst_span() {
            Some((f, lo, hi)) => {
                let (len, _) = block(lo, hi);
                for l in 0..=len {
                    if let Some(list) = by_block[f].get(&(l, lo & prefix_mask(l))) {
                        candidates.extend_from_slice(list);
                    }
                }
                candidates.sort_unstable();
            }
            // A rule of no family is covered by anything; check every earlier rule.
            None => candidates.extend(0..j as u32),
        }
        let weight = later.range_count() as u64;
        let mut covering = None;
        let mut over_budget = false;
        for &i in &candidates {
            let i = i as usize;
            spent += 1;
            if envelopes[j].may_be_covered_by(&envelopes[i]) {
                spent += weight;
                if later.is_covered_by(&spaces[i]) {
                    covering = Some(i);
                    break;
                }
            }
            if spent > budget {
                over_budget = true;
                break;
            }
        }
        if over_budget {
            warnings.push(Warning {
                origin: origin.to_owned(),
                line: rules[j].line,
                rule_id: Some(rules[j].id.clone()),
                message: format!(
                    "shadow check stopped here: its budget of {budget} comparisons is spent; \
                     this rule and the {} after it were not checked for being unreachable",
                    rules.len() - j - 1
                ),
            });
            break;
        }
        if let Some(i) = covering {
            warnings.push(Warning {
                origin: origin.to_owned(),
                line: rules[j].line,
                rule_id: Some(rules[j].id.clone()),
                message: format!(
                    "can never match: rule \"{}\" (line {}) matches every packet it would",
                    rules[i].id, rules[i].line
                ),
            });
        }
        for (f, index) in by_block.iter_mut().enumerate() {
            if let Some((lo, hi)) = envelopes[j].dst_span(f) {
                index.entry(block(lo, hi)).or_default().push(j as u32);
            }
        }
    }
    warnings
}

/// The smallest CIDR block holding `lo..=hi`, as (prefix length, network).
fn block(lo: u128, hi: u128) -> (u8, u128) {
    let len = (lo ^ hi).leading_zeros().min(128) as u8;
    (len, lo & prefix_mask(len))
}

/// The top `len` bits set.
fn prefix_mask(len: u8) -> u128 {
    match len {
        0 => 0,
        l => u128::MAX << (128 - u32::from(l)),
    }
}

/// The check as it was before the index: every earlier rule, in order.
#[cfg(test)]
fn pairwise_reference(rules: &[Rule]) -> Vec<Option<usize>> {
    let spaces: Vec<RuleSpace> = rules.iter().map(RuleSpace::of).collect();
    let envelopes: Vec<Envelope> = spaces.iter().map(Envelope::of).collect();
    (0..rules.len())
        .map(|j| {
            (0..j).find(|&i| {
                envelopes[j].may_be_covered_by(&envelopes[i]) && spaces[j].is_covered_by(&spaces[i])
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RuleAction;

    use crate::model::{AddrMatch, PortRange};
    use crate::parse::parse_cidr;
    use proptest::prelude::*;
    use tollgate_wire::ipv4::protocol;

    const POOL: &[&str] = &[
        "0.0.0.0/0",
        "10.0.0.0/8",
        "10.1.0.0/16",
        "10.1.2.0/24",
        "10.1.2.3",
        "10.2.0.0/16",
        "192.0.2.0/24",
        "::/0",
        "2001:db8::/32",
        "2001:db8:1::/48",
        "2001:db8:1::7",
    ];

    fn addrs() -> impl Strategy<Value = AddrMatch> {
        prop_oneof![
            1 => Just(AddrMatch::Any),
            3 => prop::collection::vec(0..POOL.len(), 1..4).prop_map(|v| {
                AddrMatch::Cidrs(v.into_iter().map(|i| parse_cidr(POOL[i]).unwrap()).collect())
            }),
        ]
    }

    fn rule() -> impl Strategy<Value = Rule> {
        (
            0..3usize,
            addrs(),
            addrs(),
            prop::option::of((1u16..4, 0u16..3)),
        )
            .prop_map(|(p, src, dst, ports)| {
                let mut r = Rule::any("x", RuleAction::Pass);
                r.protocol = [None, Some(protocol::TCP), Some(protocol::UDP)][p];
                r.src = src;
                r.dst = dst;
                if r.protocol.is_some() {
                    r.dst_port = ports.map(|(lo, w)| {
                        vec![PortRange {
                            lo: lo * 10,
                            hi: lo * 10 + w,
                        }]
                    });
                }
                r
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn the_index_finds_what_the_pairwise_check_finds(mut rules in prop::collection::vec(rule(), 1..40)) {
            for (i, r) in rules.iter_mut().enumerate() {
                r.id = format!("r{i}");
                r.line = i as u32 + 1;
            }
            let expected: Vec<String> = pairwise_reference(&rules)
                .iter()
                .enumerate()
                .filter_map(|(j, c)| c.map(|i| format!(
                    "t.toml:{}: rule \"r{j}\": can never match: rule \"r{i}\" (line {}) matches every packet it would",
                    j + 1,
                    i + 1
                )))
                .collect();
            let got: Vec<String> = shadow_warnings_within(&rules, "t.toml", u64::MAX)
                .iter()
                .map(|w| w.to_string())
                .collect();
            prop_assert_eq!(got, expected);
        }
    }

    #[test]
    fn distinct_hosts_are_checked_without_comparing_every_pair() {
        let rules: Vec<Rule> = (0..4000u32)
            .map(|i| {
                let mut r = Rule::any(format!("h{i}"), RuleAction::Pass);
                r.line = i + 1;
                r.dst = AddrMatch::Cidrs(
                    vec![
                        parse_cidr(&std::net::Ipv4Addr::from(0x0a00_0000 + i).to_string()).unwrap(),
                    ]
                    .into(),
                );
                r
            })
            .collect();
        // Pairwise would take 8 million comparisons; the index needs none.
        assert!(shadow_warnings_within(&rules, "t.toml", 4000).is_empty());
    }

    #[test]
    fn stops_with_a_warning_once_the_budget_is_spent() {
        let rules: Vec<Rule> = (0..10)
            .map(|i| {
                let mut r = Rule::any(format!("r{i}"), RuleAction::Pass);
                r.line = i + 1;
                r.protocol = Some(i as u8);
                r
            })
            .collect();
        // Rule 0 compares with nothing; rule 1's first comparison passes a budget of 0.
        let w = shadow_warnings_within(&rules, "t.toml", 0);
        assert_eq!(w.len(), 1);
        assert_eq!(
            w[0].to_string(),
            "t.toml:2: rule \"r1\": shadow check stopped here: its budget of 0 comparisons is spent; \
             this rule and the 8 after it were not checked for being unreachable"
        );
        assert!(shadow_warnings_within(&rules, "t.toml", u64::MAX).is_empty());
    }
}
