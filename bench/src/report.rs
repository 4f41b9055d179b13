//! The results table and the `--json` file.

use serde_json::{json, Map, Value};

use crate::alone::AloneResult;
use crate::scenario::{Mode, Scenario};
use crate::testpmd::TestpmdResult;
use crate::vdev::VdevResult;

pub struct Row {
    pub scenario: Scenario,
    pub mean_frame: f64,
    pub alone: Option<AloneResult>,
    pub ceiling: Option<TestpmdResult>,
    pub tollgate: Option<VdevResult>,
}

impl Row {
    pub fn new(scenario: &Scenario, mean_frame: f64) -> Row {
        Row {
            scenario: scenario.clone(),
            mean_frame,
            alone: None,
            ceiling: None,
            tollgate: None,
        }
    }

    /// Tollgate's forwarding rate over testpmd's on the same device and cores.
    pub fn ratio(&self) -> Option<f64> {
        let t = self.tollgate.as_ref()?;
        let c = self.ceiling.as_ref()?;
        Some(t.tx_pps / c.tx_pps.max(1.0))
    }

    /// New flows per second over the ceiling's packets per second.
    pub fn new_flow_ratio(&self) -> Option<f64> {
        let t = self.tollgate.as_ref()?;
        let c = self.ceiling.as_ref()?;
        Some(t.flows_created_per_s / c.tx_pps.max(1.0))
    }

    pub fn summary(&self) -> String {
        let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
        format!(
            "ceiling {} Mpps, tollgate {} Mpps (ratio {}), {} cyc/pkt loop, {} cyc/pkt pipeline",
            f(self.ceiling.as_ref().map(|c| c.tx_pps / 1e6)),
            f(self.tollgate.as_ref().map(|t| t.tx_pps / 1e6)),
            f(self.ratio()),
            f(self.tollgate.as_ref().map(|t| t.cycles_per_packet)),
            f(self.alone.as_ref().map(|a| a.cycles_pipeline)),
        )
    }

    fn to_json(&self) -> Value {
        let mut v = json!({
            "scenario": self.scenario,
            "capacity_per_worker": self.scenario.capacity(),
            "mean_frame_bytes": self.mean_frame,
            "pipeline_alone": self.alone,
            "testpmd_macswap": self.ceiling,
            "tollgate": self.tollgate,
        });
        if let Some(r) = self.ratio() {
            v["ratio_to_ceiling"] = json!(r);
        }
        if self.scenario.mode != Mode::Established {
            if let Some(r) = self.new_flow_ratio() {
                v["new_flow_ratio_to_ceiling"] = json!(r);
            }
        }
        v
    }
}

pub struct Report {
    pub tsc_hz: u64,
    pub quick: bool,
    pub rows: Vec<Row>,
}

/// A target of issue 6: the figure, the bound, and whether it holds.
struct Target {
    key: &'static str,
    what: &'static str,
    value: Option<f64>,
    bound: f64,
    at_least: bool,
}

impl Report {
    pub fn new(tsc_hz: u64, quick: bool) -> Report {
        Report {
            tsc_hz,
            quick,
            rows: Vec::new(),
        }
    }

    fn row(&self, name: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.scenario.name == name)
    }

    fn targets(&self) -> Vec<Target> {
        let loop_cycles = |n: &str| self.row(n)?.tollgate.as_ref().map(|t| t.cycles_per_packet);
        let growth = match (loop_cycles("est-1M"), loop_cycles("est-1k")) {
            (Some(a), Some(b)) => Some(a / b),
            _ => None,
        };
        vec![
            Target {
                key: "target_ratio_to_ceiling_100k_flows",
                what: "tollgate / testpmd macswap, 100k flows, 1k rules",
                value: self.row("est-100k").and_then(Row::ratio),
                bound: 0.5,
                at_least: true,
            },
            Target {
                key: "target_cost_ratio_1M_over_1k_flows",
                what: "loop cycles/packet at 1M flows over 1k flows",
                value: growth,
                bound: 1.5,
                at_least: false,
            },
            Target {
                key: "target_new_flow_ratio_to_ceiling_1k_rules",
                what: "new flows/s over the ceiling's pps, 1k rules",
                value: self.row("new-1kr").and_then(Row::new_flow_ratio),
                bound: 0.2,
                at_least: true,
            },
            Target {
                key: "target_pipeline_cycles_100k_flows",
                what: "pipeline alone, cycles/packet, 100k established flows",
                value: self
                    .row("est-100k")
                    .and_then(|r| r.alone.as_ref())
                    .map(|a| a.cycles_pipeline),
                bound: 100.0,
                at_least: false,
            },
        ]
    }

    pub fn print(&self) {
        println!(
            "\nTSC {:.3} GHz; one worker core unless 'w' says 2; frames: mean bytes on the wire (no FCS)",
            self.tsc_hz as f64 / 1e9
        );
        println!(
            "{:<12} {:>7} {:>6} {:>6} {:>2} {:>7} | {:>8} {:>8} {:>6} | {:>8} {:>8} | {:>9} {:>7}",
            "scenario",
            "flows",
            "rules",
            "frame",
            "w",
            "table",
            "ceil_Mpps",
            "tg_Mpps",
            "ratio",
            "cyc_loop",
            "cyc_pipe",
            "newflow_M/s",
            "drop%"
        );
        for r in &self.rows {
            let s = &r.scenario;
            let opt = |v: Option<f64>, scale: f64, prec: usize| {
                v.map_or("-".to_string(), |v| format!("{:.*}", prec, v / scale))
            };
            let t = r.tollgate.as_ref();
            let drop_pct = t.map(|t| {
                let dropped: u64 = t.drops.iter().map(|(_, n)| n).sum();
                100.0 * dropped as f64 / (t.rx_pps * t.seconds).max(1.0)
            });
            println!(
                "{:<12} {:>7} {:>6} {:>6.0} {:>2} {:>7} | {:>9} {:>8} {:>6} | {:>8} {:>8} | {:>9} {:>7}",
                s.name,
                s.flows,
                s.rules,
                r.mean_frame,
                s.workers,
                s.capacity(),
                opt(r.ceiling.as_ref().map(|c| c.tx_pps), 1e6, 2),
                opt(t.map(|t| t.tx_pps), 1e6, 2),
                opt(r.ratio(), 1.0, 2),
                opt(t.map(|t| t.cycles_per_packet), 1.0, 0),
                opt(r.alone.as_ref().map(|a| a.cycles_pipeline), 1.0, 0),
                opt(t.map(|t| t.flows_created_per_s), 1e6, 3),
                opt(drop_pct, 1.0, 1),
            );
        }
        println!("\nTargets (issue 6):");
        for t in self.targets() {
            let verdict = match t.value {
                None => "not measured",
                Some(v) if (v >= t.bound) == t.at_least => "holds",
                Some(_) => "MISSED",
            };
            println!(
                "  {:<58} {:>8} ({} {}) {verdict}",
                t.what,
                t.value.map_or("-".into(), |v| format!("{v:.2}")),
                if t.at_least { ">=" } else { "<=" },
                t.bound
            );
        }
    }

    pub fn to_json(&self) -> String {
        let mut scenarios = Map::new();
        for r in &self.rows {
            scenarios.insert(r.scenario.name.clone(), r.to_json());
        }
        let mut targets = Map::new();
        for t in self.targets() {
            targets.insert(
                t.key.into(),
                json!({"value": t.value, "bound": t.bound, "at_least": t.at_least, "what": t.what}),
            );
        }
        let v = json!({
            "machine": machine(),
            "tsc_hz": self.tsc_hz,
            "quick": self.quick,
            "scenarios": scenarios,
            "targets": targets,
        });
        serde_json::to_string_pretty(&v).unwrap_or_default()
    }
}

/// CPU model and count, kernel: what the figures were measured on.
pub fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_default();
    let cpus = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    json!({"cpu": model, "cpus": cpus, "kernel": kernel.trim()})
}
