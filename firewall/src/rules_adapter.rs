//! The real rule set: `tollgate_rules::Classifier` seen through
//! [`Classify`], and its enums mapped onto this crate's.

use tollgate_wire::InnerSummary;

use crate::classify::{Action, Classify, OnRuleChange, RuleMatch};

impl Classify for tollgate_rules::Classifier {
    #[inline]
    fn classify(&self, endpoint: u64, pkt: &InnerSummary) -> RuleMatch {
        let m = tollgate_rules::Classifier::classify(self, endpoint, pkt);
        RuleMatch {
            rule: m.rule,
            action: m.action.into(),
        }
    }
}

impl From<tollgate_rules::Action> for Action {
    fn from(a: tollgate_rules::Action) -> Action {
        match a {
            tollgate_rules::Action::Pass => Action::Pass,
            tollgate_rules::Action::Drop => Action::Drop,
            tollgate_rules::Action::Reject => Action::Reject,
        }
    }
}

impl From<tollgate_rules::OnRuleChange> for OnRuleChange {
    fn from(c: tollgate_rules::OnRuleChange) -> OnRuleChange {
        match c {
            tollgate_rules::OnRuleChange::Keep => OnRuleChange::Keep,
            tollgate_rules::OnRuleChange::Revalidate => OnRuleChange::Revalidate,
            tollgate_rules::OnRuleChange::Flush => OnRuleChange::Flush,
        }
    }
}
