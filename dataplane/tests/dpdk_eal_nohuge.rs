//! EAL failure text when no hugepages are usable. The hugepage directory
//! given to EAL is an ordinary empty directory (not a hugetlbfs mount), which
//! is what a host that skipped scripts/setup.sh looks like to EAL.

use tollgate_dataplane::dpdk::{DpdkError, Eal};

#[test]
fn missing_hugepages_give_a_clear_error_with_a_hint() {
    let dir = std::env::temp_dir().join(format!("tg_not_hugetlbfs_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let args: Vec<String> = vec![
        format!("--file-prefix=tg_nohuge_{}", std::process::id()),
        format!("--huge-dir={}", dir.display()),
        "--no-pci".into(),
        "-l".into(),
        "0".into(),
        "--log-level=*:warning".into(),
        "--no-telemetry".into(),
    ];
    let err = Eal::init(&args).unwrap_err();
    std::fs::remove_dir(&dir).ok();
    std::fs::remove_dir_all(format!("/var/run/dpdk/tg_nohuge_{}", std::process::id())).ok();
    eprintln!("{err}");
    assert!(matches!(err, DpdkError::EalInit { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.starts_with("rte_eal_init: "), "{text}");
    assert!(
        text.ends_with("; no free hugepages? run scripts/setup.sh or pass --no-huge"),
        "{text}"
    );
    // One attempt per process: a retry is refused instead of re-entering EAL.
    assert_eq!(
        Eal::init(&args).unwrap_err(),
        DpdkError::EalAlreadyInitialised
    );
}
