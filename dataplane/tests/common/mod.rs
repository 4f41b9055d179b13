//! Helpers shared by the DPDK test processes.

use std::path::PathBuf;

/// EAL arguments (with a program name first, as `Eal::init` allows) for a
/// test process without hugepages: `--no-huge` cannot be
/// combined with `--in-memory` (EAL: "--legacy-mem is not compatible with
/// --in-memory"), so `--no-shconf` and a per-process file prefix keep
/// concurrent test processes apart instead.
pub fn no_huge_args(tag: &str, extra: &[&str]) -> (Vec<String>, RuntimeDir) {
    let prefix = format!("tg_{tag}_{}", std::process::id());
    let mut args: Vec<String> = [
        "tollgate-test",
        "--no-huge",
        "-m",
        "256",
        "--no-shconf",
        "--no-pci",
        "--log-level=*:warning",
        "--no-telemetry",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(format!("--file-prefix={prefix}"));
    args.extend(extra.iter().map(|s| s.to_string()));
    (args, RuntimeDir(runtime_dir(&prefix)))
}

/// EAL still creates its runtime directory (/var/run/dpdk/<prefix>) with
/// `--no-shconf`; this removes it when the test ends.
pub struct RuntimeDir(PathBuf);

impl Drop for RuntimeDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn runtime_dir(prefix: &str) -> PathBuf {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let base = match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !root => PathBuf::from(dir),
        _ if !root => std::env::temp_dir(),
        _ => PathBuf::from("/var/run"),
    };
    base.join("dpdk").join(prefix)
}
