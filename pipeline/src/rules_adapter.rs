//! A loaded rule set as the workers share it: the compiled classifier plus
//! what the counters and the control plane need to name its rules.

use tollgate_firewall::{Classify, OnRuleChange, RuleMatch};
use tollgate_rules::{Classifier, RuleSet, Warning};
use tollgate_wire::InnerSummary;

/// Memory one compiled rule set may take; the classifier's tables can grow
/// quadratically with adversarial rule sets, so a limit turns that into a
/// clear rejection instead of an out-of-memory dataplane.
pub const CLASSIFIER_MEMORY_LIMIT: usize = 512 << 20;

/// An immutable, compiled rule set; workers hold it behind an `Arc`.
#[derive(Debug)]
pub struct RuleSnapshot {
    pub generation: u64,
    pub on_rule_change: OnRuleChange,
    pub rule_ids: Vec<String>,
    /// Rules that can never match, reported when the set was loaded.
    pub warnings: Vec<Warning>,
    classifier: Classifier,
}

impl RuleSnapshot {
    /// Compiles a validated rule set (off the fast path).
    pub fn compile(rules: &RuleSet, generation: u64) -> Result<RuleSnapshot, String> {
        let classifier = Classifier::compile_within(rules, CLASSIFIER_MEMORY_LIMIT)
            .map_err(|e| format!("rule set does not compile: {e}"))?;
        Ok(RuleSnapshot {
            generation,
            on_rule_change: rules.on_rule_change().into(),
            rule_ids: rules.rule_ids().map(str::to_owned).collect(),
            warnings: Vec::new(),
            classifier,
        })
    }

    /// Parses, validates and compiles rule-file text (off the fast path).
    /// The error lists every problem, one per line.
    pub fn from_text(text: &str, origin: &str, generation: u64) -> Result<RuleSnapshot, String> {
        let parsed = tollgate_rules::parse(text, origin).map_err(|e| e.to_string())?;
        let mut snapshot = Self::compile(&parsed.rules, generation)?;
        snapshot.warnings = parsed.warnings;
        Ok(snapshot)
    }
}

impl Classify for RuleSnapshot {
    #[inline]
    fn classify(&self, endpoint: u64, pkt: &InnerSummary) -> RuleMatch {
        Classify::classify(&self.classifier, endpoint, pkt)
    }
}
