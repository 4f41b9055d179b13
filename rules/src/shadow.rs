//! Warnings for rules that can never match because one earlier rule
//! already matches every packet they would (first match wins).
//!
//! Pairwise, O(n²) in the worst case but each pair usually fails on its
//! first field; rules covered only by the union of several earlier rules
//! are not detected. The work is bounded by [`SHADOW_CHECK_BUDGET`]: past
//! it the check stops with a warning naming the first rule not checked.

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
    let mut warnings = Vec::new();
    let mut spent = 0u64;
    for (j, later) in spaces.iter().enumerate() {
        let weight = later.range_count() as u64;
        let mut covering = None;
        let mut over_budget = false;
        for (i, (envelope, earlier)) in envelopes[..j].iter().zip(&spaces[..j]).enumerate() {
            spent += 1;
            if envelopes[j].may_be_covered_by(envelope) {
                spent += weight;
                if later.is_covered_by(earlier) {
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
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Action;

    #[test]
    fn stops_with_a_warning_once_the_budget_is_spent() {
        let rules: Vec<Rule> = (0..10)
            .map(|i| {
                let mut r = Rule::any(format!("r{i}"), Action::Pass);
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
