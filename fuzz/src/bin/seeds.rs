//! Writes every target's seeds to `fuzz/corpus/TARGET/` (run from the
//! repository root or anywhere: the path is the crate's).

use std::path::Path;

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for (target, _) in tollgate_fuzz::TARGETS {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir)?;
        for (name, bytes) in tollgate_fuzz::seeds::seeds(target) {
            std::fs::write(dir.join(&name), bytes)?;
        }
        println!(
            "{}: {} seeds",
            dir.display(),
            tollgate_fuzz::seeds::seeds(target).len()
        );
    }
    Ok(())
}
