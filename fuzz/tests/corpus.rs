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

/// The pipeline seeds reach the paths they are named after: passes
/// through the firewall, rejects built into the tailroom (and dropped
/// without one), local replies and punts, steering.
#[test]
fn pipeline_seeds_reach_their_paths() {
    use tollgate_pipeline::Disposition;
    let seeds: std::collections::HashMap<String, Vec<u8>> = tollgate_fuzz::seeds::seeds("pipeline")
        .into_iter()
        .collect();
    let actions = |name: &str| tollgate_fuzz::pipeline::check(&seeds[name]);
    let transmits = |a: &[Disposition]| {
        a.iter()
            .filter(|a| matches!(a, Disposition::Transmit { .. }))
            .count()
    };
    let conversation = actions("conversation");
    assert_eq!(
        transmits(&conversation),
        conversation.len(),
        "{conversation:?}"
    );
    let rejects = actions("rejects");
    assert!(transmits(&rejects) >= 3, "{rejects:?}");
    let no_room = actions("rejects_no_tailroom");
    assert!(transmits(&no_room) < transmits(&rejects), "{no_room:?}");
    let local = actions("local");
    assert!(
        transmits(&local) == 2 && local.contains(&Disposition::Punt),
        "{local:?}"
    );
    // The flow is one worker's: the other steers it there.
    let two = [
        actions("conversation_2_workers"),
        actions("conversation_worker_1"),
    ];
    let steers = |a: &[Disposition]| {
        a.iter()
            .filter(|a| matches!(a, Disposition::Steer { .. }))
            .count()
    };
    assert_eq!(steers(&two[0]) + steers(&two[1]), two[0].len(), "{two:?}");
}

/// Found by the `responder` target (fixed in `control/src/responder.rs`).
/// Under `cargo afl build` smoltcp skips checksum checks (`cfg(fuzzing)`),
/// so these are rebuilt here with valid checksums, as an attacker would
/// send them.
#[test]
fn responder_findings() {
    use tollgate_fuzz::frames::*;
    let one_frame = |frame: Vec<u8>| {
        let mut input = vec![1, 0];
        input.extend_from_slice(&(frame.len() as u16).to_be_bytes());
        input.extend_from_slice(&frame);
        input
    };
    // A SYN from 0.0.0.0 to the health port: smoltcp panics answering it
    // ("assertion failed: !ip_repr.dst_addr().is_unspecified()"), which
    // with panic = abort ends tollgate-control. The dataplane punts it:
    // it checks the destination only.
    let syn_from_nowhere = to_appliance(&tcp4(
        ([0, 0, 0, 0], APPLIANCE_IP),
        (40123, 80),
        SYN,
        (7, 0),
        &[],
    ));
    // A segment to 255.255.255.255: answered (RST) from 255.255.255.255
    // (the responder's address is configured as a /0). The dataplane
    // punts only frames to the appliance address, so this and the next
    // are defence in depth.
    let ack_to_broadcast = to_appliance(&tcp4((HOST_IP, [255; 4]), (40123, 80), ACK, (8, 1), &[]));
    // The same to the all-hosts group: answered from 224.0.0.1.
    let ack_to_all_hosts = to_appliance(&tcp4(
        (HOST_IP, [224, 0, 0, 1]),
        (40123, 80),
        ACK,
        (8, 1),
        &[],
    ));
    for frame in [ack_to_all_hosts, ack_to_broadcast, syn_from_nowhere] {
        tollgate_fuzz::responder::run(&one_frame(frame));
    }
}
