//! Rule files of a given size for the benchmarks: rule `k` passes UDP to
//! the `k`-th server address (see [`crate::frames::server_addr`]); the
//! default drops. Traffic spread over `n` servers therefore hits every rule.

use std::fmt::Write;

use crate::frames::server_addr;

pub fn rules_text(n: u32) -> String {
    rules_text_for(n, "udp")
}

/// [`rules_text`] for `protocol` ("udp" or "tcp") to port 53.
pub fn rules_text_for(n: u32, protocol: &str) -> String {
    let mut s = String::from("default_action = \"drop\"\non_rule_change = \"keep\"\n");
    for k in 0..n {
        let [a, b, c, d] = server_addr(k);
        // Writing to a String cannot fail.
        let _ = write!(
            s,
            "\n[[rule]]\nid = \"svc-{k}\"\naction = \"pass\"\nprotocol = \"{protocol}\"\ndst = \"{a}.{b}.{c}.{d}\"\ndst_port = 53\n"
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_pipeline::RuleSnapshot;

    #[test]
    fn generated_rules_compile_with_one_id_per_rule() {
        for n in [1, 10, 1000] {
            let snap = RuleSnapshot::from_text(&rules_text(n), "gen", 1).unwrap();
            assert_eq!(snap.rule_ids.len(), n as usize);
        }
    }
}
