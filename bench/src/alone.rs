//! The pipeline alone, without DPDK: [`Pipeline::process_burst`] over
//! frames in memory, in bursts of 32 like a worker. The headers of each
//! frame are first copied into a reused receive buffer (as a driver would
//! have written them), outside the timed part: only the `process_burst`
//! calls are timed. (Timing the whole loop and subtracting a copy-only loop
//! measured separately overstated the pipeline by 30-50 cycles per packet
//! at 100k+ flows: the copy from a frame set larger than the caches costs
//! more while the table's misses compete with it.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use tollgate_firewall::{FirewallConfig, HashKey, OwnerHasher, Timeouts};
use tollgate_pipeline::{Disposition, Pipeline, PipelineConfig, Prefix4, RuleSnapshot};
use tollgate_shm::{Segment, SegmentConfig};

use crate::frames::{FrameSet, APPLIANCE_IP, APPLIANCE_MAC, GWLB_IP};
use crate::tsc::rdtsc;

const BURST: usize = 32;
/// Bytes past the frame in each buffer (an mbuf's tailroom).
const TAILROOM: usize = 256;
/// Bytes of each frame copied into its buffer: all headers, outer and inner.
const HEADER_COPY: usize = crate::frames::OUTER_LEN + crate::frames::MIN_INNER + 20;

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct AloneResult {
    pub packets: u64,
    /// The whole loop (copy, clock read, pipeline), per packet.
    pub cycles_with_copy: f64,
    /// The pipeline alone: inside `process_burst`, per packet (less the
    /// cost of the timer reads around it).
    pub cycles_pipeline: f64,
    pub transmitted: u64,
    pub dropped: u64,
    pub flows_created: u64,
    pub flows_active: u64,
}

/// Per-process shared-memory segment for the counters (removed on drop).
pub struct StatsSegment {
    pub segment: Segment,
}

impl StatsSegment {
    pub fn create(tag: &str, workers: usize, flow_capacity: u64) -> Result<StatsSegment, String> {
        let name = format!("bench-{}-{tag}", std::process::id());
        let segment = Segment::create(
            &name,
            &SegmentConfig {
                workers,
                flow_capacity,
                ..SegmentConfig::default()
            },
        )
        .map_err(|e| format!("shared memory {name}: {e}"))?;
        Ok(StatsSegment { segment })
    }
}

impl Drop for StatsSegment {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.segment.path());
    }
}

/// The pipeline configuration every benchmark uses.
/// `fast_expiry`: one-way UDP flows idle out after 1 ms (the shortest
/// timeout; the firewall's clock ticks every 67 ms).
/// The owner hash of every benchmark pipeline and of the frame split by
/// worker ([`crate::scenario`]): fixed, so that runs are comparable and
/// the split matches the pipelines' ownership.
pub fn owner_hasher() -> OwnerHasher {
    OwnerHasher::new(HashKey::fixed(0x6f77_6e65_7273_6821))
}

pub fn pipeline_config(
    worker: usize,
    workers: usize,
    capacity: u32,
    fast_expiry: bool,
) -> PipelineConfig {
    let mut timeouts = Timeouts::default();
    if fast_expiry {
        timeouts.udp_single = Duration::from_millis(1);
    }
    PipelineConfig {
        appliance_ip: APPLIANCE_IP,
        appliance_mac: APPLIANCE_MAC,
        gwlb_sources: vec![Prefix4::new(GWLB_IP, 32)],
        punt_sources: vec![Prefix4::new(GWLB_IP, 32)],
        worker,
        workers,
        owner_hasher: owner_hasher(),
        punt_rate_pps: 1000,
        punt_burst: 64,
        firewall: FirewallConfig {
            capacity,
            timeouts,
            ..FirewallConfig::default()
        },
    }
}

/// Runs the frames through one pipeline: one warm-up pass over all of
/// them (opens the flows), then bursts for `duration`.
pub fn run(
    frames: &FrameSet,
    rules: Arc<RuleSnapshot>,
    capacity: u32,
    fast_expiry: bool,
    duration: Duration,
    tsc_hz: u64,
) -> Result<AloneResult, String> {
    let seg = StatsSegment::create("alone", 1, u64::from(capacity))?;
    let stats = seg
        .segment
        .worker_stats(0)
        .map_err(|e| format!("worker stats: {e}"))?;
    let mut pipeline = Pipeline::new(pipeline_config(0, 1, capacity, fast_expiry), stats)
        .map_err(|e| format!("pipeline: {e}"))?;
    let on_change = rules.on_rule_change;
    pipeline.set_rules(rules, 1, on_change);

    let mut feeder = Feeder::new(frames);
    let ns_per_tick = 1e9 / tsc_hz as f64;
    let t0 = rdtsc();
    let now = || ((rdtsc() - t0) as f64 * ns_per_tick) as u64 + 1_000_000_000;

    // Warm-up: every frame once.
    for _ in 0..frames.len().div_ceil(BURST) {
        let lens = feeder.load();
        feeder.process(&mut pipeline, now(), &lens);
    }
    let before_created = pipeline.firewall().counters().created;

    let start = Instant::now();
    let (mut packets, mut transmitted, mut inside) = (0u64, 0u64, 0u64);
    let c0 = rdtsc();
    while start.elapsed() < duration {
        for _ in 0..64 {
            let lens = feeder.load();
            let (sent, cycles) = feeder.process(&mut pipeline, now(), &lens);
            transmitted += sent;
            inside += cycles;
            packets += BURST as u64;
        }
    }
    let with_copy = (rdtsc() - c0) as f64 / packets as f64;
    let pipeline_cycles = (inside as f64 - timer_cost(packets / BURST as u64)) / packets as f64;
    let created = pipeline.firewall().counters().created - before_created;
    let active = pipeline.firewall().counters().active;

    Ok(AloneResult {
        packets,
        cycles_with_copy: with_copy,
        cycles_pipeline: pipeline_cycles.max(0.0),
        transmitted,
        dropped: packets - transmitted,
        flows_created: created,
        flows_active: active,
    })
}

/// Cycles `n` back-to-back pairs of timer reads count with nothing
/// between them.
fn timer_cost(n: u64) -> f64 {
    let mut total = 0u64;
    for _ in 0..n {
        let b0 = rdtsc();
        total += std::hint::black_box(rdtsc()) - b0;
    }
    total as f64
}

/// For instruction counts (callgrind): a warm-up pass over every frame,
/// then `bursts` bursts, each through [`counted_burst`] (run callgrind with
/// `--toggle-collect='*counted_burst*'`). Returns the packets counted.
pub fn count(
    frames: &FrameSet,
    rules: Arc<RuleSnapshot>,
    capacity: u32,
    fast_expiry: bool,
    bursts: u64,
) -> Result<u64, String> {
    let seg = StatsSegment::create("count", 1, u64::from(capacity))?;
    let stats = seg
        .segment
        .worker_stats(0)
        .map_err(|e| format!("worker stats: {e}"))?;
    let mut pipeline = Pipeline::new(pipeline_config(0, 1, capacity, fast_expiry), stats)
        .map_err(|e| format!("pipeline: {e}"))?;
    let on_change = rules.on_rule_change;
    pipeline.set_rules(rules, 1, on_change);
    let mut feeder = Feeder::new(frames);
    let mut now = 1_000_000_000u64;
    for _ in 0..frames.len().div_ceil(BURST) {
        let lens = feeder.load();
        // Not through `counted_burst`: callgrind counts only what follows.
        feeder.process_with(&lens, |f, a| pipeline.process_burst(now, f, false, a));
        now += 1_000;
    }
    if fast_expiry {
        // Past the flows' 1 ms timeout, rounded up to the firewall's clock
        // tick: every counted frame finds its flow timed out.
        now += 4 * tollgate_firewall::TICK_NS;
    }
    let mut transmitted = 0;
    for _ in 0..bursts {
        let lens = feeder.load();
        transmitted += feeder.process(&mut pipeline, now, &lens).0;
        now += 1_000;
    }
    if transmitted != bursts * BURST as u64 {
        return Err(format!(
            "{transmitted} of {} packets transmitted",
            bursts * BURST as u64
        ));
    }
    Ok(bursts * BURST as u64)
}

/// One `process_burst` call, the part that is timed, kept out of line so
/// that callgrind counts exactly that.
#[inline(never)]
fn counted_burst(
    pipeline: &mut Pipeline<'_, RuleSnapshot>,
    now_ns: u64,
    frames: &mut [(&mut [u8], usize)],
    actions: &mut [Disposition],
) {
    pipeline.process_burst(now_ns, frames, false, actions);
}

/// Copies frames, a burst at a time, into reused receive buffers.
struct Feeder<'f> {
    frames: &'f FrameSet,
    bufs: Vec<u8>,
    buf_len: usize,
    next: usize,
}

impl<'f> Feeder<'f> {
    fn new(frames: &'f FrameSet) -> Feeder<'f> {
        let buf_len = frames.stride + TAILROOM;
        Feeder {
            frames,
            bufs: vec![0u8; BURST * buf_len],
            buf_len,
            next: 0,
        }
    }

    /// The next burst's frames into the buffers; their lengths.
    #[inline]
    fn load(&mut self) -> [usize; BURST] {
        let mut lens = [0usize; BURST];
        for (b, len) in lens.iter_mut().enumerate() {
            let f = self.frames.frame(self.next);
            // Only the headers: the pipeline reads nothing past them, and
            // a whole 8500-byte copy would swamp what is measured.
            let h = f.len().min(HEADER_COPY);
            self.bufs[b * self.buf_len..b * self.buf_len + h].copy_from_slice(&f[..h]);
            *len = f.len();
            self.next += 1;
            if self.next == self.frames.len() {
                self.next = 0;
            }
        }
        lens
    }

    /// The loaded burst through the pipeline (as the worker does: one
    /// `process_burst`): how many were transmitted, and the TSC cycles
    /// inside the call (setting up the frame list and counting the
    /// results are the harness's, not timed).
    #[inline]
    fn process(
        &mut self,
        pipeline: &mut Pipeline<'_, RuleSnapshot>,
        now_ns: u64,
        lens: &[usize; BURST],
    ) -> (u64, u64) {
        self.process_with(lens, |f, a| counted_burst(pipeline, now_ns, f, a))
    }

    #[inline]
    fn process_with(
        &mut self,
        lens: &[usize; BURST],
        burst: impl FnOnce(&mut [(&mut [u8], usize)], &mut [Disposition]),
    ) -> (u64, u64) {
        let mut batch: [(&mut [u8], usize); BURST] = {
            let mut chunks = self.bufs.chunks_exact_mut(self.buf_len);
            std::array::from_fn(|i| (chunks.next().unwrap_or_default(), lens[i]))
        };
        let mut actions = [Disposition::Punt; BURST];
        let b0 = rdtsc();
        burst(&mut batch, &mut actions);
        let cycles = rdtsc() - b0;
        let sent = actions
            .iter()
            .filter(|a| matches!(a, Disposition::Transmit { .. }))
            .count() as u64;
        (sent, cycles)
    }
}
