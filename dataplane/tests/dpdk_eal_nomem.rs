//! EAL failure text when the hugepages cannot cover `-m`: 400 GB are asked
//! for from the host's hugepage pool (scripts/setup.sh reserves ~2 GB).

use tollgate_dataplane::dpdk::{DpdkError, Eal};

#[test]
fn too_little_hugepage_memory_gives_a_clear_error_with_a_hint() {
    let args: Vec<String> = [
        "--in-memory",
        "-m",
        "400000",
        "--no-pci",
        "-l",
        "0",
        "--log-level=*:warning",
        "--no-telemetry",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let err = Eal::init(&args).unwrap_err();
    eprintln!("{err}");
    assert!(matches!(err, DpdkError::EalInit { .. }), "{err:?}");
    // -12 with hugetlbfs mounted (the setup.sh host); -13 on a host with
    // no hugetlbfs at all. Both must carry the hint.
    let text = err.to_string();
    assert!(
        text == "rte_eal_init: Cannot allocate memory (-12); no free hugepages? run scripts/setup.sh or pass --no-huge"
            || text == "rte_eal_init: Permission denied (-13); no free hugepages? run scripts/setup.sh or pass --no-huge",
        "{text}"
    );
}
