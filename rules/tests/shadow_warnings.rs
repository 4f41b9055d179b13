//! Table tests for "can never match" warnings: a later rule whose whole
//! match space one earlier rule already covers.

use tollgate_rules::parse;

const HEAD: &str = "default_action = \"drop\"
[sets]
web = [\"10.1.11.0/24\", \"2001:db8:1::/64\"]
";

/// Two rules `a` (line 5) and `b` (line 9 + lines of a's body).
fn pair(a: &str, b: &str) -> String {
    format!("{HEAD}\n[[rule]]\nid = \"a\"\naction = \"pass\"\n{a}\n\n[[rule]]\nid = \"b\"\naction = \"drop\"\n{b}\n")
}

fn warnings_of(text: &str) -> Vec<String> {
    match parse(text, "t.toml") {
        Ok(p) => p.warnings.iter().map(|w| w.to_string()).collect(),
        Err(e) => panic!("rejected:\n{text}\n{e}"),
    }
}

#[test]
fn covered_rules_are_reported_with_both_lines() {
    let shadowed =
        "t.toml:10: rule \"b\": can never match: rule \"a\" (line 5) matches every packet it would";
    let rows: &[(&str, &str, bool)] = &[
        ("src = \"any\"", "src = \"any\"", true),
        (
            "protocol = \"tcp\"\ndst = \"10.0.0.0/8\"",
            "protocol = \"tcp\"\ndst = \"10.1.0.0/16\"\ndst_port = 443",
            true,
        ),
        // Broader ports in the later rule: not covered.
        (
            "protocol = \"tcp\"\ndst_port = \"1-1000\"",
            "protocol = \"tcp\"\ndst_port = \"900-1100\"",
            false,
        ),
        // Ports 1-65535 on both sides still miss later fragments, which b matches.
        (
            "protocol = \"tcp\"\nsrc_port = \"1-65535\"\ndst_port = \"1-65535\"",
            "protocol = \"tcp\"",
            false,
        ),
        (
            "protocol = \"tcp\"\ndst_port = [\"1-100\", \"101-200\"]",
            "protocol = \"tcp\"\ndst_port = \"50-150\"",
            true,
        ),
        // Scoped earlier rule does not cover an unscoped later one, the reverse does.
        ("endpoint = \"0x1\"", "protocol = \"udp\"", false),
        (
            "protocol = \"udp\"",
            "protocol = \"udp\"\nendpoint = [\"0x1\", \"0x2\"]",
            true,
        ),
        // b matches IPv6 through $web, a only IPv4.
        ("dst = \"10.0.0.0/8\"", "dst = \"$web\"", false),
        (
            "dst = [\"10.0.0.0/8\", \"2001:db8::/32\"]",
            "dst = \"$web\"",
            true,
        ),
        (
            "protocol = \"icmp\"",
            "protocol = \"icmp\"\nicmp_type = 8\nicmp_code = 0",
            true,
        ),
        (
            "protocol = \"icmp\"\nicmp_type = 8",
            "protocol = \"icmp\"",
            false,
        ),
        ("protocol = \"tcp\"", "protocol = \"udp\"", false),
        ("protocol = \"any\"", "protocol = 47", true),
        // icmp restricts a to IPv4: it covers an IPv4-only b.
        (
            "protocol = 1",
            "protocol = \"icmp\"\nsrc = \"10.0.0.0/8\"",
            true,
        ),
    ];
    for (a, b, covered) in rows {
        let text = pair(a, b);
        let lines = a.lines().count() as u32;
        let expected: Vec<String> = if *covered {
            vec![shadowed.replace("t.toml:10:", &format!("t.toml:{}:", 9 + lines))]
        } else {
            Vec::new()
        };
        assert_eq!(warnings_of(&text), expected, "a: {a}\nb: {b}");
    }
}
