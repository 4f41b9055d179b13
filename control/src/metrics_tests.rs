use super::*;
use crate::service::ControlCounters;
use std::io::Write;
use std::process::{Command, Stdio};
use tollgate_shm::{LinkStatus, PortCounters, SegmentConfig};

fn segment(tag: &str) -> Segment {
    let name = format!("ctl-metrics-{tag}-{}", std::process::id());
    Segment::create(
        &name,
        &SegmentConfig {
            workers: 2,
            ..SegmentConfig::default()
        },
    )
    .unwrap()
}

fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .map(|v| v.parse().unwrap())
}

/// Runs `promtool check metrics`; its lint findings fail the test.
fn promtool_lint(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus; scripts/setup.sh installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && report.trim().is_empty(),
        "promtool: {report}\n---\n{text}"
    );
}

#[test]
fn a_busy_dataplane_renders_every_family_and_passes_promtool() {
    let dp = segment("busy");
    dp.set_state(DataplaneState::Running);
    dp.set_link(LinkStatus {
        up: true,
        speed_mbps: 25_000,
    });
    dp.publish_rules(7, 1_700_000_000_000_000_000, &["web", "dns \"quoted\""])
        .unwrap();
    let now = tollgate_shm::monotonic_ns();
    for w in 0..2 {
        let ws = dp.worker_stats(w).unwrap();
        ws.beat(now);
        ws.add(Counter::RxPackets, 100 + w as u64);
        ws.add(Counter::TxBytes, 5000);
        ws.add(Counter::DropFirewall, 3);
        ws.set(Counter::FlowsActive, 10);
        ws.rule_hit(1, 4);
    }
    let ws0 = dp.worker_stats(0).unwrap();
    for id in 0..5u64 {
        let slot = ws0.endpoint_slot(id + 1);
        ws0.add_endpoint(slot, 10 * (id + 1), 1000 * (id + 1));
    }
    dp.write_port_stats(
        &PortCounters {
            ipackets: 201,
            imissed: 2,
            rx_nombuf: 1,
            ..PortCounters::default()
        },
        [
            ("rx_good_packets", 201),
            ("bw_in_allowance_exceeded", 9),
            ("pps_allowance_exceeded", 4),
        ],
    );
    let mut config = Config::default();
    config.metrics.max_endpoints = 3;
    let published = Published {
        segment: Some(dp.clone()),
        control: ControlCounters {
            attaches: 1,
            rules_applied: 2,
            ..ControlCounters::default()
        },
        responder: crate::responder::ResponderStats {
            recycled_half_open: 11,
            recycled_idle: 12,
            recycled_answered: 13,
            neighbours_evicted: 14,
            frames_unaddressed: 15,
            ..Default::default()
        },
        ..Published::default()
    };
    let text = render(&published, &config);
    let want: &[(&str, f64)] = &[
        ("tollgate_healthy", 1.0),
        ("tollgate_dataplane_up", 1.0),
        ("tollgate_health_failing{reason=\"draining\"}", 0.0),
        ("tollgate_rx_packets_total{worker=\"0\"}", 100.0),
        ("tollgate_rx_packets_total{worker=\"1\"}", 101.0),
        ("tollgate_tx_bytes_total{worker=\"1\"}", 5000.0),
        ("tollgate_dropped_packets_total{reason=\"firewall\"}", 6.0),
        (
            "tollgate_dropped_packets_total{reason=\"malformed\",layer=\"ipv4\"}",
            0.0,
        ),
        ("tollgate_flows_active", 20.0),
        ("tollgate_flows_capacity", dp.flow_capacity() as f64),
        ("tollgate_rules_generation", 7.0),
        ("tollgate_rules_loaded_timestamp_seconds", 1_700_000_000.0),
        ("tollgate_rule_hits_total{rule=\"web\"}", 0.0),
        ("tollgate_rule_hits_total{rule=\"dns \\\"quoted\\\"\"}", 8.0),
        (
            "tollgate_endpoint_packets_total{endpoint=\"vpce-00000000000000005\"}",
            50.0,
        ),
        (
            "tollgate_endpoint_packets_total{endpoint=\"vpce-00000000000000003\"}",
            30.0,
        ),
        // Endpoints 1 and 2 fall beyond the cap of 3.
        ("tollgate_endpoint_packets_total{endpoint=\"other\"}", 30.0),
        ("tollgate_endpoint_bytes_total{endpoint=\"other\"}", 3000.0),
        ("tollgate_port_rx_missed_packets_total", 2.0),
        ("tollgate_port_rx_nombuf_total", 1.0),
        (
            "tollgate_port_xstats_total{name=\"rx_good_packets\"}",
            201.0,
        ),
        (
            "tollgate_port_allowance_exceeded_total{allowance=\"bw_in\"}",
            9.0,
        ),
        (
            "tollgate_port_allowance_exceeded_total{allowance=\"pps\"}",
            4.0,
        ),
        ("tollgate_link_speed_bytes_per_second", 25e9 / 8.0),
        ("tollgate_control_rule_loads_total{result=\"applied\"}", 2.0),
        (
            "tollgate_health_connections_recycled_total{state=\"half_open\"}",
            11.0,
        ),
        (
            "tollgate_health_connections_recycled_total{state=\"idle\"}",
            12.0,
        ),
        (
            "tollgate_health_connections_recycled_total{state=\"answered\"}",
            13.0,
        ),
        ("tollgate_health_neighbours_evicted_total", 14.0),
        ("tollgate_health_frames_unaddressed_total", 15.0),
        (
            "tollgate_punt_dropped_packets_total{reason=\"source_not_allowed\"}",
            0.0,
        ),
    ];
    for (series, v) in want {
        assert_eq!(value(&text, series), Some(*v), "{series}\n{text}");
    }
    assert!(value(
        &text,
        "tollgate_endpoint_packets_total{endpoint=\"vpce-00000000000000001\"}"
    )
    .is_none());
    assert!(text.contains("tollgate_build_info{version=\""));
    assert_eq!(
        text.matches("# TYPE tollgate_dropped_packets_total counter")
            .count(),
        1
    );
    promtool_lint(&text);
}

#[test]
fn detached_and_draining_states_render_and_lint() {
    let text = render(&Published::default(), &Config::default());
    assert_eq!(value(&text, "tollgate_healthy"), Some(0.0));
    assert_eq!(value(&text, "tollgate_control_attached"), Some(0.0));
    assert_eq!(
        value(&text, "tollgate_health_failing{reason=\"not_attached\"}"),
        Some(1.0)
    );
    assert!(!text.contains("tollgate_rx_packets_total"));
    promtool_lint(&text);

    let dp = segment("drain");
    dp.set_draining(true);
    let published = Published {
        segment: Some(dp.clone()),
        ..Published::default()
    };
    let text = render(&published, &Config::default());
    assert_eq!(value(&text, "tollgate_draining"), Some(1.0));
    assert_eq!(
        value(&text, "tollgate_health_failing{reason=\"draining\"}"),
        Some(1.0)
    );
    assert_eq!(
        value(&text, "tollgate_health_failing{reason=\"no_rules\"}"),
        Some(1.0)
    );
    assert_eq!(
        value(&text, "tollgate_worker_heartbeat_age_seconds{worker=\"1\"}"),
        Some(-1.0)
    );
    assert_eq!(value(&text, "tollgate_dataplane_up"), Some(0.0));
    promtool_lint(&text);
}

#[test]
fn grafana_dashboard_imports_and_queries_only_exported_metrics() {
    let dp = segment("grafana");
    dp.publish_rules(1, 0, &["r"]).unwrap();
    dp.write_port_stats(&PortCounters::default(), [("pps_allowance_exceeded", 1)]);
    let published = Published {
        segment: Some(dp.clone()),
        ..Published::default()
    };
    let text = render(&published, &Config::default());
    let families: std::collections::HashSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();

    let dash: serde_json::Value =
        serde_json::from_str(include_str!("../../configs/grafana-dashboard.json")).unwrap();
    for key in ["uid", "title", "schemaVersion", "panels", "templating"] {
        assert!(dash.get(key).is_some(), "dashboard lacks {key}");
    }
    let vars = dash["templating"]["list"].as_array().unwrap();
    assert!(vars.iter().any(|v| v["name"] == "datasource"
        && v["type"] == "datasource"
        && v["query"] == "prometheus"));
    let mut ids = std::collections::HashSet::new();
    let mut titles = Vec::new();
    for panel in dash["panels"].as_array().unwrap() {
        assert!(
            ids.insert(panel["id"].as_u64().unwrap()),
            "duplicate panel id"
        );
        assert_eq!(panel["datasource"]["uid"], "${datasource}");
        let grid = &panel["gridPos"];
        assert!(
            grid["x"].as_u64().unwrap() + grid["w"].as_u64().unwrap() <= 24,
            "{panel}"
        );
        titles.push(panel["title"].as_str().unwrap().to_lowercase());
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty());
        for target in targets {
            let expr = target["expr"].as_str().unwrap();
            let names = expr
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| w.starts_with("tollgate_"));
            for name in names {
                assert!(
                    families.contains(name),
                    "panel {:?} queries {name}, which is not exported",
                    panel["title"]
                );
            }
        }
    }
    for wanted in [
        "throughput",
        "drops",
        "flows against capacity",
        "rule hits",
        "health",
        "per-worker load",
    ] {
        assert!(
            titles.iter().any(|t| t.contains(wanted)),
            "no panel for {wanted}: {titles:?}"
        );
    }
}

/// Samples whose name and labels appear more than once: Prometheus refuses
/// such a scrape, and `promtool check metrics` does not look for them.
fn duplicate_series(text: &str) -> Vec<&str> {
    let mut seen = std::collections::HashSet::new();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.rsplit_once(' ').map(|(series, _)| series))
        .filter(|series| !seen.insert(*series))
        .collect()
}

/// A rule id: no prefix, or a prefix of 62, 64 or 66 bytes (so that long
/// ids share their first 64 bytes), then a tail of letters, quotes,
/// backslashes, spaces and two-byte characters.
fn rule_id() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    (0..5usize, "[a-z\"\\\\ é-]{0,4}").prop_map(|(p, tail)| {
        let prefix = match p {
            0 | 1 => String::new(),
            p => format!("{p}").repeat(56 + 2 * p),
        };
        prefix + &tail
    })
}

/// TOML basic string for `s`.
fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[test]
fn no_rule_set_gives_a_scrape_prometheus_refuses() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config as RunnerConfig, TestRunner};
    if Command::new("promtool").arg("--version").output().is_err() {
        eprintln!("note: promtool is absent (scripts/setup.sh installs it); test skipped");
        return;
    }
    let dp = segment("ids");
    let config = Config::default();
    let strategy = (
        prop::collection::vec(rule_id(), 1..5),
        prop::collection::vec(0..3usize, 1..12),
    );
    let mut runner = TestRunner::new(RunnerConfig {
        cases: 160,
        ..RunnerConfig::default()
    });
    let generation = std::cell::Cell::new(0u64);
    let refused = std::cell::Cell::new(0u64);
    runner
        .run(&strategy, |(ids, set_refs)| {
            // Rules naming sets of different sizes, as a real file would.
            let mut text = String::from(
                "default_action = \"drop\"\n[sets]\ns0 = \"10.0.0.1\"\ns1 = [\"10.0.0.0/8\", \"2001:db8::/32\"]\ns2 = \"192.0.2.0/24\"\n",
            );
            for (i, id) in ids.iter().enumerate() {
                let set = set_refs[i % set_refs.len()];
                text.push_str(&format!(
                    "[[rule]]\nid = {}\naction = \"pass\"\nsrc = \"$s{set}\"\n",
                    toml_string(id)
                ));
            }
            let Ok(parsed) = tollgate_rules::parse(&text, "p.toml") else {
                refused.set(refused.get() + 1);
                return Ok(());
            };
            // What the dataplane publishes once it applied the set.
            generation.set(generation.get() + 1);
            let applied: Vec<&str> = parsed.rules.rule_ids().collect();
            dp.publish_rules(generation.get(), 1, &applied).unwrap();
            let published = Published {
                segment: Some(dp.clone()),
                ..Published::default()
            };
            let scrape = render(&published, &config);
            let duplicates = duplicate_series(&scrape);
            prop_assert!(duplicates.is_empty(), "ids {applied:?}: duplicate series {duplicates:?}");
            promtool_lint(&scrape);
            Ok(())
        })
        .unwrap();
    // Most generated sets must reach the scrape for the property to mean much.
    assert!(
        generation.get() >= 16,
        "{} scraped, {} refused",
        generation.get(),
        refused.get()
    );
}

/// Backticked names in README's reference section: a trailing `{label}` (one
/// word) is dropped, `{a,b}` inside a name expanded, a trailing `*` kept as a prefix;
/// without `tollgate_` and `_total`.
fn readme_reference_names() -> Vec<String> {
    let readme = include_str!("../../README.md");
    let start = readme
        .find("## Drop reasons and metrics")
        .expect("README has no reference section");
    let section = &readme[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    let mut names = Vec::new();
    for token in section.split('`').skip(1).step_by(2) {
        let token = match token.strip_suffix('}').and_then(|t| t.rsplit_once('{')) {
            Some((name, label)) if !label.contains(',') => name,
            _ => token,
        };
        let mut expanded = vec![String::new()];
        let mut rest = token;
        while let Some(open) = rest.find('{') {
            let close = open + rest[open..].find('}').expect("unclosed brace");
            expanded = expanded
                .iter()
                .flat_map(|p| {
                    rest[open + 1..close]
                        .split(',')
                        .map(move |alt| format!("{p}{}{alt}", &rest[..open]))
                })
                .collect();
            rest = &rest[close + 1..];
        }
        for name in expanded.into_iter().map(|p| p + rest) {
            let name = name.strip_prefix("tollgate_").unwrap_or(&name);
            names.push(name.strip_suffix("_total").unwrap_or(name).to_owned());
        }
    }
    names
}

#[test]
fn readme_reference_explains_every_family_and_drop_reason() {
    let dp = segment("readme");
    dp.set_state(DataplaneState::Running);
    dp.publish_rules(1, 0, &["r"]).unwrap();
    dp.write_port_stats(&PortCounters::default(), [("pps_allowance_exceeded", 1)]);
    let published = Published {
        segment: Some(dp.clone()),
        ..Published::default()
    };
    let text = render(&published, &Config::default());
    let names = readme_reference_names();
    let covered = |short: &str| {
        names.iter().any(|n| match n.strip_suffix('*') {
            Some(prefix) => short.starts_with(prefix),
            None => n == short,
        })
    };
    let families: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    assert!(families.len() > 30, "{families:?}");
    for family in families {
        let short = family.strip_prefix("tollgate_").unwrap();
        let short = short.strip_suffix("_total").unwrap_or(short);
        assert!(
            covered(short),
            "README's reference does not explain {family}"
        );
    }
    let readme = include_str!("../../README.md");
    for counter in Counter::ALL {
        let desc = counter.desc();
        if desc.name != "tollgate_dropped_packets_total" {
            continue;
        }
        for (key, value) in desc.labels {
            let named = match *key {
                "reason" => names.iter().any(|n| n == value),
                _ => {
                    readme.contains(&format!(" {value},")) || readme.contains(&format!(" {value})"))
                }
            };
            assert!(named, "README's drop reasons do not name {key}={value}");
        }
    }
}
