//! What `tollgatectl rules show` and `status` report, read from the
//! service's state and the segment.

use tollgate_shm::{Counter, Segment};

use super::Service;
use crate::api::{CurrentRules, DataplaneView, RulesView, StatusView, WorkerView};
use crate::config::HealthProtocol;

impl Service {
    pub(super) fn rules_view(&self) -> RulesView {
        let segment = self.attachment.as_ref().map(|a| &a.segment);
        let info = segment.and_then(|s| s.rules_info().ok());
        RulesView {
            current: self.current.as_ref().map(|h| CurrentRules {
                origin: h.rules.origin.clone(),
                generation: h.generation,
                rules: h.rules.rules,
                text: h.rules.text.clone(),
            }),
            applied_generation: segment.map(|s| s.applied_rules().0),
            applied_unix_ns: segment.map_or(0, |s| s.applied_rules().1),
            applied_rule_ids: info.map(|i| i.ids).unwrap_or_default(),
        }
    }

    pub(super) fn status_view(&self) -> StatusView {
        let health = self.health();
        let hc = &self.config.health;
        let health_check = match hc.protocol {
            HealthProtocol::Http => format!("http port {} path {}", hc.port, hc.path),
            HealthProtocol::Tcp => format!("tcp port {}", hc.port),
        };
        let segment = self.attachment.as_ref().map(|a| &a.segment);
        let responder = self
            .shared
            .lock()
            .map(|p| p.responder.clone())
            .unwrap_or_default();
        StatusView {
            segment: self.config.shm.name.clone(),
            attached: segment.is_some(),
            attach_error: self.attach_error.clone(),
            dataplane: segment.map(dataplane_view),
            health,
            health_check,
            rules_generation: segment.map_or(0, |s| s.applied_rules().0),
            control_generation: self.current.as_ref().map_or(0, |h| h.generation),
            responder,
        }
    }
}

/// Whether `pid` names a live process (EPERM counts as alive).
pub fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 only checks for existence; no memory involved.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

fn dataplane_view(s: &Segment) -> DataplaneView {
    let now = tollgate_shm::monotonic_ns();
    let workers = s
        .heartbeats()
        .into_iter()
        .enumerate()
        .map(|(index, beat)| {
            let stats = s.worker_stats(index).ok();
            WorkerView {
                index,
                heartbeat_age_ms: (beat != 0).then(|| now.saturating_sub(beat) as f64 / 1e6),
                rx_packets: stats.map_or(0, |w| w.get(Counter::RxPackets)),
                tx_packets: stats.map_or(0, |w| w.get(Counter::TxPackets)),
            }
        })
        .collect();
    let totals = s.counter_totals();
    let drops = Counter::ALL
        .iter()
        .filter(|c| c.desc().name.ends_with("dropped_packets_total") && totals[c.index()] > 0)
        .map(|c| {
            let d = c.desc();
            let what: Vec<&str> = d.labels.iter().map(|(_, v)| *v).collect();
            // "punt:ring_full", "inject:malformed", "malformed/ipv4", "firewall".
            let family = d
                .name
                .trim_start_matches("tollgate_")
                .trim_end_matches("dropped_packets_total");
            let family = family.trim_end_matches('_');
            let prefix = if family.is_empty() {
                String::new()
            } else {
                format!("{family}:")
            };
            (format!("{prefix}{}", what.join("/")), totals[c.index()])
        })
        .collect();
    let by_reason = |family: &str| -> Vec<(String, u64)> {
        Counter::ALL
            .iter()
            .filter(|c| c.desc().name == family && totals[c.index()] > 0)
            .map(|c| {
                let reason = c.desc().labels.iter().find(|(k, _)| *k == "reason");
                let reason = reason.map_or("", |(_, v)| *v);
                (reason.to_string(), totals[c.index()])
            })
            .collect()
    };
    let flows_refused = by_reason("tollgate_flows_refused_total");
    let flows_evicted = by_reason("tollgate_flows_evicted_total");
    let link = s.link();
    DataplaneView {
        pid: s.dataplane_pid(),
        pid_alive: pid_alive(s.dataplane_pid()),
        state: format!("{:?}", s.state()),
        epoch: s.epoch(),
        workers,
        link_up: link.up,
        link_speed_mbps: link.speed_mbps,
        draining: s.draining(),
        flows_active: totals[Counter::FlowsActive.index()],
        flow_capacity: s.flow_capacity(),
        rx_packets: totals[Counter::RxPackets.index()],
        tx_packets: totals[Counter::TxPackets.index()],
        drops,
        flows_refused,
        flows_evicted,
    }
}
