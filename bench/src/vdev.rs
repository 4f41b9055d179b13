//! The full dataplane worker (`tollgate_dataplane::worker::Worker`, the
//! very loop the product runs: RX burst, pipeline, TX burst) on an
//! in-memory device: `net_pcap` replaying a pcap forever (`infinite_rx`),
//! transmitting into the void. One process per run: EAL starts once.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tollgate_dataplane::clock::TscClock;
use tollgate_dataplane::dpdk::{Eal, Mempool, Port, PortConfig, QueueId, SocketId};
use tollgate_dataplane::worker::{Shared, Worker, BURST};
use tollgate_pipeline::{Pipeline, RuleSnapshot};
use tollgate_shm::Counter;

use crate::alone::{pipeline_config, StatsSegment};

/// What one run on the device needs.
#[derive(Debug, Clone)]
pub struct VdevRun {
    /// One pcap per RX queue (and worker).
    pub pcaps: Vec<String>,
    /// Packets in all the pcaps together (they all sit in the pool).
    pub packets: u32,
    pub rules_text: String,
    /// Flow capacity per worker.
    pub capacity: u32,
    /// One-way UDP flows time out after 1 ms.
    pub fast_expiry: bool,
    /// Data room per mbuf (headroom included).
    pub mbuf_size: u16,
    pub warmup: Duration,
    pub measure: Duration,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct VdevResult {
    pub workers: usize,
    pub tsc_hz: u64,
    pub seconds: f64,
    /// Packets received over all the measured seconds.
    pub rx_packets: u64,
    /// Medians of the once-a-second samples.
    pub rx_pps: f64,
    pub tx_pps: f64,
    /// Worker-core cycles per received packet (the cores poll without pause).
    pub cycles_per_packet: f64,
    pub flows_created_per_s: f64,
    pub flows_active: u64,
    pub drops: Vec<(String, u64)>,
    pub tx_pps_samples: Vec<f64>,
}

/// testpmd's statistics period (`--stats-period=1`).
const SAMPLE_PERIOD: Duration = Duration::from_secs(1);

/// Per-second rates over the measured window.
#[derive(Default)]
struct Samples {
    rx_pps: Vec<f64>,
    tx_pps: Vec<f64>,
    created_per_s: Vec<f64>,
}

pub fn eal_args(workers: usize, pcaps: &[String]) -> Vec<String> {
    let lcores = if workers > 1 {
        "0@0,1@1,2@0"
    } else {
        "0@0,1@1"
    };
    let mut vdev = String::from("--vdev=net_pcap0");
    for p in pcaps {
        vdev.push_str(",rx_pcap=");
        vdev.push_str(p);
    }
    vdev.push_str(",infinite_rx=1");
    vec![
        format!("--lcores={lcores}"),
        "--in-memory".into(),
        "--log-level=lib.eal:error".into(),
        vdev,
    ]
}

pub fn run(cfg: &VdevRun) -> Result<VdevResult, String> {
    let workers = cfg.pcaps.len().max(1);
    let mut args = vec!["tollgate-bench".to_string()];
    args.extend(eal_args(workers, &cfg.pcaps));
    let eal = Eal::init(&args).map_err(|e| format!("EAL: {e}"))?;
    let lcores = eal.worker_lcores();
    if lcores.len() < workers {
        return Err(format!(
            "EAL gave {} worker lcores, need {workers}",
            lcores.len()
        ));
    }
    let tsc_hz = eal.tsc_hz();
    let mut port = Port::by_name("net_pcap0").map_err(|e| format!("port: {e}"))?;
    port.configure(&PortConfig {
        rx_queues: workers as u16,
        tx_queues: workers as u16,
        rss: false,
        mtu: None,
        rx_offloads: 0,
        tx_offloads: 0,
    })
    .map_err(|e| format!("port: {e}"))?;
    let descs = 1024u16;
    let steer_ring = 4096;
    let mbufs =
        cfg.packets + (workers * (2 * usize::from(descs) + 4 * BURST + steer_ring)) as u32 + 4096;
    let pool = Arc::new(
        Mempool::new("bench_pkts", mbufs, 256, cfg.mbuf_size, SocketId::ANY)
            .map_err(|e| format!("mempool of {mbufs} x {} bytes: {e}", cfg.mbuf_size))?,
    );
    for q in 0..workers as u16 {
        port.setup_rx_queue(QueueId(q), descs, &pool)
            .map_err(|e| format!("port: {e}"))?;
        port.setup_tx_queue(QueueId(q), descs)
            .map_err(|e| format!("port: {e}"))?;
    }
    port.start().map_err(|e| format!("port: {e}"))?;

    let seg = StatsSegment::create("vdev", workers, u64::from(cfg.capacity) * workers as u64)?;
    let segment: &'static tollgate_shm::Segment = Box::leak(Box::new(seg.segment.clone()));
    let rules = Arc::new(
        RuleSnapshot::from_text(&cfg.rules_text, "bench rules", 1)
            .map_err(|e| format!("rules: {e}"))?,
    );
    let shared = Arc::new(Shared::new(workers, steer_ring));
    for inbox in &shared.rules_inbox {
        let _ = inbox.push(Arc::clone(&rules));
    }
    for (index, lcore) in lcores.iter().take(workers).enumerate() {
        let stats = segment
            .worker_stats(index)
            .map_err(|e| format!("stats: {e}"))?;
        let pipeline = Pipeline::new(
            pipeline_config(index, workers, cfg.capacity, cfg.fast_expiry),
            stats,
        )
        .map_err(|e| format!("pipeline: {e}"))?;
        let (rx, tx) = port
            .queue_pair(QueueId(index as u16))
            .map_err(|e| format!("port: {e}"))?;
        let punt = segment
            .punt_ring_producer(index)
            .map_err(|e| format!("punt ring: {e}"))?;
        let worker = Worker::new(
            index,
            (rx, tx),
            Arc::clone(&pool),
            pipeline,
            punt,
            Arc::clone(&shared),
            TscClock::new(tsc_hz),
        );
        eal.launch_on(*lcore, move || worker.run())
            .map_err(|e| format!("launch: {e}"))?;
    }

    let totals = |c: Counter| -> u64 {
        (0..workers)
            .filter_map(|w| segment.worker_stats(w).ok())
            .map(|s| s.get(c))
            .sum()
    };
    // Every frame of the pcaps once (opens every flow), then the warm-up.
    let first_pass = Instant::now();
    while totals(Counter::RxPackets) < u64::from(cfg.packets)
        && first_pass.elapsed() < Duration::from_secs(60)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(cfg.warmup);
    let snap = |c| totals(c);
    let (rx0, tx0, cr0) = (
        snap(Counter::RxPackets),
        snap(Counter::TxPackets),
        snap(Counter::FlowsCreated),
    );
    let drops0: Vec<u64> = Counter::ALL.iter().map(|&c| snap(c)).collect();
    // Sampled once a second and summarised by the median, as testpmd's
    // statistics are: a second the host takes from one run weighs the
    // same as in the other.
    let periods = (cfg.measure.as_millis() / SAMPLE_PERIOD.as_millis()).max(1) as u32;
    let t0 = Instant::now();
    let (mut rx1, mut tx1, mut cr1, mut t1) = (rx0, tx0, cr0, t0);
    let mut samples = Samples::default();
    for _ in 0..periods {
        std::thread::sleep(cfg.measure / periods);
        let (rx, tx, cr, t) = (
            snap(Counter::RxPackets),
            snap(Counter::TxPackets),
            snap(Counter::FlowsCreated),
            Instant::now(),
        );
        let dt = (t - t1).as_secs_f64();
        samples.rx_pps.push((rx - rx1) as f64 / dt);
        samples.tx_pps.push((tx - tx1) as f64 / dt);
        samples.created_per_s.push((cr - cr1) as f64 / dt);
        (rx1, tx1, cr1, t1) = (rx, tx, cr, t);
    }
    let secs = (t1 - t0).as_secs_f64();
    let drops1: Vec<u64> = Counter::ALL.iter().map(|&c| snap(c)).collect();
    let active = snap(Counter::FlowsActive);
    shared.stop.store(true, Ordering::Relaxed);
    for exit in eal.wait_all() {
        if let Err(e) = exit.result {
            return Err(format!("worker on lcore {}: {e}", exit.lcore));
        }
    }
    for inbox in &shared.steer_inbox {
        while inbox.pop().is_some() {}
    }
    let _ = port.stop();
    drop(seg);

    let median = |v: &[f64]| crate::report::median(v.to_vec()).unwrap_or(0.0);
    let rx_pps = median(&samples.rx_pps);
    let drops = Counter::ALL
        .iter()
        .zip(drops0.iter().zip(&drops1))
        .filter(|(c, _)| {
            let name = format!("{c:?}");
            name.starts_with("Drop") || name.starts_with("Malformed")
        })
        .filter(|(_, (a, b))| b > a)
        .map(|(c, (a, b))| (format!("{c:?}"), b - a))
        .collect();
    Ok(VdevResult {
        workers,
        tsc_hz,
        seconds: secs,
        rx_packets: rx1 - rx0,
        rx_pps,
        tx_pps: median(&samples.tx_pps),
        cycles_per_packet: tsc_hz as f64 * workers as f64 / rx_pps.max(1.0),
        flows_created_per_s: median(&samples.created_per_s),
        tx_pps_samples: samples.tx_pps,
        flows_active: active,
        drops,
    })
}
