//! AFL++ entry for the `express` target (see the crate doc); built by `scripts/fuzz.sh`.

fn main() {
    afl::fuzz!(|data: &[u8]| tollgate_fuzz::express::run(data));
}
