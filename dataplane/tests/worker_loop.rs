//! The worker loop itself (`Worker::run`) on `net_ring`, whose TX ring is
//! its own RX ring: every GWLB frame the worker hairpins comes back to it
//! as a frame from the appliance, which the pipeline must not send again.
//! The counters must account for every packet and byte, by reason, and
//! every mbuf must be back in the pool when the worker stops.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tollgate_dataplane::clock::TscClock;
use tollgate_dataplane::dpdk::{
    Eal, Mbuf, MbufBurst, Mempool, Port, PortConfig, QueueId, SocketId,
};
use tollgate_dataplane::worker::{Shared, Worker, BURST};
use tollgate_firewall::{FirewallConfig, HashKey, OwnerHasher};
use tollgate_pipeline::{Pipeline, PipelineConfig, Prefix4, RuleSnapshot};
use tollgate_shm::{Counter, Segment, SegmentConfig};

mod common;

const APPLIANCE_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x0b, 0x01];
const APPLIANCE_IP: [u8; 4] = [10, 254, 11, 101];
const GWLB_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x0b, 0x3c];
const GWLB_IP: [u8; 4] = [10, 254, 11, 60];
/// The rule set passes UDP to this server only.
const SERVER: [u8; 4] = [172, 16, 0, 1];
const DENIED_SERVER: [u8; 4] = [172, 16, 0, 2];

fn csum(data: &[u8], initial: u32) -> u16 {
    let mut sum = initial;
    for c in data.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// GWLB's GENEVE frame (three AWS options) around an inner IPv4/UDP packet
/// from a client to `server` port 53 with `payload` bytes.
fn gwlb_frame(flow: u16, server: [u8; 4], payload: usize) -> Vec<u8> {
    let inner_len = 28 + payload;
    let outer_total = (20 + 8 + 8 + 32 + inner_len) as u16;
    let mut f = Vec::new();
    f.extend_from_slice(&APPLIANCE_MAC);
    f.extend_from_slice(&GWLB_MAC);
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&outer_total.to_be_bytes());
    f.extend_from_slice(&[0x12, 0x34, 0x40, 0, 64, 17, 0, 0]);
    f.extend_from_slice(&GWLB_IP);
    f.extend_from_slice(&APPLIANCE_IP);
    let c = csum(&f[14..34], 0);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&(40_000 + flow).to_be_bytes());
    f.extend_from_slice(&6081u16.to_be_bytes());
    f.extend_from_slice(&(outer_total - 20).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&[8, 0, 0x08, 0x00, 0, 0, 0, 0]);
    f.extend_from_slice(&[0x01, 0x08, 1, 2]);
    f.extend_from_slice(&0x0a1b_2c3d_4e5f_6071u64.to_be_bytes());
    f.extend_from_slice(&[0x01, 0x08, 2, 2]);
    f.extend_from_slice(&0x7e57_0000_0001u64.to_be_bytes());
    f.extend_from_slice(&[0x01, 0x08, 3, 1]);
    f.extend_from_slice(&u32::from(flow).to_be_bytes());
    let client = [10, 64, 0, 1];
    let ip = f.len();
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&(inner_len as u16).to_be_bytes());
    f.extend_from_slice(&[0, 1, 0x40, 0, 63, 17, 0, 0]);
    f.extend_from_slice(&client);
    f.extend_from_slice(&server);
    let c = csum(&f[ip..ip + 20], 0);
    f[ip + 10..ip + 12].copy_from_slice(&c.to_be_bytes());
    let udp = f.len();
    let udp_len = (8 + payload) as u16;
    f.extend_from_slice(&(1024 + flow).to_be_bytes());
    f.extend_from_slice(&53u16.to_be_bytes());
    f.extend_from_slice(&udp_len.to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend((0..payload).map(|k| k as u8));
    let mut pseudo = 17 + u32::from(udp_len);
    for w in client.chunks(2).chain(server.chunks(2)) {
        pseudo += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    let c = match csum(&f[udp..], pseudo) {
        0 => 0xffff,
        c => c,
    };
    f[udp + 6..udp + 8].copy_from_slice(&c.to_be_bytes());
    f
}

/// Removes the shared-memory segment file even when an assertion fails.
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn mbuf_with(pool: &Mempool, bytes: &[u8]) -> Mbuf {
    let mut m = Mbuf::alloc(pool).expect("mbuf");
    m.append(bytes.len()).expect("room").copy_from_slice(bytes);
    m
}

#[test]
fn worker_loop_counts_every_packet_and_frees_every_mbuf() {
    let (args, _runtime_dir) =
        common::no_huge_args("worker", &["--vdev=net_ring0", "--lcores=0@0,1@1"]);
    let eal = Eal::init(&args).expect("EAL");
    let lcore = *eal.worker_lcores().first().expect("a worker lcore");
    let pool = Arc::new(Mempool::new("worker_pool", 4095, 64, 2176, SocketId::ANY).unwrap());
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
    let (rx, mut tx) = port.queue_pair(QueueId(0)).unwrap();
    let baseline = pool.in_use_count();

    // Passed flows (more than a burst, varied sizes), flows the rules deny,
    // a frame of no protocol the pipeline knows, and a two-segment frame.
    let passed: Vec<Vec<u8>> = (0..70)
        .map(|i| gwlb_frame(i, SERVER, 18 + usize::from(i) * 7))
        .collect();
    let denied: Vec<Vec<u8>> = (100..105)
        .map(|i| gwlb_frame(i, DENIED_SERVER, 30))
        .collect();
    let mut junk = gwlb_frame(200, SERVER, 30);
    junk[12..14].copy_from_slice(&[0x88, 0xb5]); // local experimental ethertype
    let chained = gwlb_frame(201, SERVER, 30);
    let mut head = mbuf_with(&pool, &chained[..60]);
    head.chain(mbuf_with(&pool, &chained[60..])).unwrap();

    let bytes = |frames: &[Vec<u8>]| frames.iter().map(|f| f.len() as u64).sum::<u64>();
    let mut burst = MbufBurst::<BURST>::new();
    let mut sent = 0;
    let frames = passed.iter().chain(&denied).chain(std::iter::once(&junk));
    for frame in frames {
        burst.push(mbuf_with(&pool, frame)).unwrap();
        if burst.is_full() {
            sent += tx.tx_burst(&mut burst);
        }
    }
    burst.push(head).unwrap();
    sent += tx.tx_burst(&mut burst);
    assert_eq!(sent, passed.len() + denied.len() + 2, "all in the ring");

    let name = format!("dataplane-worker-loop-test-{}", std::process::id());
    let segment: &'static Segment = Box::leak(Box::new(
        Segment::create(
            &name,
            &SegmentConfig {
                workers: 1,
                flow_capacity: 1024,
                ..SegmentConfig::default()
            },
        )
        .unwrap(),
    ));
    let _remove_segment = RemoveOnDrop(segment.path().to_path_buf());
    let stats = segment.worker_stats(0).unwrap();
    let rules = "default_action = \"drop\"\non_rule_change = \"keep\"\n\n[[rule]]\nid = \"dns\"\naction = \"pass\"\nprotocol = \"udp\"\ndst = \"172.16.0.1\"\ndst_port = 53\n";
    let shared = Arc::new(Shared::new(1, 64));
    let _ = shared.rules_inbox[0].push(Arc::new(
        RuleSnapshot::from_text(rules, "test rules", 1).unwrap(),
    ));
    let config = PipelineConfig {
        appliance_ip: APPLIANCE_IP,
        appliance_mac: APPLIANCE_MAC,
        gwlb_sources: vec![Prefix4::new(GWLB_IP, 32)],
        punt_sources: vec![Prefix4::new(GWLB_IP, 32)],
        worker: 0,
        workers: 1,
        owner_hasher: OwnerHasher::new(HashKey::random()),
        punt_rate_pps: 1000,
        punt_burst: 64,
        firewall: FirewallConfig {
            capacity: 1024,
            ..FirewallConfig::default()
        },
    };
    let worker = Worker::new(
        0,
        (rx, tx),
        Arc::clone(&pool),
        Pipeline::new(config, stats).unwrap(),
        segment.punt_ring_producer(0).unwrap(),
        Arc::clone(&shared),
        TscClock::new(eal.tsc_hz()),
    );
    eal.launch_on(lcore, move || worker.run()).unwrap();

    // Each passed frame comes round twice (hairpinned, then refused as
    // not from GWLB); everything else once.
    let expected_rx = 2 * passed.len() as u64 + denied.len() as u64 + 2;
    let deadline = Instant::now() + Duration::from_secs(10);
    while stats.get(Counter::RxPackets) < expected_rx && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    // Long enough for a wrongly re-sent frame to come round again.
    std::thread::sleep(Duration::from_millis(100));
    shared.stop.store(true, Ordering::Relaxed);
    for exit in eal.wait_all() {
        assert!(
            matches!(exit.result, Ok(0)),
            "worker exit: {:?}",
            exit.result
        );
    }

    let get = |c| stats.get(c);
    let dropped: Vec<(Counter, u64)> = Counter::ALL
        .iter()
        .map(|&c| (c, get(c)))
        .filter(|&(c, n)| n > 0 && format!("{c:?}").starts_with("Drop"))
        .collect();
    assert_eq!(get(Counter::RxPackets), expected_rx, "drops: {dropped:?}");
    assert_eq!(
        get(Counter::RxBytes),
        2 * bytes(&passed) + bytes(&denied) + junk.len() as u64 + chained.len() as u64
    );
    assert_eq!(get(Counter::TxPackets), passed.len() as u64);
    assert_eq!(
        get(Counter::TxBytes),
        bytes(&passed),
        "hairpinned frames keep their length"
    );
    assert_eq!(get(Counter::DropMultiSegment), 1);
    assert_eq!(get(Counter::DropRuleDenied), denied.len() as u64);
    assert_eq!(get(Counter::DropUnsupportedEthertype), 1);
    assert_eq!(get(Counter::DropTxFull), 0);
    assert_eq!(
        get(Counter::DropNotForUs) + get(Counter::DropSpoofedGeneve) + get(Counter::Punted),
        passed.len() as u64,
        "each hairpinned frame refused once when it comes back: {dropped:?}"
    );
    assert_eq!(pool.in_use_count(), baseline, "every mbuf back in the pool");

    port.stop().unwrap();
    port.close().unwrap();
    drop(pool);
    drop(eal);
}
