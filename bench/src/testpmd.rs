//! The I/O ceiling: `dpdk-testpmd --forward-mode=macswap` on the same
//! device and core as the tollgate run. Its once-a-second statistics give
//! the forwarding rate; the median of the samples after the warm-up counts
//! (tollgate's run is sampled and summarised the same way, see `vdev`).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct TestpmdResult {
    pub tx_pps: f64,
    pub samples: Vec<f64>,
}

/// Runs testpmd with `workers` forwarding cores over `pcaps` (one RX
/// queue each) for `warmup + measure`, then stops it with SIGINT.
pub fn run(
    pcaps: &[String],
    packets: u32,
    mbuf_size: u16,
    warmup: Duration,
    measure: Duration,
) -> Result<TestpmdResult, String> {
    let workers = pcaps.len().max(1);
    let mut cmd = Command::new("dpdk-testpmd");
    cmd.args(crate::vdev::eal_args(workers, pcaps));
    let total_mbufs = packets as usize + workers * 4096 + 8192;
    cmd.args([
        "--".to_string(),
        "--forward-mode=macswap".into(),
        "--port-topology=loop".into(),
        "--auto-start".into(),
        "--stats-period=1".into(),
        format!("--nb-cores={workers}"),
        format!("--rxq={workers}"),
        format!("--txq={workers}"),
        "--burst=32".into(),
        format!("--total-num-mbufs={total_mbufs}"),
        format!("--mbuf-size={mbuf_size}"),
    ]);
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::null())
        .stdin(Stdio::null());
    let mut child = cmd.spawn().map_err(|e| format!("dpdk-testpmd: {e}"))?;
    let stdout = child.stdout.take().ok_or("dpdk-testpmd: no stdout")?;
    let (send, recv) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                break;
            }
        }
    });
    // Start the clock at the first statistics block: setup (loading the
    // pcap into mbufs) can take seconds.
    let mut samples = Vec::new();
    let mut started: Option<Instant> = None;
    let limit = Instant::now() + Duration::from_secs(120) + warmup + measure;
    let mut log = Vec::new();
    while Instant::now() < limit {
        let Ok(line) = recv.recv_timeout(Duration::from_millis(200)) else {
            if child.try_wait().ok().flatten().is_some() {
                break;
            }
            continue;
        };
        if log.len() < 200 {
            log.push(line.clone());
        }
        if let Some(pps) = parse_tx_pps(&line) {
            let t = *started.get_or_insert_with(Instant::now);
            if t.elapsed() >= warmup {
                samples.push(pps);
            }
            if t.elapsed() >= warmup + measure {
                break;
            }
        }
    }
    // SIGINT: testpmd stops forwarding and releases its ports cleanly.
    // SAFETY: kill only sends a signal, to the child we spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let _ = child.wait();
    let _ = reader.join();
    let Some(tx_pps) = crate::report::median(samples.clone()) else {
        return Err(format!(
            "dpdk-testpmd printed no statistics; its output began:\n{}",
            log.join("\n")
        ));
    };
    Ok(TestpmdResult { tx_pps, samples })
}

/// The per-port "Tx-pps:" figure of testpmd's periodic statistics. With
/// one port (loop topology) there is one such line per period.
fn parse_tx_pps(line: &str) -> Option<f64> {
    let rest = line.trim_start().strip_prefix("Tx-pps:")?;
    rest.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_tx_pps_lines_only() {
        assert_eq!(
            super::parse_tx_pps("  Tx-pps:     27654321          Tx-bps:  29203955232"),
            Some(27_654_321.0)
        );
        assert_eq!(super::parse_tx_pps("  Rx-pps:     27654321"), None);
        assert_eq!(super::parse_tx_pps("  Tx-pps: x"), None);
    }
}
