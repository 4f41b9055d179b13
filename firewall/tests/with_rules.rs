//! The firewall driven by the real compiled rule set of `tollgate-rules`.

mod common;

use std::sync::Arc;

use common::*;
use tollgate_firewall::{DropReason, Firewall, FlowState, OnRuleChange, Verdict};
use tollgate_rules::{parse, Classifier};

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

fn load(text: &str) -> (Arc<Classifier>, OnRuleChange) {
    let parsed = parse(text, "rules.toml").expect("valid rules");
    let change = parsed.rules.on_rule_change().into();
    (Arc::new(Classifier::compile(&parsed.rules)), change)
}

#[test]
fn compiled_rules_decide_new_flows() {
    let mut fw: Firewall<Classifier> = Firewall::new(small_config()).unwrap();
    let (rules, change) = load(RULES);
    assert_eq!(change, OnRuleChange::Revalidate);
    fw.set_rules(rules, 1, change);

    let c = (v4(10, 1, 0, 10), 40000);
    let web = (v4(10, 2, 0, 20), 443);
    let ssh = (v4(10, 2, 0, 20), 22);
    let d = fw.process(0, EP, &tcp(c, web, SYN, 1, 0, 0));
    assert_eq!(
        (d.verdict, d.rule, d.flow_created),
        (Verdict::Pass, Some(0), true)
    );
    let d = fw.process(1, EP, &tcp(web, c, SYN | ACK, 9, 2, 0));
    assert_eq!((d.verdict, d.rule), (Verdict::Pass, None));
    let d = fw.process(2, EP, &tcp(c, ssh, SYN, 1, 0, 0));
    assert_eq!((d.verdict, d.rule), (Verdict::Reject, Some(1)));
    let d = fw.process(3, EP, &udp(c, (web.0, 53)));
    assert_eq!(
        (d.verdict, d.rule),
        (Verdict::Drop(DropReason::RuleDenied), None)
    );

    // Replace with a set that drops web: revalidation denies the flow.
    let (rules, change) = load(&RULES.replace("action = \"pass\"", "action = \"drop\""));
    fw.set_rules(rules, 2, change);
    let ack = tcp(web, c, ACK, 10, 2, 0);
    let d = fw.process(4, EP, &ack);
    assert_eq!(
        (d.verdict, d.rule),
        (Verdict::Drop(DropReason::RuleDenied), Some(0))
    );
    assert_eq!(state_of(&fw, 4, EP, &ack), Some(FlowState::Denied));
}
