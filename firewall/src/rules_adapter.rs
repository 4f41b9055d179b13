//! The real rule set: `tollgate_rules::Classifier` seen through
//! [`Classify`], and its enums mapped onto this crate's.

use tollgate_wire::InnerSummary;

use crate::classify::{Classify, FlowAction, OnRuleChange, RuleMatch};

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

impl From<tollgate_rules::RuleAction> for FlowAction {
    fn from(a: tollgate_rules::RuleAction) -> FlowAction {
        match a {
            tollgate_rules::RuleAction::Pass => FlowAction::Pass,
            tollgate_rules::RuleAction::Drop => FlowAction::Drop,
            tollgate_rules::RuleAction::Reject => FlowAction::Reject,
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
