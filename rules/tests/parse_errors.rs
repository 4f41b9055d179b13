//! Table tests: each kind of mistake in a rule file gives exactly this message.

use tollgate_rules::parse;

/// Lines 1-4; a rule built by `rule` starts at line 6 with its body at line 9.
const HEAD: &str = "default_action = \"drop\"
[sets]
web = [\"10.1.11.0/24\", \"2001:db8:1::/64\"]
db = [\"10.1.20.0/24\"]
";

fn rule(body: &str) -> String {
    format!("{HEAD}\n[[rule]]\nid = \"r\"\naction = \"pass\"\n{body}\n")
}

fn errors_of(text: &str) -> Vec<String> {
    match parse(text, "t.toml") {
        Ok(p) => panic!("accepted:\n{text}\nrules: {:?}", p.rules),
        Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn each_rule_error_has_its_exact_message() {
    let rows: &[(&str, &str)] = &[
        ("dst = \"$webb\"", "t.toml:9: rule \"r\": dst: unknown set \"$webb\" (sets defined: web, db)"),
        ("dst = \"10.0.0.0/33\"", "t.toml:9: rule \"r\": dst: bad CIDR \"10.0.0.0/33\": prefix length 33 exceeds 32"),
        ("dst = \"2001:db8::/129\"", "t.toml:9: rule \"r\": dst: bad CIDR \"2001:db8::/129\": prefix length 129 exceeds 128"),
        ("src = \"10.0.0.0/x\"", "t.toml:9: rule \"r\": src: bad CIDR \"10.0.0.0/x\": prefix length \"x\" is not a number 0-32"),
        (
            "src = \"10.1.2.3/24\"",
            "t.toml:9: rule \"r\": src: bad CIDR \"10.1.2.3/24\": host bits set (did you mean \"10.1.2.0/24\"?)",
        ),
        (
            "src = \"2001:db8::1/64\"",
            "t.toml:9: rule \"r\": src: bad CIDR \"2001:db8::1/64\": host bits set (did you mean \"2001:db8::/64\"?)",
        ),
        (
            "src = [\"10.0.0.0/8\", \"10.0.0.300\"]",
            "t.toml:9: rule \"r\": src: bad CIDR \"10.0.0.300\": \"10.0.0.300\" is not an IPv4 or IPv6 address",
        ),
        ("src = []", "t.toml:9: rule \"r\": src: empty list matches nothing"),
        ("src = [\"any\", \"$web\"]", "t.toml:9: rule \"r\": src: \"any\" cannot be part of a list"),
        ("src = 10", "t.toml:9: rule \"r\": src: expected a string, found an integer"),
        (
            "protocol = \"tcp\"\ndst_port = \"2000-1000\"",
            "t.toml:10: rule \"r\": dst_port: reversed range \"2000-1000\" (start must not exceed end)",
        ),
        ("protocol = \"tcp\"\ndst_port = 0", "t.toml:10: rule \"r\": dst_port: port 0 is not a valid port (use 1-65535)"),
        ("protocol = \"udp\"\nsrc_port = [53, 70000]", "t.toml:10: rule \"r\": src_port: port 70000 is out of range 1-65535"),
        ("protocol = \"tcp\"\ndst_port = \"0-80\"", "t.toml:10: rule \"r\": dst_port: port 0 is not a valid port (use 1-65535)"),
        (
            "protocol = \"tcp\"\ndst_port = \"http\"",
            "t.toml:10: rule \"r\": dst_port: bad port \"http\" (expected a number or \"low-high\")",
        ),
        (
            "protocol = \"icmp\"\ndst_port = 80",
            "t.toml:10: rule \"r\": dst_port: protocol icmp has no ports (ports need protocol tcp or udp)",
        ),
        ("src_port = 80", "t.toml:9: rule \"r\": src_port: protocol any has no ports (ports need protocol tcp or udp)"),
        ("protocol = 47\ndst_port = 80", "t.toml:10: rule \"r\": dst_port: protocol 47 has no ports (ports need protocol tcp or udp)"),
        (
            "protocol = \"tcp\"\nicmp_type = 8",
            "t.toml:10: rule \"r\": icmp_type: protocol tcp has no ICMP types (icmp_type needs protocol icmp or icmpv6)",
        ),
        ("protocol = \"icmp\"\nicmp_type = 256", "t.toml:10: rule \"r\": icmp_type: value 256 is out of range 0-255"),
        ("protocol = \"icmp\"\nicmp_code = 0", "t.toml:10: rule \"r\": icmp_code: needs icmp_type as well"),
        (
            "src = \"10.0.0.0/8\"\ndst = \"2001:db8::/32\"",
            "t.toml:10: rule \"r\": src is IPv4 only but dst is IPv6 only: the rule can never match",
        ),
        (
            "src = \"2001:db8::/32\"\ndst = \"$db\"",
            "t.toml:10: rule \"r\": src is IPv6 only but dst is IPv4 only: the rule can never match",
        ),
        (
            "protocol = \"icmp\"\ndst = \"2001:db8::/32\"",
            "t.toml:10: rule \"r\": protocol icmp is IPv4 only, but the addresses are IPv6 (use icmpv6)",
        ),
        (
            "protocol = \"icmpv6\"\nsrc = \"$db\"",
            "t.toml:10: rule \"r\": protocol icmpv6 is IPv6 only, but the addresses are IPv4 (use icmp)",
        ),
        (
            "protocol = \"tpc\"",
            "t.toml:9: rule \"r\": protocol: unknown protocol \"tpc\" (expected tcp, udp, icmp, icmpv6, any or a number 0-255)",
        ),
        ("protocol = 300", "t.toml:9: rule \"r\": protocol: 300 is out of range 0-255"),
        (
            "endpoint = \"vpce-123\"",
            "t.toml:9: rule \"r\": endpoint: bad endpoint id \"vpce-123\" (expected vpce-/eni- and 17 hex digits starting with 0, or 1-16 hex digits)",
        ),
        ("endpoint = []", "t.toml:9: rule \"r\": endpoint: empty list matches nothing"),
        ("dst_prot = 443", "t.toml:9: rule \"r\": unknown key \"dst_prot\" (did you mean \"dst_port\"?)"),
        (
            "colour = \"red\"",
            "t.toml:9: rule \"r\": unknown key \"colour\" (expected one of: id, action, protocol, src, dst, src_port, dst_port, icmp_type, icmp_code, endpoint)",
        ),
    ];
    for (body, expected) in rows {
        assert_eq!(errors_of(&rule(body)), [*expected], "body: {body}");
    }
}

#[test]
fn rule_header_errors_have_their_exact_message() {
    let rows: &[(&str, &[&str])] = &[
        ("[[rule]]\naction = \"pass\"", &["t.toml:6: missing id"]),
        ("[[rule]]\nid = \" \"\naction = \"pass\"", &["t.toml:7: id is empty"]),
        ("[[rule]]\nid = \"a\"", &["t.toml:6: rule \"a\": missing action (\"pass\", \"drop\" or \"reject\")"]),
        (
            "[[rule]]\nid = \"a\"\naction = \"allow\"",
            &["t.toml:8: rule \"a\": action: expected \"pass\", \"drop\" or \"reject\", found \"allow\""],
        ),
        ("[[rule]]\nid = \"a\"\naction = 1", &["t.toml:8: rule \"a\": action: expected a string, found an integer"]),
        (
            "[[rule]]\nid = \"a\"\naction = \"pass\"\n[[rule]]\nid = \"a\"\naction = \"drop\"",
            &["t.toml:10: rule \"a\": duplicate id (first used at line 7)"],
        ),
    ];
    for (tail, expected) in rows {
        let text = format!("{HEAD}\n{tail}\n");
        assert_eq!(errors_of(&text), *expected, "text: {text}");
    }
}

#[test]
fn file_level_errors_have_their_exact_message() {
    let rows: &[(&str, &[&str])] = &[
        ("on_rule_change = \"keep\"", &["t.toml:1: missing default_action (\"pass\" or \"drop\")"]),
        ("default_action = \"reject\"", &["t.toml:1: default_action: expected \"pass\" or \"drop\", found \"reject\""]),
        (
            "default_action = \"drop\"\non_rule_change = \"restart\"",
            &["t.toml:2: on_rule_change: expected \"keep\", \"revalidate\" or \"flush\", found \"restart\""],
        ),
        (
            "default_action = \"drop\"\ndefault_acton = \"pass\"",
            &["t.toml:2: unknown key \"default_acton\" (did you mean \"default_action\"?)"],
        ),
        (
            "default_action = \"drop\"\n[sets]\na = [\"$b\"]\nb = \"10.0.0.0/8\"\nc = []\nd = [\"10.0.0.1/8\"]",
            &[
                "t.toml:3: set \"a\": sets cannot refer to other sets (\"$b\")",
                "t.toml:5: set \"c\": empty list matches nothing",
                "t.toml:6: set \"d\": bad CIDR \"10.0.0.1/8\": host bits set (did you mean \"10.0.0.0/8\"?)",
            ],
        ),
        ("default_action = \"drop\"\nrule = 5", &["t.toml:2: rule: expected [[rule]] tables, found an integer"]),
        ("default_action = \"drop\"\nsets = [1]", &["t.toml:2: sets: expected a table, found an array"]),
        ("default_action = \"drop\"\n[[rule]\nid = 1", &["t.toml:2: TOML syntax: invalid table header; expected `.`, `]]`"]),
    ];
    for (text, expected) in rows {
        assert_eq!(errors_of(text), *expected, "text: {text}");
    }
}

#[test]
fn every_error_is_reported_not_just_the_first() {
    let text = format!(
        "{HEAD}\n[[rule]]\nid = \"a\"\naction = \"pass\"\ndst = \"$nope\"\n\n[[rule]]\nid = \"b\"\naction = \"pass\"\nprotocol = \"tcp\"\ndst_port = \"9-1\"\nsrc = \"1.2.3.4/33\"\n"
    );
    assert_eq!(
        errors_of(&text),
        [
            "t.toml:9: rule \"a\": dst: unknown set \"$nope\" (sets defined: web, db)",
            "t.toml:15: rule \"b\": dst_port: reversed range \"9-1\" (start must not exceed end)",
            "t.toml:16: rule \"b\": src: bad CIDR \"1.2.3.4/33\": prefix length 33 exceeds 32",
        ]
    );
}

#[test]
fn a_broken_set_is_not_also_reported_as_unknown() {
    let text = "default_action = \"drop\"\n[sets]\nweb = [\"10.0.0.1/8\"]\n[[rule]]\nid = \"a\"\naction = \"pass\"\ndst = \"$web\"\n";
    assert_eq!(
        errors_of(text),
        ["t.toml:3: set \"web\": bad CIDR \"10.0.0.1/8\": host bits set (did you mean \"10.0.0.0/8\"?)"]
    );
}

#[test]
fn more_than_16384_rules_are_refused() {
    let mut text = String::from("default_action = \"drop\"\n");
    for i in 0..=16384 {
        text.push_str(&format!(
            "[[rule]]\nid = \"r{i}\"\naction = \"pass\"\nprotocol = {}\n",
            i % 256
        ));
    }
    // Rule 16385 starts at line 2 + 16384 * 4.
    assert_eq!(
        errors_of(&text),
        ["t.toml:65538: too many rules: 16385 (at most 16384, the stats region's limit)"]
    );
}

#[test]
fn valid_values_parse_to_the_expected_rule() {
    let text = rule(
        "protocol = \"tcp\"\nsrc = [\"$web\", \"192.0.2.7\"]\nsrc_port = [\"1024-65535\", 7]\ndst_port = \"443\"\nendpoint = [\"vpce-0123456789abcdef0\", \"eni-00000000000000001\", \"ff\"]",
    );
    let parsed = parse(&text, "t.toml").unwrap();
    let r = &parsed.rules.rules()[0];
    assert_eq!(r.line, 6);
    assert_eq!(r.protocol, Some(6));
    let tollgate_rules::AddrMatch::Cidrs(src) = &r.src else {
        panic!("cidrs")
    };
    let shown: Vec<String> = src.iter().map(|c| c.to_string()).collect();
    assert_eq!(shown, ["10.1.11.0/24", "2001:db8:1::/64", "192.0.2.7/32"]);
    assert_eq!(r.dst, tollgate_rules::AddrMatch::Any);
    let ports = |v: &Option<Vec<tollgate_rules::PortRange>>| {
        v.as_ref()
            .unwrap()
            .iter()
            .map(|p| (p.lo, p.hi))
            .collect::<Vec<_>>()
    };
    assert_eq!(ports(&r.src_port), [(1024, 65535), (7, 7)]);
    assert_eq!(ports(&r.dst_port), [(443, 443)]);
    assert_eq!(r.endpoints, [0x1234_5678_9abc_def0, 1, 0xff]);
    assert_eq!(
        parsed.rules.on_rule_change(),
        tollgate_rules::OnRuleChange::Keep
    );
}
