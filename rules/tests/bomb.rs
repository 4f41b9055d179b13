//! Rule-file bombs: small files that would expand into gigabytes fail with
//! a precise error, in bounded time and memory. Alone in their test binary
//! so that the process's peak RSS (VmHWM) is theirs.

use std::time::{Duration, Instant};
use tollgate_rules::parse;

/// Peak resident memory of this process so far.
fn peak_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kib << 10
}

const BUDGET: u64 = 512 << 20;

#[test]
fn a_set_of_2000_prefixes_referenced_30000_times_fails_fast_and_small() {
    let mut text = String::from("default_action = \"drop\"\n[sets]\nbig = [");
    for i in 0..2000 {
        text.push_str(&format!("\"10.{}.{}.0/24\",", i >> 8, i & 255));
    }
    text.push_str("]\n[[rule]]\nid = \"bomb\"\naction = \"pass\"\nsrc = [");
    text.push_str(&vec!["\"$big\""; 30_000].join(","));
    text.push_str("]\n");
    assert!(text.len() < 300 << 10, "a small file: {} bytes", text.len());

    let start = Instant::now();
    let errors = parse(&text, "bomb.toml").expect_err("refused");
    let took = start.elapsed();
    let shown: Vec<String> = errors.0.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        shown,
        ["bomb.toml:7: rule \"bomb\": src: 60000000 prefixes (after expanding sets) bring the file's total to 60000000 (at most 262144)"]
    );
    assert!(took < Duration::from_secs(20), "took {took:?}");
    let peak = peak_rss_bytes();
    assert!(peak < BUDGET, "peak RSS {} MiB", peak >> 20);
}

#[test]
fn four_mebibytes_of_list_items_stay_under_the_memory_budget() {
    // The file-size limit alone would let the TOML tree take ~450 MiB here.
    let mut text = String::from("default_action = \"drop\"\nx = [");
    while text.len() < (4 << 20) - 8 {
        text.push_str("1,");
    }
    text.push_str("1]\n");
    let errors = parse(&text, "ints.toml").expect_err("refused");
    assert!(
        errors.0[0].message.starts_with("more than 524288 values"),
        "{errors}"
    );
    let peak = peak_rss_bytes();
    assert!(peak < BUDGET, "peak RSS {} MiB", peak >> 20);
}
