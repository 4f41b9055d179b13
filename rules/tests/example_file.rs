//! The documented example rule file must parse cleanly and classify as its comments say.

use tollgate_rules::{parse, Classifier, RuleAction};
use tollgate_wire::summary::{ipv4_mapped, Fragment, InnerSummary, IpVersion, L4Summary};

const EXAMPLE: &str = include_str!("../../configs/rules.example.toml");

fn tcp_v4(src: [u8; 4], dst: [u8; 4], dst_port: u16) -> InnerSummary {
    InnerSummary {
        version: IpVersion::V4,
        src: ipv4_mapped(src),
        dst: ipv4_mapped(dst),
        protocol: 6,
        fragment: Fragment::None,
        l4: L4Summary::Tcp {
            src_port: 40000,
            dst_port,
            flags: 2,
            seq: 1,
            ack: 0,
            window: 1000,
            payload_len: 0,
            window_scale: None,
        },
        l4_offset: 20,
        total_len: 40,
    }
}

#[test]
fn example_parses_without_errors_or_warnings() {
    let parsed = parse(EXAMPLE, "rules.example.toml").unwrap_or_else(|e| panic!("{e}"));
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    assert_eq!(parsed.rules.default_action(), RuleAction::Drop);
    assert_eq!(parsed.rules.len(), 11);
    assert_eq!(parsed.rules.rule_ids().next(), Some("drop-blocked"));
}

#[test]
fn example_classifies_as_documented() {
    let parsed = parse(EXAMPLE, "rules.example.toml").unwrap();
    let c = Classifier::compile(&parsed.rules);
    let ids: Vec<&str> = parsed.rules.rule_ids().collect();
    let id_of = |m: tollgate_rules::Match| m.rule.map(|i| ids[i as usize]);

    let m = c.classify(1, &tcp_v4([1, 2, 3, 4], [10, 1, 11, 5], 443));
    assert_eq!((id_of(m), m.action), (Some("web-https"), RuleAction::Pass));
    let m = c.classify(1, &tcp_v4([203, 0, 113, 9], [10, 1, 11, 5], 443));
    assert_eq!(
        (id_of(m), m.action),
        (Some("drop-blocked"), RuleAction::Drop)
    );
    // Port 1024+ only through the partner's endpoints; elsewhere reject-other-tcp.
    let m = c.classify(
        0x1234_5678_9abc_def0,
        &tcp_v4([1, 2, 3, 4], [10, 9, 9, 9], 5000),
    );
    assert_eq!(id_of(m), Some("partner-vpce-only"));
    let m = c.classify(7, &tcp_v4([1, 2, 3, 4], [10, 9, 9, 9], 5000));
    assert_eq!(
        (id_of(m), m.action),
        (Some("reject-other-tcp"), RuleAction::Reject)
    );
    let mut udp = tcp_v4([1, 2, 3, 4], [10, 9, 9, 9], 0);
    udp.protocol = 17;
    udp.l4 = L4Summary::Udp {
        src_port: 5,
        dst_port: 123,
    };
    let m = c.classify(7, &udp);
    assert_eq!((m.rule, m.action), (None, RuleAction::Drop));
}
