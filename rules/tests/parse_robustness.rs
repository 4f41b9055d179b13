//! Damaged rule files never panic the parser: they parse or give errors
//! that each point at a line of the file.

use proptest::prelude::*;
use tollgate_rules::parse;

const EXAMPLE: &str = include_str!("../../configs/rules.example.toml");

/// Replace, delete or insert bytes drawn from TOML's own syntax.
fn mutate(text: &str, edits: &[(usize, u8, u8)]) -> String {
    const PIECES: &[&str] = &[
        "\"",
        "[",
        "]",
        "=",
        ",",
        "-",
        "$",
        "/",
        "\n",
        "0",
        "65536",
        "::",
        "any",
        "x",
        "[[rule]]\n",
        "{",
        "}",
        "é",
    ];
    let mut s = text.to_owned();
    for &(at, kind, piece) in edits {
        let mut at = at % (s.len() + 1);
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        let piece = PIECES[usize::from(piece) % PIECES.len()];
        match kind % 3 {
            0 => s.insert_str(at, piece),
            1 => {
                let end = (at + piece.len()).min(s.len());
                let end = (end..=s.len())
                    .find(|&e| s.is_char_boundary(e))
                    .unwrap_or(s.len());
                s.replace_range(at..end, "");
            }
            _ => {
                let end = (at + 1..=s.len())
                    .find(|&e| s.is_char_boundary(e))
                    .unwrap_or(s.len());
                s.replace_range(at..end, piece);
            }
        }
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn damaged_files_give_located_errors(edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..6)) {
        let text = mutate(EXAMPLE, &edits);
        let lines = text.lines().count().max(1) as u32 + 1;
        if let Err(errors) = parse(&text, "m.toml") {
            prop_assert!(!errors.0.is_empty());
            for e in &errors.0 {
                prop_assert!(e.line >= 1 && e.line <= lines, "line {} of {}: {}", e.line, lines, e);
                prop_assert!(!e.message.is_empty());
                prop_assert!(!e.to_string().contains('\n'), "multi-line message: {}", e);
            }
        }
    }
}

#[test]
fn exactly_16384_rules_are_accepted() {
    let mut text = String::from("default_action = \"drop\"\n");
    for i in 0..16384 {
        text.push_str(&format!(
            "[[rule]]\nid = \"r{i}\"\naction = \"pass\"\nprotocol = {}\n",
            i % 256
        ));
    }
    let parsed = parse(&text, "t.toml").unwrap();
    assert_eq!(parsed.rules.len(), 16384);
    // Rule i+256 repeats rule i's protocol: every rule after the first 256 is shadowed.
    assert_eq!(parsed.warnings.len(), 16384 - 256);
}
