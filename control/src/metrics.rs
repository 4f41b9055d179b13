//! Prometheus text format (0.0.4), read from the segment at scrape time: the
//! dataplane does nothing per packet for the exporter beyond bumping its own
//! counters.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use tollgate_shm::{Counter, DataplaneState, EndpointCount, MetricKind, Segment};

use crate::api::endpoint_name;
use crate::config::Config;
use crate::conn_limit::ServerCounters;
use crate::health_state::{HealthInputs, Unhealthy};
use crate::service::{pid_alive, Published};

/// Counters exported per worker (label `worker`) instead of summed.
const PER_WORKER: [Counter; 4] = [
    Counter::RxPackets,
    Counter::RxBytes,
    Counter::TxPackets,
    Counter::TxBytes,
];

/// Text being built; each family's HELP and TYPE is written once.
struct Text {
    out: String,
    families: BTreeMap<String, ()>,
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Text {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        if self.families.insert(name.to_string(), ()).is_none() {
            let help = help.replace('\\', "\\\\").replace('\n', "\\n");
            let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        }
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape_label(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }

    /// A family of one unlabelled sample.
    fn single(&mut self, name: &str, kind: &str, help: &str, value: f64) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }
}

/// Renders every metric; `published` is the service's latest view.
pub fn render(published: &Published, config: &Config) -> String {
    let mut t = Text {
        out: String::with_capacity(16 << 10),
        families: BTreeMap::new(),
    };
    t.family(
        "tollgate_build_info",
        "gauge",
        "Build of the control plane; the value is always 1.",
    );
    t.sample(
        "tollgate_build_info",
        &[
            ("version", env!("CARGO_PKG_VERSION")),
            ("shm_layout", &tollgate_shm::LAYOUT_VERSION.to_string()),
            (
                "counter_schema",
                &format!("{:016x}", tollgate_shm::COUNTER_SCHEMA),
            ),
        ],
        1.0,
    );
    let segment = published.segment.as_ref();
    let inputs = HealthInputs::read(segment, tollgate_shm::monotonic_ns());
    let health = inputs.evaluate(config.health.heartbeat_timeout());
    t.single(
        "tollgate_healthy",
        "gauge",
        "1 when health checks are answered healthy, else 0.",
        bool_value(health.healthy),
    );
    t.family(
        "tollgate_health_failing",
        "gauge",
        "1 for each condition that currently makes the appliance unhealthy.",
    );
    for reason in Unhealthy::ALL {
        t.sample(
            "tollgate_health_failing",
            &[("reason", reason.label())],
            bool_value(health.is_failing(reason)),
        );
    }
    let up = segment
        .is_some_and(|s| s.state() == DataplaneState::Running && pid_alive(s.dataplane_pid()));
    t.single(
        "tollgate_dataplane_up",
        "gauge",
        "1 when control is attached to a running dataplane process.",
        bool_value(up),
    );
    t.single(
        "tollgate_control_attached",
        "gauge",
        "1 while control is attached to the dataplane's shared memory.",
        bool_value(segment.is_some()),
    );
    control_metrics(&mut t, published);
    if let Some(segment) = segment {
        dataplane_metrics(&mut t, segment, &inputs, config.metrics.max_endpoints);
    }
    t.out
}

fn bool_value(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

fn server_metrics(t: &mut Text, p: &Published) {
    let servers = [("api", &p.api_server), ("metrics", &p.metrics_server)];
    let cut = "tollgate_control_connections_cut_total";
    t.family(
        cut,
        "counter",
        "Connections cut to make room for a new one at the server's cap: the oldest still sending its request.",
    );
    for (server, c) in servers {
        t.sample(
            cut,
            &[("server", server)],
            ServerCounters::get(&c.cut) as f64,
        );
    }
    let refused = "tollgate_control_requests_refused_total";
    t.family(
        refused,
        "counter",
        "Requests turned away, by server and reason: deadline (not complete in time), too_large, busy (other requests hold the byte budget), no_room (every connection was being answered).",
    );
    for (server, c) in servers {
        for (reason, n) in [
            ("deadline", &c.deadline),
            ("too_large", &c.too_large),
            ("busy", &c.busy),
            ("no_room", &c.refused),
        ] {
            let labels = [("server", server), ("reason", reason)];
            t.sample(refused, &labels, ServerCounters::get(n) as f64);
        }
    }
}

fn control_metrics(t: &mut Text, p: &Published) {
    let c = &p.control;
    let r = &p.responder;
    t.single(
        "tollgate_control_attaches_total",
        "counter",
        "Times control attached to a dataplane segment.",
        c.attaches as f64,
    );
    t.single(
        "tollgate_control_inject_dropped_packets_total",
        "counter",
        "Frames from the health responder not queued because the inject ring was full.",
        c.inject_dropped as f64,
    );
    t.family(
        "tollgate_control_rule_loads_total",
        "counter",
        "Rule sets shipped to the dataplane, by result.",
    );
    t.sample(
        "tollgate_control_rule_loads_total",
        &[("result", "applied")],
        c.rules_applied as f64,
    );
    t.sample(
        "tollgate_control_rule_loads_total",
        &[("result", "failed")],
        c.rules_failed as f64,
    );
    t.single(
        "tollgate_control_command_timeouts_total",
        "counter",
        "Commands the dataplane did not answer in time.",
        c.command_timeouts as f64,
    );
    t.single(
        "tollgate_control_stale_replies_total",
        "counter",
        "Dataplane replies discarded because no request with their id was waiting (late answers to timed-out commands).",
        c.stale_replies as f64,
    );
    server_metrics(t, p);
    t.single(
        "tollgate_health_frames_received_total",
        "counter",
        "Punted frames the health responder took in.",
        r.frames_in as f64,
    );
    t.single(
        "tollgate_health_frames_ignored_total",
        "counter",
        "Punted frames that were not IPv4 or came before the appliance identity was known.",
        r.frames_ignored as f64,
    );
    t.single(
        "tollgate_health_frames_sent_total",
        "counter",
        "Frames the health responder handed to the inject ring.",
        r.frames_out as f64,
    );
    t.single(
        "tollgate_health_tcp_accepted_total",
        "counter",
        "TCP health checks accepted.",
        r.tcp_accepted as f64,
    );
    t.single(
        "tollgate_health_connections_expired_total",
        "counter",
        "Health check connections dropped half-open (1 s) or unfinished (5 s).",
        r.connections_expired as f64,
    );
    t.family(
        "tollgate_health_connections_recycled_total",
        "counter",
        "Health check connections closed to give a new check a socket while all were busy, by the state they were in.",
    );
    for (state, n) in [
        ("half_open", r.recycled_half_open),
        ("idle", r.recycled_idle),
        ("answered", r.recycled_answered),
    ] {
        t.sample(
            "tollgate_health_connections_recycled_total",
            &[("state", state)],
            n as f64,
        );
    }
    t.single(
        "tollgate_health_neighbours_evicted_total",
        "counter",
        "Sender addresses whose MAC the health responder forgot to stay within its table (never a peer of an open connection).",
        r.neighbours_evicted as f64,
    );
    t.single(
        "tollgate_health_frames_unaddressed_total",
        "counter",
        "Frames from the health responder not sent because their destination's MAC had been forgotten.",
        r.frames_unaddressed as f64,
    );
    t.family(
        "tollgate_health_http_responses_total",
        "counter",
        "HTTP health check answers, by status code.",
    );
    t.sample(
        "tollgate_health_http_responses_total",
        &[("code", "200")],
        r.http_ok as f64,
    );
    t.sample(
        "tollgate_health_http_responses_total",
        &[("code", "503")],
        r.http_unavailable as f64,
    );
    t.sample(
        "tollgate_health_http_responses_total",
        &[("code", "other")],
        r.http_other as f64,
    );
}

fn dataplane_metrics(t: &mut Text, s: &Segment, inputs: &HealthInputs, max_endpoints: usize) {
    let link = s.link();
    t.single(
        "tollgate_dataplane_workers",
        "gauge",
        "Worker lcores of the dataplane.",
        s.worker_count() as f64,
    );
    t.single(
        "tollgate_dataplane_start_timestamp_seconds",
        "gauge",
        "When the dataplane created the segment (Unix time).",
        s.created_unix_ns() as f64 / 1e9,
    );
    t.single(
        "tollgate_link_up",
        "gauge",
        "1 when the data port's link is up.",
        bool_value(link.up),
    );
    t.single(
        "tollgate_link_speed_bytes_per_second",
        "gauge",
        "Data port link speed.",
        link.speed_mbps as f64 * 1e6 / 8.0,
    );
    t.single(
        "tollgate_draining",
        "gauge",
        "1 while the appliance is draining (health checks fail on purpose).",
        bool_value(s.draining()),
    );
    t.family(
        "tollgate_worker_heartbeat_age_seconds",
        "gauge",
        "Time since each worker's last heartbeat (-1: never).",
    );
    for (i, age) in inputs.heartbeat_ages.iter().enumerate() {
        let v = age.map_or(-1.0, |a| a.as_secs_f64());
        t.sample(
            "tollgate_worker_heartbeat_age_seconds",
            &[("worker", &i.to_string())],
            v,
        );
    }

    let totals = s.counter_totals();
    for c in Counter::ALL {
        let d = c.desc();
        t.family(d.name, d.kind.prometheus_type(), d.help);
        if PER_WORKER.contains(c) {
            for w in 0..s.worker_count() {
                let v = s.worker_stats(w).map_or(0, |ws| ws.get(*c));
                let worker = w.to_string();
                let mut labels: Vec<(&str, &str)> = d.labels.to_vec();
                labels.push(("worker", &worker));
                t.sample(d.name, &labels, v as f64);
            }
        } else {
            debug_assert!(d.kind == MetricKind::Counter || d.kind == MetricKind::Gauge);
            t.sample(d.name, d.labels, totals[c.index()] as f64);
        }
    }
    t.single(
        "tollgate_flows_capacity",
        "gauge",
        "Flows the flow table can hold, over all workers.",
        s.flow_capacity() as f64,
    );

    let (generation, load_ns) = s.applied_rules();
    t.single(
        "tollgate_rules_generation",
        "gauge",
        "Generation of the rule set the dataplane applied (0: none).",
        generation as f64,
    );
    t.single(
        "tollgate_rules_loaded_timestamp_seconds",
        "gauge",
        "When the applied rule set was loaded (Unix time).",
        load_ns as f64 / 1e9,
    );
    if let Ok(info) = s.rules_info() {
        t.single(
            "tollgate_rules",
            "gauge",
            "Rules in the applied rule set.",
            info.ids.len() as f64,
        );
        t.family(
            "tollgate_rule_hits_total",
            "counter",
            "Flows whose first packet matched each rule.",
        );
        for (id, hits) in info.ids.iter().zip(s.rule_hit_totals(info.ids.len())) {
            t.sample("tollgate_rule_hits_total", &[("rule", id)], hits as f64);
        }
    }

    let (mut endpoints, mut other) = s.endpoint_totals();
    endpoints.sort_by(|a, b| {
        b.packets
            .cmp(&a.packets)
            .then(a.endpoint_id.cmp(&b.endpoint_id))
    });
    for e in endpoints.iter().skip(max_endpoints) {
        other.packets += e.packets;
        other.bytes += e.bytes;
    }
    endpoints.truncate(max_endpoints);
    endpoint_family(
        t,
        "tollgate_endpoint_packets_total",
        "Packets per GWLB endpoint (beyond the label cap: endpoint=\"other\").",
        &endpoints,
        &other,
        |e| e.packets,
    );
    endpoint_family(
        t,
        "tollgate_endpoint_bytes_total",
        "Bytes per GWLB endpoint (beyond the label cap: endpoint=\"other\").",
        &endpoints,
        &other,
        |e| e.bytes,
    );

    if let Ok(port) = s.port_stats() {
        let c = &port.counters;
        let rows: [(&str, &str, u64); 8] = [
            (
                "tollgate_port_rx_packets_total",
                "Packets received by the data port (ethdev).",
                c.ipackets,
            ),
            (
                "tollgate_port_tx_packets_total",
                "Packets transmitted by the data port (ethdev).",
                c.opackets,
            ),
            (
                "tollgate_port_rx_bytes_total",
                "Bytes received by the data port (ethdev).",
                c.ibytes,
            ),
            (
                "tollgate_port_tx_bytes_total",
                "Bytes transmitted by the data port (ethdev).",
                c.obytes,
            ),
            (
                "tollgate_port_rx_missed_packets_total",
                "Packets the NIC dropped because no RX descriptor was free (imissed).",
                c.imissed,
            ),
            (
                "tollgate_port_rx_errors_total",
                "Erroneous packets received (ierrors).",
                c.ierrors,
            ),
            (
                "tollgate_port_tx_errors_total",
                "Packets that failed to transmit (oerrors).",
                c.oerrors,
            ),
            (
                "tollgate_port_rx_nombuf_total",
                "RX mbuf allocation failures (rx_nombuf).",
                c.rx_nombuf,
            ),
        ];
        for (name, help, v) in rows {
            t.single(name, "counter", help, v as f64);
        }
        t.family(
            "tollgate_port_xstats_total",
            "counter",
            "The data port's extended statistics, by driver name.",
        );
        for (name, v) in &port.xstats {
            t.sample("tollgate_port_xstats_total", &[("name", name)], *v as f64);
        }
        t.family(
            "tollgate_port_allowance_exceeded_total",
            "counter",
            "ENA: packets queued or dropped because an instance allowance was exceeded.",
        );
        for (name, v) in &port.xstats {
            if let Some(allowance) = name.strip_suffix("_allowance_exceeded") {
                t.sample(
                    "tollgate_port_allowance_exceeded_total",
                    &[("allowance", allowance)],
                    *v as f64,
                );
            }
        }
    }
}

fn endpoint_family(
    t: &mut Text,
    name: &str,
    help: &str,
    endpoints: &[EndpointCount],
    other: &EndpointCount,
    value: fn(&EndpointCount) -> u64,
) {
    t.family(name, "counter", help);
    for e in endpoints {
        t.sample(
            name,
            &[("endpoint", &endpoint_name(e.endpoint_id))],
            value(e) as f64,
        );
    }
    t.sample(name, &[("endpoint", "other")], value(other) as f64);
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
