//! A loaded rule set as the workers share it: the compiled classifier plus
//! what the counters and the control plane need to name its rules.
//!
//! The one adapter between the rule language and the firewall: the
//! firewall knows only its [`Classify`] seam, the rules crate knows nothing
//! of flows, and this crate, above both, maps one onto the other.

use tollgate_firewall::{Classify, FlowAction, OnRuleChange, RuleMatch};
use tollgate_rules::{Classifier, RuleAction, RuleSet, Warning};
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
            on_rule_change: on_rule_change(rules.on_rule_change()),
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
        let m = self.classifier.classify(endpoint, pkt);
        RuleMatch {
            rule: m.rule,
            action: flow_action(m.action),
        }
    }
}

#[inline]
fn flow_action(a: RuleAction) -> FlowAction {
    match a {
        RuleAction::Pass => FlowAction::Pass,
        RuleAction::Drop => FlowAction::Drop,
        RuleAction::Reject => FlowAction::Reject,
    }
}

fn on_rule_change(c: tollgate_rules::OnRuleChange) -> OnRuleChange {
    match c {
        tollgate_rules::OnRuleChange::Keep => OnRuleChange::Keep,
        tollgate_rules::OnRuleChange::Revalidate => OnRuleChange::Revalidate,
        tollgate_rules::OnRuleChange::Flush => OnRuleChange::Flush,
    }
}

#[cfg(test)]
mod tests {
    //! The firewall driven by the real compiled rule set.

    use std::sync::Arc;

    use tollgate_firewall::{DropReason, Firewall, FirewallConfig, FlowKey, FlowState, Verdict};
    use tollgate_wire::ipv4::protocol;
    use tollgate_wire::summary::tcp_flags::{ACK, SYN};
    use tollgate_wire::summary::{ipv4_mapped, Fragment, IpVersion, L4Summary};

    use super::*;

    const EP: u64 = 0x0123_4567_89ab_cdef;

    const RULES: &str = r#"
default_action = "drop"
on_rule_change = "revalidate"

[[rule]]
id = "web"
action = "pass"
protocol = "tcp"
dst = "10.2.0.0/16"
dst_port = 443

[[rule]]
id = "no-ssh"
action = "reject"
protocol = "tcp"
dst_port = 22
"#;

    type Addr = (u128, u16);

    fn v4(a: u8, b: u8, c: u8, d: u8) -> u128 {
        ipv4_mapped([a, b, c, d])
    }

    fn packet(src: u128, dst: u128, protocol: u8, l4: L4Summary) -> InnerSummary {
        InnerSummary {
            version: IpVersion::V4,
            src,
            dst,
            protocol,
            fragment: Fragment::None,
            l4,
            l4_offset: 20,
            total_len: 60,
        }
    }

    fn tcp(src: Addr, dst: Addr, flags: u8, seq: u32, ack: u32) -> InnerSummary {
        let l4 = L4Summary::Tcp {
            src_port: src.1,
            dst_port: dst.1,
            flags,
            seq,
            ack,
            window: 65535,
            payload_len: 0,
            window_scale: None,
        };
        packet(src.0, dst.0, protocol::TCP, l4)
    }

    fn udp(src: Addr, dst: Addr) -> InnerSummary {
        let l4 = L4Summary::Udp {
            src_port: src.1,
            dst_port: dst.1,
        };
        packet(src.0, dst.0, protocol::UDP, l4)
    }

    fn state_of(fw: &Firewall<RuleSnapshot>, now_ns: u64, pkt: &InnerSummary) -> Option<FlowState> {
        let (key, _) = FlowKey::of_packet(EP, pkt);
        fw.flows(now_ns).find(|f| f.key == key).map(|f| f.state)
    }

    fn load(text: &str, generation: u64) -> (Arc<RuleSnapshot>, OnRuleChange) {
        let snapshot =
            RuleSnapshot::from_text(text, "rules.toml", generation).expect("valid rules");
        let change = snapshot.on_rule_change;
        (Arc::new(snapshot), change)
    }

    #[test]
    fn compiled_rules_decide_new_flows() {
        let mut fw: Firewall<RuleSnapshot> = Firewall::new(FirewallConfig {
            capacity: 1024,
            ..FirewallConfig::default()
        })
        .unwrap();
        let (rules, change) = load(RULES, 1);
        assert_eq!(change, OnRuleChange::Revalidate);
        fw.set_rules(rules, 1, change);

        let c = (v4(10, 1, 0, 10), 40000);
        let web = (v4(10, 2, 0, 20), 443);
        let ssh = (v4(10, 2, 0, 20), 22);
        let d = fw.process(0, EP, &tcp(c, web, SYN, 1, 0));
        assert_eq!(
            (d.verdict, d.rule, d.flow_created),
            (Verdict::Pass, Some(0), true)
        );
        let d = fw.process(1, EP, &tcp(web, c, SYN | ACK, 9, 2));
        assert_eq!((d.verdict, d.rule), (Verdict::Pass, None));
        let d = fw.process(2, EP, &tcp(c, ssh, SYN, 1, 0));
        assert_eq!((d.verdict, d.rule), (Verdict::Reject, Some(1)));
        let d = fw.process(3, EP, &udp(c, (web.0, 53)));
        assert_eq!(
            (d.verdict, d.rule),
            (Verdict::Drop(DropReason::RuleDenied), None)
        );

        // Replace with a set that drops web: revalidation denies the flow.
        let (rules, change) = load(&RULES.replace("action = \"pass\"", "action = \"drop\""), 2);
        fw.set_rules(rules, 2, change);
        let ack = tcp(web, c, ACK, 10, 2);
        let d = fw.process(4, EP, &ack);
        assert_eq!(
            (d.verdict, d.rule),
            (Verdict::Drop(DropReason::RuleDenied), Some(0))
        );
        assert_eq!(state_of(&fw, 4, &ack), Some(FlowState::Denied));
    }

    #[test]
    fn every_on_rule_change_maps_to_its_namesake() {
        for (text, want) in [
            ("keep", OnRuleChange::Keep),
            ("revalidate", OnRuleChange::Revalidate),
            ("flush", OnRuleChange::Flush),
        ] {
            let rules = RULES.replace("\"revalidate\"", &format!("\"{text}\""));
            assert_eq!(load(&rules, 1).1, want, "{text}");
        }
    }
}
