//! The fast path of the safe layer allocates nothing: a counting global
//! allocator watches an RX → touch → TX loop over `net_ring`, which also
//! gives a rough cost per packet for the layer plus the ring PMD.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;
use std::time::Instant;

use tollgate_dataplane::dpdk::{
    Eal, Mbuf, MbufBurst, Mempool, Port, PortConfig, QueueId, SocketId,
};

mod common;

struct CountingAlloc;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards every call to the system allocator unchanged; the
// counter is a thread-local Cell, which does not allocate.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}

const BURST: usize = 32;
const IN_FLIGHT: usize = 256;

#[test]
fn forwarding_loop_allocates_nothing_and_loses_nothing() {
    let (args, _runtime_dir) = common::no_huge_args("fast", &["--vdev=net_ring0", "-l", "0"]);
    let eal = Eal::init(&args).expect("EAL");
    let pool = Arc::new(Mempool::new("fast_pool", 2047, 64, 2176, SocketId::ANY).unwrap());
    let mut port = Port::by_name("net_ring0").unwrap();
    port.configure(&PortConfig {
        rx_queues: 1,
        tx_queues: 1,
        ..PortConfig::default()
    })
    .unwrap();
    port.setup_rx_queue(QueueId(0), 1024, &pool).unwrap();
    port.setup_tx_queue(QueueId(0), 1024).unwrap();
    port.start().unwrap();
    let (mut rxq, mut txq) = port.queue_pair(QueueId(0)).unwrap();
    let baseline = pool.in_use_count();

    let mut burst = MbufBurst::<BURST>::new();
    for chunk in 0..IN_FLIGHT / BURST {
        for i in 0..BURST {
            let mut m = Mbuf::alloc(&pool).unwrap();
            let id = (chunk * BURST + i) as u32;
            m.append(64).unwrap()[..4].copy_from_slice(&id.to_be_bytes());
            burst.push(m).unwrap();
        }
        assert_eq!(txq.tx_burst(&mut burst), BURST);
    }

    // Debug builds are ~20x slower; keep the run to a fraction of a second.
    let packets: u64 = if cfg!(debug_assertions) {
        200_000
    } else {
        5_000_000
    };
    let mut forwarded: u64 = 0;
    let allocs_before = allocs();
    let start = Instant::now();
    while forwarded < packets {
        rxq.rx_burst(&mut burst);
        for m in burst.as_mut_slice() {
            let d = m.data_mut();
            d[4] = d[4].wrapping_add(1);
        }
        assert_eq!(
            txq.tx_prepare(&mut burst),
            0,
            "net_ring has no prepare step"
        );
        forwarded += txq.tx_burst(&mut burst) as u64;
        assert!(
            burst.is_empty(),
            "the ring has room for everything in flight"
        );
    }
    let elapsed = start.elapsed();
    let allocs_in_loop = allocs() - allocs_before;
    assert_eq!(allocs_in_loop, 0, "heap allocations in the RX/TX loop");

    let mut ids = Vec::new();
    while rxq.rx_burst(&mut burst) > 0 {
        ids.extend(
            burst
                .drain()
                .map(|m| u32::from_be_bytes(m.data()[..4].try_into().unwrap())),
        );
    }
    ids.sort_unstable();
    assert_eq!(
        ids,
        (0..IN_FLIGHT as u32).collect::<Vec<_>>(),
        "every packet still circulating"
    );
    assert_eq!(pool.in_use_count(), baseline);

    let ns = elapsed.as_nanos() as f64 / forwarded as f64;
    eprintln!(
        "net_ring rx→touch→tx: {forwarded} packets in {elapsed:?}: {ns:.1} ns/packet, {:.2} Mpps ({} build)",
        1e3 / ns,
        if cfg!(debug_assertions) { "debug" } else { "release" }
    );

    drop((rxq, txq));
    port.close().unwrap();
    drop(pool);
    drop(eal);
}
