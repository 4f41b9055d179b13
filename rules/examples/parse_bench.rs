//! Parse (and shadow check) time for a large allowlist: one TCP rule per
//! destination host, all different, the slow case for the pairwise check.
//!
//! `cargo run --release -p tollgate-rules --example parse_bench`

use std::time::Instant;

fn main() {
    let n = tollgate_rules::MAX_RULES;
    let mut text = String::from("default_action = \"drop\"\n");
    for i in 0..n {
        text.push_str(&format!(
            "[[rule]]\nid = \"host-{i}\"\naction = \"pass\"\nprotocol = \"tcp\"\ndst = \"10.{}.{}.{}/32\"\ndst_port = 443\n",
            i >> 16,
            (i >> 8) & 255,
            i & 255
        ));
    }
    let t = Instant::now();
    let parsed = tollgate_rules::parse(&text, "allowlist.toml").expect("parses");
    let parse_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let c = tollgate_rules::Classifier::compile(&parsed.rules);
    let compile_ms = t.elapsed().as_secs_f64() * 1e3;
    println!(
        "{n} host rules: parse + validate + shadow check {parse_ms:.0} ms, compile {compile_ms:.0} ms, {} KiB, {} warnings",
        c.memory_bytes() / 1024,
        parsed.warnings.len()
    );
}
