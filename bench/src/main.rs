//! `tollgate-bench`: how fast the pipeline is, per core, against the I/O
//! ceiling of the same device (see `scripts/bench.sh`, README's
//! Performance section and `bench/README.md`).
//!
//! - `run`: every scenario: the pipeline alone (in this process), then
//!   `dpdk-testpmd` macswap and the tollgate worker (`vdev`, a child
//!   process) on the same `net_pcap` device and core; prints the table.
//! - `vdev`: one tollgate run on the device (used by `run`).
//! - `count`: the pipeline alone on one scenario's frames, for callgrind's
//!   instruction counts (see `alone::count`).

mod alone;
mod frames;
mod pcap;
mod report;
mod rulegen;
mod scenario;
mod testpmd;
mod tsc;
mod vdev;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::report::{Report, Row};
use crate::scenario::Scenario;

#[derive(Parser)]
#[command(about = "Tollgate benchmarks: pipeline cycles and Mpps against dpdk-testpmd's ceiling")]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// All scenarios (or those named by --only); prints the table.
    Run {
        /// Short measurements, without the 1M and 4M flow tables.
        #[arg(long)]
        quick: bool,
        /// Write every figure to this JSON file.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Comma-separated scenario names.
        #[arg(long)]
        only: Option<String>,
        /// Skip dpdk-testpmd and the DPDK runs (pipeline alone only).
        #[arg(long)]
        no_dpdk: bool,
        /// Folder for the generated pcaps (removed afterwards).
        #[arg(long, default_value = "/tmp")]
        work_dir: PathBuf,
        /// Rounds over the scenarios; the table and the targets show each
        /// figure's median over the rounds (this machine is noisy).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=20))]
        repeat: u32,
    },
    /// The pipeline alone for a fixed number of bursts after a warm-up,
    /// for instruction counts under callgrind (see `alone::count`).
    Count {
        /// Scenario name.
        #[arg(long)]
        only: String,
        #[arg(long, default_value_t = 1000)]
        bursts: u64,
    },
    /// One tollgate run on net_pcap (a child of `run`); prints one JSON line.
    Vdev {
        #[arg(long, required = true)]
        pcap: Vec<String>,
        #[arg(long)]
        packets: u32,
        #[arg(long)]
        rules: u32,
        #[arg(long)]
        capacity: u32,
        #[arg(long)]
        fast_expiry: bool,
        #[arg(long)]
        mbuf_size: u16,
        #[arg(long)]
        warmup_ms: u64,
        #[arg(long)]
        measure_ms: u64,
    },
}

fn main() {
    let args = Args::parse();
    let result = match args.cmd {
        Cmd::Vdev {
            pcap,
            packets,
            rules,
            capacity,
            fast_expiry,
            mbuf_size,
            warmup_ms,
            measure_ms,
        } => vdev::run(&vdev::VdevRun {
            pcaps: pcap,
            packets,
            rules_text: rulegen::rules_text(rules),
            capacity,
            fast_expiry,
            mbuf_size,
            warmup: Duration::from_millis(warmup_ms),
            measure: Duration::from_millis(measure_ms),
        })
        .map(|r| println!("RESULT {}", serde_json::to_string(&r).unwrap_or_default())),
        Cmd::Count { only, bursts } => count(&only, bursts),
        Cmd::Run {
            quick,
            json,
            only,
            no_dpdk,
            work_dir,
            repeat,
        } => run_all(quick, json, only, no_dpdk, &work_dir, repeat),
    };
    if let Err(e) = result {
        eprintln!("tollgate-bench: {e}");
        std::process::exit(1);
    }
}

/// `count`'s TCP case: 1k established TCP flows through the express
/// lane, both directions, data and pure ACKs (not a timed scenario).
const EST_TCP_1K: &str = "est-tcp-1k";

/// The frames of [`EST_TCP_1K`]: per flow the client's ACK (a pickup),
/// the server's ACK (which confirms it), then 24 bytes of client data;
/// replayed, they are in-window repeats of each.
fn est_tcp_frames(flows: u64, servers: u32) -> frames::FrameSet {
    use frames::{build_tcp_frame, TcpSegment};
    use tollgate_wire::summary::tcp_flags::{ACK, PSH};
    let (c, s) = (1_000u32, 5_000u32);
    let segs = [
        TcpSegment {
            reply: false,
            flags: ACK,
            seq: c,
            ack: s,
            payload: 0,
        },
        TcpSegment {
            reply: true,
            flags: ACK,
            seq: s,
            ack: c,
            payload: 0,
        },
        TcpSegment {
            reply: false,
            flags: ACK | PSH,
            seq: c,
            ack: s,
            payload: 24,
        },
    ];
    let mut all = Vec::new();
    for seg in &segs {
        for flow in 0..flows {
            let mut f = Vec::new();
            build_tcp_frame(&mut f, flow, servers, seg);
            all.push(f);
        }
    }
    frames::FrameSet::of_frames(&all)
}

fn count(name: &str, bursts: u64) -> Result<(), String> {
    if name == EST_TCP_1K {
        let rules = Arc::new(
            tollgate_pipeline::RuleSnapshot::from_text(
                &rulegen::rules_text_for(1_000, "tcp"),
                "bench",
                1,
            )
            .map_err(|e| format!("rules: {e}"))?,
        );
        let frames = est_tcp_frames(1_000, 1_000);
        let packets = alone::count(&frames, rules, 4096, false, bursts)?;
        println!("{name}: {packets} packets counted");
        return Ok(());
    }
    let mut picked = scenario::select(Some(name), false)?;
    if picked.len() != 1 {
        return Err(format!("count takes one scenario, not {name:?}"));
    }
    let s = picked.remove(0);
    let parts = s.frames();
    let rules = Arc::new(
        tollgate_pipeline::RuleSnapshot::from_text(&rulegen::rules_text(s.rules), "bench", 1)
            .map_err(|e| format!("rules: {e}"))?,
    );
    let packets = alone::count(&parts[0], rules, s.capacity(), s.fast_expiry(), bursts)?;
    println!("{name}: {packets} packets counted");
    Ok(())
}

struct Timing {
    warmup: Duration,
    measure: Duration,
}

fn run_all(
    quick: bool,
    json: Option<PathBuf>,
    only: Option<String>,
    no_dpdk: bool,
    work_dir: &std::path::Path,
    repeat: u32,
) -> Result<(), String> {
    let timing = if quick {
        Timing {
            warmup: Duration::from_millis(500),
            measure: Duration::from_millis(1000),
        }
    } else {
        Timing {
            warmup: Duration::from_millis(1000),
            measure: Duration::from_millis(3000),
        }
    };
    let scenarios = scenario::select(only.as_deref(), quick)?;
    let tsc_hz = tsc::hz(Duration::from_millis(200));
    let mut report = Report::new(tsc_hz, quick);
    // Whole rounds, so that a noisy minute spreads over all scenarios.
    for round in 1..=repeat {
        for s in &scenarios {
            eprintln!("tollgate-bench: {} (round {round} of {repeat}) ...", s.name);
            let row = run_one(s, &timing, no_dpdk, tsc_hz, work_dir)?;
            eprintln!("  {}", row.summary());
            report.rows.push(row);
        }
    }
    report.print();
    if let Some(path) = json {
        std::fs::write(&path, report.to_json())
            .map_err(|e| format!("--json {}: {e}", path.display()))?;
    }
    Ok(())
}

fn run_one(
    s: &Scenario,
    timing: &Timing,
    no_dpdk: bool,
    tsc_hz: u64,
    work_dir: &std::path::Path,
) -> Result<Row, String> {
    let parts = s.frames();
    let rules = Arc::new(
        tollgate_pipeline::RuleSnapshot::from_text(&rulegen::rules_text(s.rules), "bench", 1)
            .map_err(|e| format!("rules: {e}"))?,
    );
    let mut row = Row::new(
        s,
        parts.iter().map(frames::FrameSet::mean_len).sum::<f64>() / parts.len() as f64,
    );
    // The pipeline alone runs one worker's share.
    row.alone = Some(alone::run(
        &parts[0],
        rules,
        s.capacity(),
        s.fast_expiry(),
        timing.measure,
        tsc_hz,
    )?);
    if no_dpdk {
        return Ok(row);
    }
    let packets: u32 = parts.iter().map(|p| p.len() as u32).sum();
    let mut pcaps = Vec::new();
    let guard = PcapFiles(Vec::new());
    let mut guard = guard;
    for (i, p) in parts.iter().enumerate() {
        let path = work_dir.join(format!(
            "tollgate-bench-{}-{}-{i}.pcap",
            std::process::id(),
            s.name
        ));
        pcap::write(&path, p).map_err(|e| format!("{}: {e}", path.display()))?;
        guard.0.push(path.clone());
        pcaps.push(path.display().to_string());
    }
    drop(parts);
    row.ceiling = Some(testpmd::run(
        &pcaps,
        packets,
        s.mbuf_size(),
        timing.warmup,
        timing.measure,
    )?);
    row.tollgate = Some(vdev_child(s, &pcaps, packets, timing)?);
    Ok(row)
}

/// Generated pcaps, removed when the scenario is done (or fails).
struct PcapFiles(Vec<PathBuf>);

impl Drop for PcapFiles {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn vdev_child(
    s: &Scenario,
    pcaps: &[String],
    packets: u32,
    timing: &Timing,
) -> Result<vdev::VdevResult, String> {
    let exe = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
    let mut cmd = Command::new(exe);
    cmd.arg("vdev");
    for p in pcaps {
        cmd.args(["--pcap", p]);
    }
    cmd.args([
        "--packets".to_string(),
        packets.to_string(),
        "--rules".into(),
        s.rules.to_string(),
        "--capacity".into(),
        s.capacity().to_string(),
        "--mbuf-size".into(),
        s.mbuf_size().to_string(),
        "--warmup-ms".into(),
        timing.warmup.as_millis().to_string(),
        "--measure-ms".into(),
        timing.measure.as_millis().to_string(),
    ]);
    if s.fast_expiry() {
        cmd.arg("--fast-expiry");
    }
    let out = cmd
        .output()
        .map_err(|e| format!("tollgate-bench vdev: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .ok_or_else(|| {
            format!(
                "tollgate-bench vdev ({}) gave no result: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )
        })?;
    serde_json::from_str(line).map_err(|e| format!("vdev result: {e}"))
}
