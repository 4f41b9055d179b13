//! Every target on its committed corpus (`corpus/TARGET/`, the seeds) and
//! regression inputs (`regressions/TARGET/`, inputs that once failed):
//! what the fuzzer checks, without the fuzzer.

use std::path::{Path, PathBuf};

fn inputs(dir: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn replay(target: &str) {
    let run = tollgate_fuzz::target(target).expect("a target of that name");
    let seeds = inputs("corpus", target);
    assert!(
        seeds.len() >= tollgate_fuzz::seeds::seeds(target).len(),
        "{target}: the committed corpus lacks seeds (run the tollgate-fuzz-seeds binary)"
    );
    for path in seeds.iter().chain(&inputs("regressions", target)) {
        let bytes = std::fs::read(path).expect("readable input");
        eprintln!("{target}: {}", path.display());
        run(&bytes);
    }
}

#[test]
fn express_corpus() {
    replay("express");
}

#[test]
fn pipeline_corpus() {
    replay("pipeline");
}

#[test]
fn ring_corpus() {
    replay("ring");
}

#[test]
fn message_corpus() {
    replay("message");
}

#[test]
fn rules_corpus() {
    replay("rules");
}

#[test]
fn responder_corpus() {
    replay("responder");
}

/// The generated seeds reach what they are meant to: without this a
/// harness that rejected everything early would pass the replay above.
#[test]
fn seeds_exercise_the_targets() {
    use tollgate_fuzz::seeds::seeds;
    let express = seeds("express");
    let accepted = express
        .iter()
        .filter(|(_, b)| tollgate_wire::parse_express(&b[1..]).is_some())
        .count();
    assert!(accepted >= 4, "express seeds accepted: {accepted}");
    let rules = seeds("rules");
    for (name, text) in &rules {
        let text = std::str::from_utf8(text).expect("seed rules are text");
        tollgate_rules::parse(text, name).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for (name, bytes) in seeds("message") {
        let ok = tollgate_shm::message::Request::decode(&bytes).is_ok()
            || tollgate_shm::message::Response::decode(&bytes).is_ok()
            || tollgate_shm::PacketMeta::decode(&bytes).is_ok();
        assert!(ok, "message seed {name} decodes as nothing");
    }
}
