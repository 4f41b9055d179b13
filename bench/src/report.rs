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

    fn ceiling_pps(&self) -> Option<f64> {
        self.ceiling.as_ref().map(|c| c.tx_pps)
    }

    fn tollgate_pps(&self) -> Option<f64> {
        self.tollgate.as_ref().map(|t| t.tx_pps)
    }

    fn cycles_loop(&self) -> Option<f64> {
        self.tollgate.as_ref().map(|t| t.cycles_per_packet)
    }

    fn cycles_pipeline(&self) -> Option<f64> {
        self.alone.as_ref().map(|a| a.cycles_pipeline)
    }

    fn new_flows_per_s(&self) -> Option<f64> {
        self.tollgate.as_ref().map(|t| t.flows_created_per_s)
    }

    /// Packets tollgate dropped, in percent of those received.
    fn drop_pct(&self) -> Option<f64> {
        self.tollgate.as_ref().map(|t| {
            let dropped: u64 = t.drops.iter().map(|(_, n)| n).sum();
            100.0 * dropped as f64 / (t.rx_packets as f64).max(1.0)
        })
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
    /// One per scenario and round.
    pub rows: Vec<Row>,
}

/// The median (of an even count, the mean of the middle two); `None`
/// for no values.
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

/// One scenario's rounds; each figure is reported as their median.
struct Rounds<'r> {
    rows: Vec<&'r Row>,
}

impl Rounds<'_> {
    fn scenario(&self) -> &Scenario {
        &self.rows[0].scenario
    }

    /// The rounds' values of `figure` (those that measured it), sorted.
    fn values(&self, figure: impl Fn(&Row) -> Option<f64>) -> Vec<f64> {
        let mut v: Vec<f64> = self.rows.iter().filter_map(|r| figure(r)).collect();
        v.sort_by(f64::total_cmp);
        v
    }

    fn median(&self, figure: impl Fn(&Row) -> Option<f64>) -> Option<f64> {
        median(self.values(figure))
    }

    fn median_json(&self) -> Value {
        let mut v = json!({
            "rounds": self.rows.len(),
            "ceiling_pps": self.median(Row::ceiling_pps),
            "tollgate_pps": self.median(Row::tollgate_pps),
            "cycles_loop": self.median(Row::cycles_loop),
            "cycles_pipeline": self.median(Row::cycles_pipeline),
            "new_flows_per_s": self.median(Row::new_flows_per_s),
            "drop_pct": self.median(Row::drop_pct),
        });
        if let Some(r) = self.median(Row::ratio) {
            v["ratio_to_ceiling"] = json!(r);
        }
        if self.scenario().mode != Mode::Established {
            if let Some(r) = self.median(Row::new_flow_ratio) {
                v["new_flow_ratio_to_ceiling"] = json!(r);
            }
        }
        v
    }
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

    /// The rows grouped by scenario, in the order they first ran.
    fn rounds(&self) -> Vec<Rounds<'_>> {
        let mut out: Vec<Rounds<'_>> = Vec::new();
        for r in &self.rows {
            match out
                .iter_mut()
                .find(|g| g.scenario().name == r.scenario.name)
            {
                Some(g) => g.rows.push(r),
                None => out.push(Rounds { rows: vec![r] }),
            }
        }
        out
    }

    /// The median of `figure` over the rounds of scenario `name`.
    fn median(&self, name: &str, figure: impl Fn(&Row) -> Option<f64>) -> Option<f64> {
        self.rounds()
            .into_iter()
            .find(|g| g.scenario().name == name)?
            .median(figure)
    }

    fn targets(&self) -> Vec<Target> {
        let loop_cycles = |n: &str| self.median(n, Row::cycles_loop);
        let growth = match (loop_cycles("est-1M"), loop_cycles("est-1k")) {
            (Some(a), Some(b)) => Some(a / b),
            _ => None,
        };
        vec![
            Target {
                key: "target_ratio_to_ceiling_100k_flows",
                what: "tollgate / testpmd macswap, 100k flows, 1k rules",
                value: self.median("est-100k", Row::ratio),
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
                value: self.median("new-1kr", Row::new_flow_ratio),
                bound: 0.2,
                at_least: true,
            },
            Target {
                key: "target_pipeline_cycles_100k_flows",
                what: "pipeline alone, cycles/packet, 100k established flows",
                value: self.median("est-100k", Row::cycles_pipeline),
                bound: 100.0,
                at_least: false,
            },
        ]
    }

    pub fn print(&self) {
        let rounds = self.rounds();
        let repeated = rounds.iter().any(|g| g.rows.len() > 1);
        println!(
            "\nTSC {:.3} GHz; one worker core unless 'w' says 2; frame: mean bytes on the wire (no FCS);\nframes: frames replayed, frame i of flow i % flows",
            self.tsc_hz as f64 / 1e9
        );
        if repeated {
            println!(
                "each figure: the median over the rounds; ratio_range: lowest and highest round"
            );
        }
        println!(
            "{:<12} {:>7} {:>7} {:>6} {:>6} {:>2} {:>7} | {:>8} {:>8} {:>6} | {:>8} {:>8} | {:>9} {:>7}{}",
            "scenario",
            "flows",
            "frames",
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
            "drop%",
            if repeated { " | ratio_range" } else { "" }
        );
        for g in &rounds {
            let s = g.scenario();
            let opt = |v: Option<f64>, scale: f64, prec: usize| {
                v.map_or("-".to_string(), |v| format!("{:.*}", prec, v / scale))
            };
            let range = match g.values(Row::ratio)[..] {
                [lo, .., hi] if repeated => format!(" | {lo:.2}-{hi:.2}"),
                [one] if repeated => format!(" | {one:.2}"),
                _ if repeated => " | -".to_string(),
                _ => String::new(),
            };
            println!(
                "{:<12} {:>7} {:>7} {:>6} {:>6.0} {:>2} {:>7} | {:>9} {:>8} {:>6} | {:>8} {:>8} | {:>9} {:>7}{range}",
                s.name,
                s.flows,
                s.frames,
                s.rules,
                g.rows[0].mean_frame,
                s.workers,
                s.capacity(),
                opt(g.median(Row::ceiling_pps), 1e6, 2),
                opt(g.median(Row::tollgate_pps), 1e6, 2),
                opt(g.median(Row::ratio), 1.0, 2),
                opt(g.median(Row::cycles_loop), 1.0, 0),
                opt(g.median(Row::cycles_pipeline), 1.0, 0),
                opt(g.median(Row::new_flows_per_s), 1e6, 3),
                opt(g.median(Row::drop_pct), 1.0, 1),
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
        for g in self.rounds() {
            let rounds: Vec<Value> = g.rows.iter().map(|r| r.to_json()).collect();
            scenarios.insert(
                g.scenario().name.clone(),
                json!({"median": g.median_json(), "rounds": rounds}),
            );
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alone::AloneResult;

    fn rows(name: &str, pipeline_cycles: &[f64]) -> Vec<Row> {
        let scenario = crate::scenario::all(false)
            .into_iter()
            .find(|s| s.name == name)
            .unwrap();
        pipeline_cycles
            .iter()
            .map(|&c| Row {
                alone: Some(AloneResult {
                    cycles_pipeline: c,
                    ..AloneResult::default()
                }),
                ..Row::new(&scenario, 146.0)
            })
            .collect()
    }

    #[test]
    fn targets_use_the_median_round_of_each_scenario() {
        let mut report = Report::new(2_000_000_000, false);
        report.rows.extend(rows("est-100k", &[300.0, 90.0, 120.0]));
        report
            .rows
            .extend(rows("est-1k", &[80.0, 70.0, 95.0, 60.0]));
        let pipeline = |name| report.median(name, Row::cycles_pipeline);
        assert_eq!(pipeline("est-100k"), Some(120.0));
        assert_eq!(
            pipeline("est-1k"),
            Some(75.0),
            "even count: mean of the middle two"
        );
        assert_eq!(pipeline("est-1M"), None);
        let target = report
            .targets()
            .into_iter()
            .find(|t| t.key == "target_pipeline_cycles_100k_flows")
            .unwrap();
        assert_eq!(target.value, Some(120.0));
        // Rounds of one scenario stay together, in first-run order.
        let names: Vec<String> = report
            .rounds()
            .iter()
            .map(|g| g.scenario().name.clone())
            .collect();
        assert_eq!(names, ["est-100k", "est-1k"]);
        let json: Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["scenarios"]["est-1k"]["median"]["rounds"], 4);
        assert_eq!(
            json["scenarios"]["est-1k"]["rounds"]
                .as_array()
                .unwrap()
                .len(),
            4
        );
    }
}
