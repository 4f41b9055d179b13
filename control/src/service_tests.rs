//! The service against a real segment, with the test as the dataplane.

use super::*;
use crate::api::{FlowCursor, FlowFilterArgs};
use crate::test_frames::{parse_tcp, tcp_frame, ACK, APPLIANCE_IP, APPLIANCE_MAC, PSH, SYN};
use std::sync::mpsc::{self, Receiver};
use tollgate_shm::{Counter, DataplaneState, LinkStatus, SegmentConfig};

struct FakeDataplane {
    segment: Segment,
    commands: Consumer,
    replies: Producer,
    punt: Producer,
    inject: Consumer,
}

impl FakeDataplane {
    fn start(name: &str) -> FakeDataplane {
        let segment = Segment::create(
            name,
            &SegmentConfig {
                workers: 1,
                ..SegmentConfig::default()
            },
        )
        .unwrap();
        segment.set_identity(APPLIANCE_IP, APPLIANCE_MAC);
        segment.set_state(DataplaneState::Running);
        segment.set_link(LinkStatus {
            up: true,
            speed_mbps: 1000,
        });
        segment.publish_rules(1, 0, &["boot"]).unwrap();
        FakeDataplane {
            commands: segment.command_ring_consumer().unwrap(),
            replies: segment.reply_ring_producer().unwrap(),
            punt: segment.punt_ring_producer(0).unwrap(),
            inject: segment.inject_ring_consumer().unwrap(),
            segment,
        }
    }

    fn beat(&self) {
        self.segment
            .worker_stats(0)
            .unwrap()
            .beat(tollgate_shm::monotonic_ns());
    }

    fn punt(&mut self, frame: &[u8]) {
        let meta = PacketMeta::for_packet(0, 0, frame).unwrap();
        self.punt.push_parts(&[&meta.encode(), frame]).unwrap();
    }

    fn injected(&mut self) -> Vec<crate::test_frames::Segment> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; self.inject.max_message_len()];
        while let Some(len) = self.inject.pop_into(&mut buf).unwrap() {
            let (_, frame) = PacketMeta::decode(&buf[..len]).unwrap();
            out.extend(parse_tcp(frame));
        }
        out
    }

    /// Takes every queued command without answering it.
    fn take_requests(&mut self) -> Vec<Request> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; self.commands.max_message_len()];
        while let Some(len) = self.commands.pop_into(&mut buf).unwrap() {
            out.push(Request::decode(&buf[..len]).unwrap());
        }
        out
    }

    fn reply(&mut self, id: u64, reply: Reply) {
        self.replies
            .push(&Response { id, reply }.to_bytes())
            .unwrap();
    }

    /// Answers every queued command like the real main lcore would.
    fn serve_commands(&mut self, reject: bool) -> Vec<Command> {
        let mut seen = Vec::new();
        let mut buf = vec![0u8; self.commands.max_message_len()];
        while let Some(len) = self.commands.pop_into(&mut buf).unwrap() {
            let request = Request::decode(&buf[..len]).unwrap();
            let reply = match &request.command {
                Command::LoadRules { generation, .. } if reject => Reply::RulesRejected {
                    generation: *generation,
                    message: "no".into(),
                },
                Command::LoadRules { generation, .. } => {
                    self.segment
                        .publish_rules(*generation, 1, &["pushed"])
                        .unwrap();
                    Reply::RulesApplied {
                        generation: *generation,
                    }
                }
                Command::FlushFlows { .. } => Reply::FlowsFlushed { count: 3 },
                Command::ListFlows { .. } => Reply::Failed {
                    message: "not in this build".into(),
                },
                Command::Ping => Reply::Pong,
            };
            let mut bytes = Vec::new();
            Response {
                id: request.id,
                reply,
            }
            .encode(&mut bytes);
            self.replies.push(&bytes).unwrap();
            seen.push(request.command);
        }
        seen
    }
}

fn config(name: &str, dir: &std::path::Path) -> Config {
    let mut c = Config::default();
    c.shm.name = name.to_string();
    c.health.path = "/health".into();
    c.rules.file = Some(dir.join("rules.toml"));
    c.rules.reply_timeout_ms = 300;
    c
}

fn ask(service: &mut Service, request: ApiRequest) -> Receiver<ApiResponse> {
    let (tx, rx) = mpsc::channel();
    service.handle_api(request, tx);
    rx
}

fn call(service: &mut Service, dp: Option<&mut FakeDataplane>, request: ApiRequest) -> ApiResponse {
    let rx = ask(service, request);
    wait(service, dp, &rx)
}

/// Steps the service while the fake dataplane answers, until `rx` has an answer.
fn wait(
    service: &mut Service,
    dp: Option<&mut FakeDataplane>,
    rx: &Receiver<ApiResponse>,
) -> ApiResponse {
    let mut dp = dp;
    for _ in 0..2000 {
        service.step();
        if let Some(dp) = dp.as_deref_mut() {
            dp.serve_commands(false);
        }
        if let Ok(r) = rx.try_recv() {
            return r;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("no answer");
}

/// One HTTP health check through the rings; returns the answer's text.
fn check_through_rings(
    service: &mut Service,
    dp: &mut FakeDataplane,
    port: u16,
    beat: bool,
) -> String {
    if beat {
        dp.beat();
    }
    dp.punt(&tcp_frame(port, 80, 1000, 0, SYN, b""));
    service.step();
    // Earlier connections may retransmit their FIN meanwhile.
    let out: Vec<_> = dp
        .injected()
        .into_iter()
        .filter(|s| s.dst_port == port)
        .collect();
    assert_eq!(out.len(), 1, "SYN-ACK expected: {out:?}");
    assert_eq!(out[0].flags & (SYN | ACK), SYN | ACK);
    let theirs = out[0].seq.wrapping_add(1);
    dp.punt(&tcp_frame(
        port,
        80,
        1001,
        theirs,
        ACK | PSH,
        b"GET /health HTTP/1.1\r\n\r\n",
    ));
    service.step();
    dp.injected()
        .iter()
        .filter(|s| s.dst_port == port)
        .map(|s| String::from_utf8_lossy(&s.payload).into_owned())
        .collect()
}

/// Steps until the rules thread has finished.
fn until_validated(service: &mut Service) {
    for _ in 0..20_000 {
        service.step();
        if !service.rules_validating() {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("validation did not finish");
}

fn status_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

#[test]
fn health_checks_flow_through_punt_and_inject_rings() {
    let name = format!("ctl-svc-health-{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let mut dp = FakeDataplane::start(&name);
    let mut service = Service::new(config(&name, dir.path()));
    service.step();
    assert!(service.is_attached());
    assert_eq!(
        status_line(&check_through_rings(&mut service, &mut dp, 50000, true)),
        "HTTP/1.1 200 OK"
    );

    // Operator drain: 503, and the flag is in the segment for everyone.
    assert_eq!(
        call(&mut service, None, ApiRequest::Drain),
        ApiResponse::Draining {
            draining: true,
            attached: true
        }
    );
    assert!(dp.segment.draining());
    assert_eq!(
        status_line(&check_through_rings(&mut service, &mut dp, 50001, true)),
        "HTTP/1.1 503 Service Unavailable"
    );
    call(&mut service, None, ApiRequest::Undrain);
    assert!(!dp.segment.draining());
    assert_eq!(
        status_line(&check_through_rings(&mut service, &mut dp, 50002, true)),
        "HTTP/1.1 200 OK"
    );

    // A dataplane whose workers stopped beating.
    std::thread::sleep(Duration::from_millis(1100));
    let text = check_through_rings(&mut service, &mut dp, 50003, false);
    assert!(
        text.starts_with("HTTP/1.1 503") && text.contains("stale heartbeat: worker 0"),
        "{text}"
    );

    let published = service.shared().lock().unwrap().clone();
    assert_eq!(published.responder.http_ok, 2);
    assert_eq!(published.responder.http_unavailable, 2);
}

#[test]
fn a_listing_page_carries_the_filter_and_both_cursors() {
    let name = format!("ctl-svc-pages-{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let mut dp = FakeDataplane::start(&name);
    let mut service = Service::new(config(&name, dir.path()));
    service.step();
    assert!(service.is_attached());
    let filter = FlowFilterArgs {
        address: Some("10.1.0.0/16".parse().unwrap()),
        state: Some("established".into()),
        ..FlowFilterArgs::default()
    };
    let rx = ask(
        &mut service,
        ApiRequest::FlowsList {
            filter,
            after: Some(FlowCursor { worker: 1, slot: 7 }),
            limit: 2,
        },
    );
    let sent = dp.take_requests();
    let [Request {
        id,
        command:
            Command::ListFlows {
                filter,
                cursor,
                limit,
            },
    }] = sent.as_slice()
    else {
        panic!("{sent:?}")
    };
    assert_eq!(
        (filter.address.unwrap().to_string(), filter.state.as_deref()),
        ("10.1.0.0/16".to_string(), Some("established"))
    );
    assert_eq!(
        (*cursor, *limit),
        (Some(FlowCursor { worker: 1, slot: 7 }), 2)
    );
    // A state name the dataplane could not take is refused here.
    let long = FlowFilterArgs {
        state: Some("S".repeat(1000)),
        ..FlowFilterArgs::default()
    };
    match call(&mut service, None, ApiRequest::FlowsFlush { filter: long }) {
        ApiResponse::Error { message } => assert!(message.contains("longer than 32"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert!(dp.take_requests().is_empty());
    let entry = tollgate_shm::message::FlowEntry {
        endpoint: 1,
        addresses: tollgate_shm::message::FlowAddresses::V4 {
            src: [10, 1, 0, 1].into(),
            dst: [10, 2, 0, 1].into(),
        },
        protocol: 6,
        src_port: 40000,
        dst_port: 443,
        state: "ESTABLISHED".into(),
        expires_in_ns: 2_500_000_000,
    };
    let next = Some(FlowCursor {
        worker: 1,
        slot: 90,
    });
    dp.reply(
        *id,
        Reply::FlowList {
            entries: vec![entry],
            next,
        },
    );
    match wait(&mut service, None, &rx) {
        ApiResponse::Flows { flows, next: got } => {
            assert_eq!(got, next);
            assert_eq!(
                (flows.len(), flows[0].src.as_str(), flows[0].expires_in_ms),
                (1, "10.1.0.1", 2500)
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_late_reply_is_discarded_and_counted_never_taken_for_the_next_request() {
    let name = format!("ctl-svc-stale-{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let mut dp = FakeDataplane::start(&name);
    let mut service = Service::new(config(&name, dir.path()));
    service.step();
    assert!(service.is_attached());
    let flush = || ApiRequest::FlowsFlush {
        filter: Default::default(),
    };
    // The first flush times out: the dataplane takes it but answers late.
    let rx = ask(&mut service, flush());
    let first = dp.take_requests();
    assert_eq!(first.len(), 1);
    match wait(&mut service, None, &rx) {
        ApiResponse::Error { message } => assert!(message.contains("did not answer"), "{message}"),
        other => panic!("{other:?}"),
    }
    // The second flush is outstanding when the first one's answer arrives.
    let rx = ask(&mut service, flush());
    let second = dp.take_requests();
    assert_eq!(second.len(), 1);
    assert_ne!(second[0].id, first[0].id);
    dp.reply(first[0].id, Reply::FlowsFlushed { count: 7 });
    service.step();
    assert!(
        rx.try_recv().is_err(),
        "the late answer went to the next request"
    );
    assert_eq!(service.shared().lock().unwrap().control.stale_replies, 1);
    dp.reply(second[0].id, Reply::FlowsFlushed { count: 3 });
    assert_eq!(
        wait(&mut service, None, &rx),
        ApiResponse::FlowsFlushed { count: 3 }
    );
    // Events carry id 0 and are not stale replies.
    dp.reply(
        EVENT_ID,
        Reply::Event {
            message: "link up".into(),
        },
    );
    service.step();
    let published = service.shared().lock().unwrap().control.clone();
    assert_eq!(published.stale_replies, 1);
    assert_eq!(published.command_timeouts, 1);
    let text = crate::metrics::render(&service.shared().lock().unwrap(), service.config());
    assert!(
        text.contains("tollgate_control_stale_replies_total 1\n"),
        "{text}"
    );
}

#[test]
fn rules_push_validates_ships_and_survives_dataplane_restart() {
    let name = format!("ctl-svc-rules-{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.toml"), "default_action = \"pass\"\n").unwrap();
    let mut dp = FakeDataplane::start(&name);
    let mut service = Service::new(config(&name, dir.path()));
    service.step();
    service.load_rules_file();
    // Once validated the file's rules go out as generation applied + 1 = 2.
    until_validated(&mut service);
    let sent = dp.serve_commands(false);
    assert!(
        matches!(sent.as_slice(), [Command::LoadRules { generation: 2, .. }]),
        "{sent:?}"
    );
    service.step();
    assert_eq!(dp.segment.applied_rules().0, 2);
    service.step();
    assert!(
        dp.serve_commands(false).is_empty(),
        "acknowledged rules are not re-sent"
    );

    // Invalid push: precise errors, nothing shipped.
    let bad = "default_action = \"pass\"\n[[rule]]\nid = \"r\"\naction = \"drop\"\ndst = \"10.1.2.3/24\"\n";
    let rx = ask(
        &mut service,
        ApiRequest::RulesPush {
            origin: "bad.toml".into(),
            text: bad.into(),
        },
    );
    match wait(&mut service, None, &rx) {
        ApiResponse::RulesInvalid { errors } => assert!(
            errors[0].starts_with("bad.toml:5: rule \"r\": dst"),
            "{errors:?}"
        ),
        other => panic!("{other:?}"),
    }
    assert!(dp.serve_commands(false).is_empty());

    // Valid push: generation 3 applied.
    let good = "default_action = \"drop\"\n";
    let rx = ask(
        &mut service,
        ApiRequest::RulesPush {
            origin: "good.toml".into(),
            text: good.into(),
        },
    );
    assert_eq!(
        wait(&mut service, Some(&mut dp), &rx),
        ApiResponse::RulesApplied {
            generation: 3,
            rules: 0,
            warnings: vec![]
        }
    );

    // Rejected by the dataplane: the held rules stay those of generation 3.
    let rx = ask(
        &mut service,
        ApiRequest::RulesPush {
            origin: "x.toml".into(),
            text: "default_action = \"pass\"\n".into(),
        },
    );
    until_validated(&mut service);
    dp.serve_commands(true);
    assert!(matches!(
        wait(&mut service, None, &rx),
        ApiResponse::RulesRejected { generation: 4, .. }
    ));
    match call(&mut service, None, ApiRequest::RulesShow) {
        ApiResponse::Rules(view) => {
            let current = view.current.unwrap();
            assert_eq!(
                (current.origin.as_str(), current.generation),
                ("good.toml", 3)
            );
            assert_eq!(view.applied_generation, Some(3));
        }
        other => panic!("{other:?}"),
    }

    // Flows commands are forwarded; the dataplane's error is passed on.
    let rx = ask(
        &mut service,
        ApiRequest::FlowsFlush {
            filter: Default::default(),
        },
    );
    assert_eq!(
        wait(&mut service, Some(&mut dp), &rx),
        ApiResponse::FlowsFlushed { count: 3 }
    );
    let rx = ask(
        &mut service,
        ApiRequest::FlowsList {
            filter: Default::default(),
            after: None,
            limit: 10,
        },
    );
    assert_eq!(
        wait(&mut service, Some(&mut dp), &rx),
        ApiResponse::Error {
            message: "dataplane: not in this build".into()
        }
    );

    // No answer at all: a clear timeout.
    let rx = ask(
        &mut service,
        ApiRequest::FlowsFlush {
            filter: Default::default(),
        },
    );
    match wait(&mut service, None, &rx) {
        ApiResponse::Error { message } => assert!(
            message.contains("did not answer FlushFlows") && message.contains("300 ms"),
            "{message}"
        ),
        other => panic!("{other:?}"),
    }
    dp.serve_commands(false);

    // The dataplane restarts with its own boot rules (generation 1): control
    // reattaches by itself and re-sends generation 3's text as 5.
    drop(dp);
    service.step();
    assert!(!service.is_attached());
    let mut dp = FakeDataplane::start(&name);
    let sent = (0..50)
        .find_map(|_| {
            service.step();
            std::thread::sleep(Duration::from_millis(5));
            let sent = dp.serve_commands(false);
            (!sent.is_empty()).then_some(sent)
        })
        .expect("rules re-sent after restart");
    match sent.as_slice() {
        [Command::LoadRules {
            generation: 5,
            text,
        }] => assert_eq!(text, good),
        other => panic!("{other:?}"),
    }
}

#[test]
fn drain_is_kept_across_reattach_and_shutdown_drain_is_withdrawn() {
    let name = format!("ctl-svc-drain-{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let dp = FakeDataplane::start(&name);
    // A control restarted while an operator drain is in force keeps it.
    dp.segment.set_draining(true);
    let mut service = Service::new(config(&name, dir.path()));
    service.step();
    assert!(dp.segment.draining());
    call(&mut service, None, ApiRequest::Undrain);
    assert!(!dp.segment.draining());
    // SIGTERM drain: set while shutting down, withdrawn at exit.
    service.begin_shutdown_drain();
    assert!(dp.segment.draining());
    assert!(!service.health().healthy);
    service.finish();
    assert!(!dp.segment.draining());
    // An operator drain survives the exit.
    let mut service = Service::new(config(&name, dir.path()));
    service.step();
    call(&mut service, None, ApiRequest::Drain);
    service.begin_shutdown_drain();
    service.finish();
    assert!(dp.segment.draining());
}

#[test]
fn detached_service_answers_clearly() {
    let name = format!("ctl-svc-absent-{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let mut service = Service::new(config(&name, dir.path()));
    service.step();
    assert!(!service.is_attached());
    let rx = ask(
        &mut service,
        ApiRequest::FlowsList {
            filter: Default::default(),
            after: None,
            limit: 1,
        },
    );
    match wait(&mut service, None, &rx) {
        ApiResponse::Error { message } => assert!(
            message.starts_with("not attached to the dataplane"),
            "{message}"
        ),
        other => panic!("{other:?}"),
    }
    match call(&mut service, None, ApiRequest::Status) {
        ApiResponse::Status(s) => {
            assert!(!s.attached && !s.health.healthy);
            assert!(s.attach_error.unwrap().contains(&name));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn status_shows_refused_and_evicted_flows_by_reason() {
    let name = format!("ctl-svc-flows-{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let dp = FakeDataplane::start(&name);
    let stats = dp.segment.worker_stats(0).unwrap();
    stats.set(Counter::FlowsRefusedEndpointShare, 7);
    stats.set(Counter::FlowsEvictedUnconfirmed, 4000);
    stats.set(Counter::FlowsEvictedClosing, 3);
    stats.set(Counter::DropEndpointShare, 9);
    let mut service = Service::new(config(&name, dir.path()));
    service.step();
    let ApiResponse::Status(status) = call(&mut service, None, ApiRequest::Status) else {
        panic!("no status");
    };
    let d = status.dataplane.expect("attached");
    assert_eq!(d.flows_refused, vec![("endpoint_share".to_string(), 7)]);
    assert_eq!(
        d.flows_evicted,
        vec![
            ("unconfirmed".to_string(), 4000),
            ("closing".to_string(), 3)
        ]
    );
    assert!(
        d.drops.contains(&("endpoint_share".to_string(), 9)),
        "{:?}",
        d.drops
    );
}

/// A rule file that takes a while to validate: one set of 65,536 hosts,
/// named by four rules.
fn big_valid_rules() -> String {
    let mut text = String::from("default_action = \"drop\"\n[sets]\nbig = [");
    for i in 0..65536u32 {
        let [_, b, c, d] = i.to_be_bytes();
        text.push_str(&format!("\"10.{b}.{c}.{d}\","));
    }
    text.push_str("]\n");
    for port in [22, 80, 443, 8443] {
        text.push_str(&format!(
            "[[rule]]\nid = \"p{port}\"\naction = \"pass\"\nprotocol = \"tcp\"\nsrc = \"$big\"\ndst_port = {port}\n"
        ));
    }
    text
}

#[test]
fn health_checks_and_metrics_are_answered_while_a_big_push_validates() {
    let name = format!("ctl-svc-busy-{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let mut dp = FakeDataplane::start(&name);
    let cfg = config(&name, dir.path());
    let mut service = Service::new(cfg.clone());
    service.step();
    assert!(service.is_attached());

    let text = big_valid_rules();
    let rx = ask(
        &mut service,
        ApiRequest::RulesPush {
            origin: "big.toml".into(),
            text: text.clone(),
        },
    );
    assert!(service.rules_validating());
    // A second push meanwhile is refused as busy, at once.
    let second = ask(
        &mut service,
        ApiRequest::RulesPush {
            origin: "second.toml".into(),
            text: "default_action = \"pass\"\n".into(),
        },
    );
    match second.try_recv() {
        Ok(ApiResponse::Error { message }) => assert!(
            message.starts_with("busy: the rule set from big.toml is still being validated"),
            "{message}"
        ),
        other => panic!("{other:?}"),
    }
    // Health checks through the rings, status and a metrics scrape are all
    // answered while the validation is still running.
    let mut port = 51000;
    let mut answered = 0;
    while service.rules_validating() && answered < 3 {
        let answer = check_through_rings(&mut service, &mut dp, port, true);
        let still_validating = service.rules_validating();
        assert_eq!(status_line(&answer), "HTTP/1.1 200 OK");
        assert!(matches!(
            call(&mut service, None, ApiRequest::Status),
            ApiResponse::Status(_)
        ));
        let scrape = crate::metrics::render(&service.shared().lock().unwrap(), &cfg);
        assert!(scrape.contains("tollgate_healthy 1"), "{scrape}");
        if still_validating {
            answered += 1;
        }
        port += 1;
    }
    assert!(
        answered >= 1,
        "the validation ended before any health check was answered"
    );

    match wait(&mut service, Some(&mut dp), &rx) {
        ApiResponse::RulesApplied { rules: 4, .. } => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_rule_file_bomb_is_refused_with_the_limit_it_passes() {
    let name = format!("ctl-svc-bomb-{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let mut dp = FakeDataplane::start(&name);
    let mut service = Service::new(config(&name, dir.path()));
    service.step();
    let mut text = String::from("default_action = \"drop\"\n[sets]\nbig = [");
    for i in 0..2000 {
        text.push_str(&format!("\"10.{}.{}.0/24\",", i >> 8, i & 255));
    }
    text.push_str("]\n[[rule]]\nid = \"bomb\"\naction = \"pass\"\nsrc = [");
    text.push_str(&vec!["\"$big\""; 30_000].join(","));
    text.push_str("]\n");
    let started = Instant::now();
    let response = call(
        &mut service,
        Some(&mut dp),
        ApiRequest::RulesPush {
            origin: "bomb.toml".into(),
            text,
        },
    );
    assert_eq!(
        response,
        ApiResponse::RulesInvalid {
            errors: vec!["bomb.toml:7: rule \"bomb\": src: 60000000 prefixes (after expanding sets) bring the file's total to 60000000 (at most 262144)".into()]
        }
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(dp.serve_commands(false).is_empty(), "nothing shipped");
}
