//! Each of the rule file's stated limits gives one precise error naming
//! the rule (where there is one), the field and the count.

use tollgate_rules::parse;

fn errors_of(text: &str) -> Vec<String> {
    match parse(text, "t.toml") {
        Ok(p) => panic!("accepted {} rules", p.rules.len()),
        Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
    }
}

/// `n` comma-separated copies of `item` in brackets.
fn list(item: &str, n: usize) -> String {
    let mut s = String::with_capacity(n * (item.len() + 1) + 2);
    s.push('[');
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        s.push_str(item);
    }
    s.push(']');
    s
}

/// A set named `name` of `n` distinct IPv4 /32s.
fn set_of(name: &str, n: usize) -> String {
    let hosts: Vec<String> = (0..n)
        .map(|i| format!("\"10.{}.{}.{}\"", i >> 16, (i >> 8) & 255, i & 255))
        .collect();
    format!("{name} = [{}]\n", hosts.join(","))
}

#[test]
fn a_file_over_four_mebibytes_is_refused_before_parsing() {
    let mut text = String::from("default_action = \"drop\"\n");
    text.push_str(&"#".repeat((4 << 20) + 1 - text.len()));
    assert_eq!(
        errors_of(&text),
        ["t.toml:1: file is 4194305 bytes (at most 4194304)"]
    );
}

#[test]
fn a_file_of_too_many_values_is_refused_before_parsing() {
    // 600k list items in 1.2 MB: under the size limit, over the value limit.
    let text = format!(
        "default_action = \"drop\"\n[[rule]]\nid = \"r\"\naction = \"pass\"\nprotocol = \"tcp\"\ndst_port = {}\n",
        list("1", 600_000)
    );
    assert_eq!(
        errors_of(&text),
        ["t.toml:6: more than 524288 values (keys, list items and tables) in the file (at most 524288)"]
    );
}

#[test]
fn an_id_over_64_bytes_is_refused() {
    let long = "x".repeat(65);
    let ok = "y".repeat(64);
    let text = format!(
        "default_action = \"drop\"\n[[rule]]\nid = \"{long}\"\naction = \"pass\"\n[[rule]]\nid = \"{ok}\"\naction = \"pass\"\n"
    );
    assert_eq!(
        errors_of(&text),
        [format!(
            "t.toml:3: rule \"{long}\": id: 65 bytes (at most 64: ids label metrics and must stay distinct there)"
        )]
    );
    // Bytes, not characters: 33 two-byte characters are 66 bytes.
    let wide = "é".repeat(33);
    let text = format!("default_action = \"drop\"\n[[rule]]\nid = \"{wide}\"\naction = \"pass\"\n");
    assert_eq!(
        errors_of(&text),
        [format!(
            "t.toml:3: rule \"{wide}\": id: 66 bytes (at most 64: ids label metrics and must stay distinct there)"
        )]
    );
}

#[test]
fn a_set_over_65536_prefixes_is_refused() {
    let text = format!(
        "default_action = \"drop\"\n[sets]\n{}",
        set_of("big", 65537)
    );
    assert_eq!(
        errors_of(&text),
        ["t.toml:3: set \"big\": 65537 prefixes (at most 65536 in one set)"]
    );
}

#[test]
fn more_than_65536_set_references_are_refused() {
    // 40000 references in each of two rules: the second passes the limit.
    let refs = list("\"$one\"", 40_000);
    let text = format!(
        "default_action = \"drop\"\n[sets]\none = \"10.0.0.1\"\n[[rule]]\nid = \"a\"\naction = \"pass\"\nsrc = {refs}\n[[rule]]\nid = \"b\"\naction = \"pass\"\ndst = {refs}\n"
    );
    assert_eq!(
        errors_of(&text),
        ["t.toml:11: rule \"b\": dst: 40000 set references bring the file's total to 80000 (at most 65536)"]
    );
}

#[test]
fn more_than_262144_prefixes_after_expansion_are_refused() {
    // A set of 2,000 prefixes: 131 references are 262,000, the 132nd passes the limit.
    let mut text = format!("default_action = \"drop\"\n[sets]\n{}", set_of("big", 2000));
    for i in 0..132 {
        text.push_str(&format!(
            "[[rule]]\nid = \"r{i}\"\naction = \"pass\"\nprotocol = \"tcp\"\ndst_port = {}\nsrc = \"$big\"\n",
            i + 1
        ));
    }
    // Rule r131 starts at line 4 + 131 * 6; its src is its sixth line.
    assert_eq!(
        errors_of(&text),
        ["t.toml:795: rule \"r131\": src: 2000 prefixes (after expanding sets) bring the file's total to 264000 (at most 262144)"]
    );
}

#[test]
fn more_than_262144_port_ranges_are_refused() {
    let mut text = String::from("default_action = \"drop\"\n");
    for i in 0..5 {
        text.push_str(&format!(
            "[[rule]]\nid = \"r{i}\"\naction = \"pass\"\nprotocol = \"udp\"\nsrc_port = {}\n",
            list("7", 60_000)
        ));
    }
    assert_eq!(
        errors_of(&text),
        ["t.toml:26: rule \"r4\": src_port: 60000 ranges bring the file's total to 300000 (at most 262144)"]
    );
}

#[test]
fn at_most_100_errors_are_listed_and_the_rest_counted() {
    let mut text = String::from("default_action = \"drop\"\n");
    for i in 0..250 {
        text.push_str(&format!("[[rule]]\nid = \"r{i}\"\naction = \"allow\"\n"));
    }
    let errors = errors_of(&text);
    assert_eq!(errors.len(), 101, "{errors:?}");
    assert_eq!(
        errors[0],
        "t.toml:4: rule \"r0\": action: expected \"pass\", \"drop\" or \"reject\", found \"allow\""
    );
    assert_eq!(errors[100], "t.toml:304: 150 more errors not listed");
}

#[test]
fn unknown_set_hints_list_at_most_ten_names() {
    let mut text = String::from("default_action = \"drop\"\n[sets]\n");
    for i in 0..12 {
        text.push_str(&format!("s{i} = \"10.0.0.{i}\"\n"));
    }
    text.push_str("[[rule]]\nid = \"a\"\naction = \"pass\"\nsrc = \"$nope\"\n");
    assert_eq!(
        errors_of(&text),
        ["t.toml:18: rule \"a\": src: unknown set \"$nope\" (sets defined: s0, s1, s2, s3, s4, s5, s6, s7, s8, s9 and 2 more)"]
    );
}
