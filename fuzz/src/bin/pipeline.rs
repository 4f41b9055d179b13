//! AFL++ entry for the `pipeline` target (see the crate doc); built by `scripts/fuzz.sh`.

fn main() {
    // One-time setup before AFL++ forks its children, so that no run
    // pays for it (and coverage does not depend on which run did).
    tollgate_fuzz::pipeline::run(&[]);
    afl::fuzz!(|data: &[u8]| tollgate_fuzz::pipeline::run(data));
}
