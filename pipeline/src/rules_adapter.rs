//! A loaded rule set as the workers share it: the compiled classifier plus
//! what the counters and the control plane need to name its rules.

use tollgate_firewall::{Action as FwAction, Classify, OnRuleChange as FwOnRuleChange, RuleMatch};
use tollgate_rules::{Action, Classifier, OnRuleChange, RuleErrors, RuleSet};
use tollgate_wire::InnerSummary;

/// An immutable, compiled rule set; workers hold it behind an `Arc`.
#[derive(Debug)]
pub struct RuleSnapshot {
    pub generation: u64,
    pub on_rule_change: OnRuleChange,
    pub rule_ids: Vec<String>,
    classifier: Classifier,
}

impl RuleSnapshot {
    pub fn compile(rules: &RuleSet, generation: u64) -> RuleSnapshot {
        RuleSnapshot {
            generation,
            on_rule_change: rules.on_rule_change(),
            rule_ids: rules.rule_ids().map(str::to_owned).collect(),
            classifier: Classifier::compile(rules),
        }
    }

    /// Parses, validates and compiles rule-file text (off the fast path).
    pub fn from_text(
        text: &str,
        origin: &str,
        generation: u64,
    ) -> Result<RuleSnapshot, RuleErrors> {
        let parsed = tollgate_rules::parse(text, origin)?;
        Ok(Self::compile(&parsed.rules, generation))
    }

    /// `on_rule_change` in the firewall's terms.
    pub fn firewall_on_change(&self) -> FwOnRuleChange {
        match self.on_rule_change {
            OnRuleChange::Keep => FwOnRuleChange::Keep,
            OnRuleChange::Revalidate => FwOnRuleChange::Revalidate,
            OnRuleChange::Flush => FwOnRuleChange::Flush,
        }
    }
}

impl Classify for RuleSnapshot {
    #[inline]
    fn classify(&self, endpoint: u64, pkt: &InnerSummary) -> RuleMatch {
        let m = self.classifier.classify(endpoint, pkt);
        RuleMatch {
            rule: m.rule,
            action: match m.action {
                Action::Pass => FwAction::Pass,
                Action::Drop => FwAction::Drop,
                Action::Reject => FwAction::Reject,
            },
        }
    }
}
