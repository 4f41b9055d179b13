//! The compiled classifier against the linear reference evaluator, on random
//! rule files (rendered to TOML and parsed, so sets and syntax are covered)
//! and random packets.

mod common;

use common::{model_file, packet, ModelFile};
use proptest::prelude::*;
use tollgate_rules::{parse, Classifier};

fn compile(model: &ModelFile) -> Classifier {
    let text = model.render();
    let parsed = parse(&text, "gen.toml")
        .unwrap_or_else(|e| panic!("generated file rejected:\n{e}\n{text}"));
    assert_eq!(parsed.rules.len(), model.rules.len());
    Classifier::compile(&parsed.rules)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn classifier_agrees_with_reference(
        model in model_file(24),
        packets in prop::collection::vec(packet(), 48),
    ) {
        let classifier = compile(&model);
        let text = model.render();
        let parsed = parse(&text, "gen.toml").unwrap();
        // A rule warned as never matching must indeed never be the reference's answer.
        let shadowed: Vec<u32> = parsed
            .warnings
            .iter()
            .map(|w| parsed.rules.rule_ids().position(|id| Some(id) == w.rule_id.as_deref()).unwrap() as u32)
            .collect();
        for (endpoint, pkt) in &packets {
            let expected = model.reference(*endpoint, pkt);
            prop_assert_eq!(classifier.classify(*endpoint, pkt), expected, "packet {:?}", pkt);
            prop_assert!(!matches!(expected.rule, Some(r) if shadowed.contains(&r)), "shadowed rule matched: {:?}", expected);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Several rule words per bitset. Rules are scoped to endpoints in
    /// blocks of 64, so endpoint bitsets hold one non-zero word and are
    /// stored sparse (rank-indexed), next to dense ones for other fields.
    #[test]
    fn classifier_agrees_with_reference_on_hundreds_of_rules(
        mut model in model_file(400),
        mut packets in prop::collection::vec((packet(), 0u64..8, any::<bool>()), 200),
    ) {
        for (i, rule) in model.rules.iter_mut().enumerate() {
            rule.endpoints = vec![1000 + (i / 64) as u64];
        }
        let packets: Vec<_> = packets
            .drain(..)
            .map(|((endpoint, pkt), block, scoped)| (if scoped { 1000 + block } else { endpoint }, pkt))
            .collect();
        let classifier = compile(&model);
        for (endpoint, pkt) in &packets {
            prop_assert_eq!(classifier.classify(*endpoint, pkt), model.reference(*endpoint, pkt), "packet {:?}", pkt);
        }
    }
}

/// More than 4096 rules: several summary words and many rule words.
#[test]
fn classifier_agrees_with_reference_on_a_large_set() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, TestRunner};
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        proptest::test_runner::TestRng::deterministic_rng(
            proptest::test_runner::RngAlgorithm::ChaCha,
        ),
    );
    let rule = model_file(2).new_tree(&mut runner).unwrap().current();
    let mut big = model_file(2).new_tree(&mut runner).unwrap().current();
    big.rules.clear();
    // Endpoint-scoped rules, then a few broad ones.
    while big.rules.len() < 7000 {
        let m = model_file(8).new_tree(&mut runner).unwrap().current();
        for mut r in m.rules {
            // Scope each rule to one of 300 endpoints so that a packet on one
            // of them meets a rule every 300 and can fall through far.
            r.endpoints = vec![1000 + (big.rules.len() % 300) as u64];
            // Set references point into this model's sets; keep only literal CIDRs.
            for side in [&mut r.src, &mut r.dst] {
                if let Some(items) = side {
                    items.retain(|i| matches!(i, common::AddrItem::Cidr(_)));
                    if items.is_empty() {
                        *side = None;
                    }
                }
            }
            if big.is_valid(&r) {
                big.rules.push(r);
            }
        }
    }
    big.rules.extend(rule.rules);
    let classifier = compile(&big);
    let mut pkts = prop::collection::vec(packet(), 3000)
        .new_tree(&mut runner)
        .unwrap()
        .current();
    for (i, (endpoint, _)) in pkts.iter_mut().enumerate() {
        if i % 3 != 0 {
            *endpoint = 1000 + (i as u64 * 7919) % 300;
        }
    }
    let mut matched_late = 0;
    for (endpoint, pkt) in &pkts {
        let expected = big.reference(*endpoint, pkt);
        assert_eq!(
            classifier.classify(*endpoint, pkt),
            expected,
            "packet {pkt:?}"
        );
        // The classifier numbers rules per family: count in that numbering.
        if let Some(r) = expected.rule {
            let dense = big.rules[..r as usize]
                .iter()
                .filter(|m| big.applies_to(m, pkt.version))
                .count();
            if dense >= 4096 {
                matched_late += 1;
            }
        }
    }
    // The cases must reach past the first summary word to test it.
    assert!(
        matched_late > 0,
        "no packet matched a rule beyond the first summary word"
    );
}
