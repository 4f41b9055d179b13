//! Launching closures on a worker lcore and collecting their results.
//! Two CPUs here, so the lcores are mapped explicitly (`--lcores=0@0,1@1`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tollgate_dataplane::dpdk::{DpdkError, Eal, LcoreId, Mbuf, Mempool, SocketId};

mod common;

#[test]
fn closures_run_on_the_worker_lcore_and_return_their_value() {
    let (args, _runtime_dir) = common::no_huge_args("lcore", &["--lcores=0@0,1@1"]);
    let eal = Eal::init(&args).expect("EAL starts");
    let main = eal.main_lcore();
    assert_eq!(main, LcoreId(0));
    assert_eq!(
        LcoreId::current(),
        Some(main),
        "init thread becomes the main lcore"
    );
    assert_eq!(eal.worker_lcores(), vec![LcoreId(1)]);
    assert!(eal.tsc_hz() > 0);
    assert!(eal.socket_of(LcoreId(1)).0 >= 0);
    assert_eq!(eal.socket_of(LcoreId(100_000)), SocketId::ANY);
    let worker = LcoreId(1);

    // The closure runs as lcore 1 and its value comes back through wait.
    eal.launch_on(worker, || {
        LcoreId::current().map_or(-1, |l| 1000 + l.0 as i32)
    })
    .expect("launch");
    assert_eq!(eal.wait(worker), Ok(1001));

    // Misuse is refused with a reason, never undefined behaviour.
    assert!(matches!(
        eal.launch_on(main, || 0),
        Err(DpdkError::Lcore { lcore: 0, .. })
    ));
    assert!(matches!(
        eal.launch_on(LcoreId(7), || 0),
        Err(DpdkError::Lcore { lcore: 7, reason }) if reason.contains("not enabled")
    ));
    assert_eq!(
        eal.wait(worker).unwrap_err().to_string(),
        "lcore 1: nothing was launched on it"
    );

    // A second launch while the first still runs is refused; the first one
    // is unaffected.
    let gate = Arc::new(AtomicU64::new(0));
    let g = Arc::clone(&gate);
    eal.launch_on(worker, move || {
        while g.load(Ordering::Acquire) == 0 {
            std::hint::spin_loop();
        }
        7
    })
    .unwrap();
    assert!(matches!(
        eal.launch_on(worker, || 0),
        Err(DpdkError::Lcore { reason, .. }) if reason.contains("already running")
    ));
    gate.store(1, Ordering::Release);
    assert_eq!(eal.wait(worker), Ok(7));

    // A panic in the closure is reported, not propagated across the FFI edge.
    // (The default hook would print the intended panic as if it were a failure.)
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    eal.launch_on(worker, || panic!("worker failure on purpose"))
        .unwrap();
    let panicked = eal.wait(worker);
    std::panic::set_hook(default_hook);
    assert_eq!(panicked, Err(DpdkError::LcorePanicked { lcore: 1 }));

    // Workers use DPDK objects moved into them: mbufs from a shared pool,
    // allocated and freed on the worker (through its lcore cache).
    let pool = Arc::new(Mempool::new("lcore_pool", 1023, 64, 2176, SocketId::ANY).unwrap());
    let p = Arc::clone(&pool);
    eal.launch_on(worker, move || {
        let mut held = Vec::new();
        for i in 0..500u32 {
            let Some(mut m) = Mbuf::alloc(&p) else {
                return -1;
            };
            m.append(4).unwrap().copy_from_slice(&i.to_be_bytes());
            held.push(m);
        }
        let ok = held
            .iter()
            .enumerate()
            .all(|(i, m)| m.data() == (i as u32).to_be_bytes());
        i32::from(ok) * held.len() as i32
    })
    .unwrap();
    let exits = eal.wait_all();
    assert_eq!(exits.len(), 1);
    assert_eq!(exits[0].lcore, worker);
    assert_eq!(exits[0].result, Ok(500));
    assert_eq!(
        pool.in_use_count(),
        0,
        "mbufs freed on the worker return to the pool"
    );
    assert!(eal.wait_all().is_empty(), "nothing left to wait for");

    drop(pool);
    drop(eal);
}
