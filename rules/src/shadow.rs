//! Warnings for rules that can never match because one earlier rule
//! already matches every packet they would (first match wins).
//!
//! Pairwise, O(n²) in the worst case but each pair usually fails on its
//! first field; rules covered only by the union of several earlier rules
//! are not detected.

use crate::error::Warning;
use crate::model::Rule;
use crate::space::{Envelope, RuleSpace};

pub(crate) fn shadow_warnings(rules: &[Rule], origin: &str) -> Vec<Warning> {
    let spaces: Vec<RuleSpace> = rules.iter().map(RuleSpace::of).collect();
    let envelopes: Vec<Envelope> = spaces.iter().map(Envelope::of).collect();
    let mut warnings = Vec::new();
    for (j, later) in spaces.iter().enumerate() {
        let covering = envelopes[..j]
            .iter()
            .zip(&spaces[..j])
            .position(|(envelope, earlier)| {
                envelopes[j].may_be_covered_by(envelope) && later.is_covered_by(earlier)
            });
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
