//! Coverage-guided fuzz targets for the parts of Tollgate that read bytes
//! an attacker or a broken peer controls.
//!
//! Each target is a plain function `fn(&[u8])` that panics on a finding
//! (a crash in the code under test, or a broken property it checks). The
//! binaries in `src/bin/` hand the function to AFL++ (`scripts/fuzz.sh`);
//! `tests/corpus.rs` replays every committed input in `corpus/TARGET/`
//! and `regressions/TARGET/` through the same function, so `cargo test`
//! exercises every target without the fuzzer.
//!
//! | target | input | checked |
//! |---|---|---|
//! | `express` | a frame | `parse_express` accepts only what the layered parse accepts, with its values |
//! | `pipeline` | frames, tailrooms, times | `process_burst` = `process_general` frame by frame; lengths, untouched drops, counters |
//! | `ring` | ring control words and data | the consumer against a model of the ring; no out-of-bounds copy |
//! | `message` | a ring message | command/reply/packet-meta decoders: an error or a value that re-encodes to itself |
//! | `rules` | rule-file text | parse + compile: errors or a classifier that agrees with a linear scan |
//! | `responder` | punted frames | the health responder answers only with well-formed frames of its own |

pub mod express;
pub mod frames;
pub mod input;
pub mod message;
pub mod pipeline;
pub mod responder;
pub mod ring;
pub mod rules;
pub mod seeds;

/// A fuzz target: panics on a finding.
pub type Target = fn(&[u8]);

/// Every target by name (the name of its binary and corpus directory).
pub const TARGETS: &[(&str, Target)] = &[
    ("express", express::run),
    ("pipeline", pipeline::run),
    ("ring", ring::run),
    ("message", message::run),
    ("rules", rules::run),
    ("responder", responder::run),
];

/// The target called `name`.
pub fn target(name: &str) -> Option<Target> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}
