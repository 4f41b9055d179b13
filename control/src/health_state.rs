//! Whether the appliance is healthy, and why not: the one truth that the
//! health responder, `/metrics` and `tollgatectl status` all report.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tollgate_shm::{DataplaneState, Segment};

/// Everything health depends on, read from the segment in one go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthInputs {
    pub attached: bool,
    pub state: Option<DataplaneState>,
    /// Age of each worker's last heartbeat; `None`: never beat.
    pub heartbeat_ages: Vec<Option<Duration>>,
    pub rules_generation: u64,
    pub link_up: bool,
    pub draining: bool,
}

/// One reason for being unhealthy; also a metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Unhealthy {
    NotAttached,
    NotRunning,
    StaleHeartbeat,
    NoRules,
    LinkDown,
    Draining,
}

impl Unhealthy {
    pub const ALL: [Unhealthy; 6] = [
        Unhealthy::NotAttached,
        Unhealthy::NotRunning,
        Unhealthy::StaleHeartbeat,
        Unhealthy::NoRules,
        Unhealthy::LinkDown,
        Unhealthy::Draining,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Unhealthy::NotAttached => "not_attached",
            Unhealthy::NotRunning => "not_running",
            Unhealthy::StaleHeartbeat => "stale_heartbeat",
            Unhealthy::NoRules => "no_rules",
            Unhealthy::LinkDown => "link_down",
            Unhealthy::Draining => "draining",
        }
    }
}

/// The verdict with every failing condition spelled out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub healthy: bool,
    pub reasons: Vec<Unhealthy>,
    /// One line for humans and the HTTP 503 body.
    pub summary: String,
}

impl Health {
    pub fn is_failing(&self, reason: Unhealthy) -> bool {
        self.reasons.contains(&reason)
    }
}

impl HealthInputs {
    /// Reads the inputs from `segment` (`None`: not attached).
    pub fn read(segment: Option<&Segment>, now_ns: u64) -> HealthInputs {
        let Some(segment) = segment else {
            return HealthInputs {
                attached: false,
                state: None,
                heartbeat_ages: Vec::new(),
                rules_generation: 0,
                link_up: false,
                draining: false,
            };
        };
        HealthInputs {
            attached: true,
            state: Some(segment.state()),
            heartbeat_ages: segment
                .heartbeats()
                .into_iter()
                .map(|beat| (beat != 0).then(|| Duration::from_nanos(now_ns.saturating_sub(beat))))
                .collect(),
            rules_generation: segment.applied_rules().0,
            link_up: segment.link().up,
            draining: segment.draining(),
        }
    }

    /// Healthy only when every condition holds.
    pub fn evaluate(&self, heartbeat_timeout: Duration) -> Health {
        let mut reasons = Vec::new();
        let mut details = Vec::new();
        if !self.attached {
            reasons.push(Unhealthy::NotAttached);
            details.push("not attached to the dataplane".to_string());
        } else {
            if self.state != Some(DataplaneState::Running) {
                reasons.push(Unhealthy::NotRunning);
                details.push(format!(
                    "dataplane state {:?}",
                    self.state.unwrap_or(DataplaneState::Unknown(0))
                ));
            }
            let stale: Vec<String> = self
                .heartbeat_ages
                .iter()
                .enumerate()
                .filter_map(|(worker, age)| match age {
                    Some(age) if *age <= heartbeat_timeout => None,
                    Some(age) => Some(format!("worker {worker} {} ms", age.as_millis())),
                    None => Some(format!("worker {worker} never")),
                })
                .collect();
            if !stale.is_empty() || self.heartbeat_ages.is_empty() {
                reasons.push(Unhealthy::StaleHeartbeat);
                details.push(format!("stale heartbeat: {}", stale.join(", ")));
            }
            if self.rules_generation == 0 {
                reasons.push(Unhealthy::NoRules);
                details.push("no rule set applied".to_string());
            }
            if !self.link_up {
                reasons.push(Unhealthy::LinkDown);
                details.push("link down".to_string());
            }
            if self.draining {
                reasons.push(Unhealthy::Draining);
                details.push("draining".to_string());
            }
        }
        let healthy = reasons.is_empty();
        let summary = if healthy {
            "healthy".to_string()
        } else {
            format!("unhealthy: {}", details.join("; "))
        };
        Health {
            healthy,
            reasons,
            summary,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> HealthInputs {
        HealthInputs {
            attached: true,
            state: Some(DataplaneState::Running),
            heartbeat_ages: vec![
                Some(Duration::from_millis(3)),
                Some(Duration::from_millis(900)),
            ],
            rules_generation: 4,
            link_up: true,
            draining: false,
        }
    }

    const LIMIT: Duration = Duration::from_secs(1);

    #[test]
    fn all_conditions_met_is_healthy() {
        let h = good().evaluate(LIMIT);
        assert!(h.healthy, "{h:?}");
        assert!(h.reasons.is_empty());
        assert_eq!(h.summary, "healthy");
    }

    #[test]
    fn each_condition_alone_flips_health() {
        type Change = fn(&mut HealthInputs);
        let table: &[(&str, Change, Unhealthy, &str)] = &[
            (
                "detached",
                |i| i.attached = false,
                Unhealthy::NotAttached,
                "not attached",
            ),
            (
                "starting",
                |i| i.state = Some(DataplaneState::Starting),
                Unhealthy::NotRunning,
                "state Starting",
            ),
            (
                "stopping",
                |i| i.state = Some(DataplaneState::Stopping),
                Unhealthy::NotRunning,
                "state Stopping",
            ),
            (
                "stopped",
                |i| i.state = Some(DataplaneState::Stopped),
                Unhealthy::NotRunning,
                "state Stopped",
            ),
            (
                "stale worker 1",
                |i| i.heartbeat_ages[1] = Some(Duration::from_millis(1001)),
                Unhealthy::StaleHeartbeat,
                "worker 1 1001 ms",
            ),
            (
                "worker never beat",
                |i| i.heartbeat_ages[0] = None,
                Unhealthy::StaleHeartbeat,
                "worker 0 never",
            ),
            (
                "no workers",
                |i| i.heartbeat_ages.clear(),
                Unhealthy::StaleHeartbeat,
                "stale heartbeat",
            ),
            (
                "no rules",
                |i| i.rules_generation = 0,
                Unhealthy::NoRules,
                "no rule set",
            ),
            (
                "link down",
                |i| i.link_up = false,
                Unhealthy::LinkDown,
                "link down",
            ),
            (
                "draining",
                |i| i.draining = true,
                Unhealthy::Draining,
                "draining",
            ),
        ];
        for (name, change, reason, text) in table {
            let mut inputs = good();
            change(&mut inputs);
            let h = inputs.evaluate(LIMIT);
            assert!(!h.healthy, "{name}");
            assert_eq!(h.reasons, vec![*reason], "{name}");
            assert!(
                h.summary.starts_with("unhealthy: ") && h.summary.contains(text),
                "{name}: {}",
                h.summary
            );
        }
    }

    #[test]
    fn heartbeat_exactly_at_the_limit_is_fresh() {
        let mut inputs = good();
        inputs.heartbeat_ages[0] = Some(LIMIT);
        assert!(inputs.evaluate(LIMIT).healthy);
    }

    #[test]
    fn several_failures_are_all_reported() {
        let mut inputs = good();
        inputs.link_up = false;
        inputs.draining = true;
        inputs.rules_generation = 0;
        let h = inputs.evaluate(LIMIT);
        assert_eq!(
            h.reasons,
            vec![Unhealthy::NoRules, Unhealthy::LinkDown, Unhealthy::Draining]
        );
        assert!(h.is_failing(Unhealthy::Draining));
        assert!(!h.is_failing(Unhealthy::StaleHeartbeat));
    }

    #[test]
    fn reads_a_real_segment() {
        use tollgate_shm::{LinkStatus, Segment, SegmentConfig};
        let name = format!("ctl-health-{}", std::process::id());
        let dp = Segment::create(
            &name,
            &SegmentConfig {
                workers: 2,
                ..SegmentConfig::default()
            },
        )
        .unwrap();
        let now = tollgate_shm::monotonic_ns();
        let read = |seg: &Segment| {
            HealthInputs::read(Some(seg), tollgate_shm::monotonic_ns()).evaluate(LIMIT)
        };
        let h = read(&dp);
        assert_eq!(
            h.reasons,
            vec![
                Unhealthy::NotRunning,
                Unhealthy::StaleHeartbeat,
                Unhealthy::NoRules,
                Unhealthy::LinkDown
            ]
        );
        dp.set_state(DataplaneState::Running);
        dp.worker_stats(0).unwrap().beat(now);
        dp.worker_stats(1).unwrap().beat(now);
        dp.publish_rules(1, 0, &["a"]).unwrap();
        dp.set_link(LinkStatus {
            up: true,
            speed_mbps: 10_000,
        });
        assert!(read(&dp).healthy, "{:?}", read(&dp));
        dp.set_draining(true);
        assert_eq!(read(&dp).reasons, vec![Unhealthy::Draining]);
        assert_eq!(
            HealthInputs::read(None, now).evaluate(LIMIT).reasons,
            vec![Unhealthy::NotAttached]
        );
    }
}
