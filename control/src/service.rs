//! The control plane's single owner of the shared-memory link: attaches
//! (and reattaches) to the dataplane's segment, ships rule sets and flow
//! commands and matches their replies by request id, runs the health
//! responder between the punt and inject rings, and answers API requests.
//! One thread calls [`Service::step`] in a loop; nothing here blocks.

use std::collections::HashMap;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tollgate_shm::message::{Command, Reply, Request, Response, EVENT_ID};
use tollgate_shm::{Consumer, PacketMeta, PopError, Producer, Segment, ShmError};

use crate::api::{endpoint_name, ApiRequest, ApiResponse, FlowView};
use crate::config::Config;
use crate::conn_limit::ServerCounters;
use crate::health_state::{Health, HealthInputs};
use crate::responder::{HealthResponder, ResponderConfig, ResponderStats};
use crate::rules_set::RuleText;
use crate::rules_worker::RulesWorker;

/// Retry a failed attach this often.
const ATTACH_RETRY: Duration = Duration::from_millis(100);
/// Re-send the rule set this long after a failed attempt.
const RULES_RETRY: Duration = Duration::from_secs(5);
/// Punted frames taken per ring per step, so one busy ring cannot starve timers.
const PUNT_BATCH: usize = 256;

/// What the metrics thread reads; updated by the service thread.
#[derive(Clone, Default)]
pub struct Published {
    pub segment: Option<Segment>,
    pub responder: ResponderStats,
    pub control: ControlCounters,
    /// What the API socket and the metrics server turned away.
    pub api_server: Arc<ServerCounters>,
    pub metrics_server: Arc<ServerCounters>,
}

/// Control-side counters for `/metrics`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ControlCounters {
    pub attaches: u64,
    pub inject_dropped: u64,
    pub rules_applied: u64,
    pub rules_failed: u64,
    pub command_timeouts: u64,
    /// Replies whose request id is not outstanding (answered late, after
    /// their request timed out, or never sent by this control): discarded.
    pub stale_replies: u64,
    /// Health answers summed over every attach.
    pub health_responses: ResponderStats,
}

pub type SharedView = Arc<Mutex<Published>>;

/// Rule set control holds, with the generation it was applied as.
#[derive(Clone, Debug)]
struct HeldRules {
    rules: RuleText,
    generation: u64,
}

enum PendingKind {
    LoadRules {
        candidate: RuleText,
        generation: u64,
    },
    ListFlows,
    FlushFlows,
}

/// Who waits for a rule file being validated.
enum Waiter {
    Api(Sender<ApiResponse>),
    /// The configured file (start or SIGHUP): the outcome is logged.
    File,
}

struct Pending {
    deadline: Instant,
    kind: PendingKind,
    reply: Option<Sender<ApiResponse>>,
}

struct Attachment {
    segment: Segment,
    commands: Producer,
    replies: Consumer,
    punts: Vec<Consumer>,
    inject: Producer,
    responder: Option<HealthResponder>,
}

impl Attachment {
    fn open(name: &str) -> Result<Attachment, ShmError> {
        let segment = Segment::attach(name)?;
        let punts = (0..segment.worker_count())
            .map(|i| segment.punt_ring_consumer(i))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Attachment {
            commands: segment.command_ring_producer()?,
            replies: segment.reply_ring_consumer()?,
            inject: segment.inject_ring_producer()?,
            punts,
            segment,
            responder: None,
        })
    }
}

pub struct Service {
    config: Config,
    shared: SharedView,
    attachment: Option<Attachment>,
    attach_error: Option<String>,
    next_attach: Instant,
    current: Option<HeldRules>,
    /// (segment epoch, generation) the dataplane acknowledged for `current`.
    acked: Option<(u64, u64)>,
    next_generation: u64,
    rules_in_flight: usize,
    next_rules_attempt: Instant,
    /// Validates rule text off this thread; started at first use.
    validator: Option<RulesWorker<Waiter>>,
    /// A SIGHUP reload that arrived while a validation was running.
    reload_queued: bool,
    pending: HashMap<u64, Pending>,
    next_request_id: u64,
    /// Operator's drain; `None` until read from the first segment we see.
    operator_draining: Option<bool>,
    shutdown_draining: bool,
    counters: ControlCounters,
    reply_buf: Vec<u8>,
    punt_buf: Vec<u8>,
    started: Instant,
}

fn log(message: impl AsRef<str>) {
    eprintln!("tollgate-control: {}", message.as_ref());
}

impl Service {
    pub fn new(config: Config) -> Service {
        let now = Instant::now();
        Service {
            config,
            shared: SharedView::default(),
            attachment: None,
            attach_error: None,
            next_attach: now,
            current: None,
            acked: None,
            next_generation: 1,
            rules_in_flight: 0,
            next_rules_attempt: now,
            validator: None,
            reload_queued: false,
            pending: HashMap::new(),
            // Distinct from any earlier control's ids still in the reply ring.
            next_request_id: tollgate_shm::realtime_ns(),
            operator_draining: None,
            shutdown_draining: false,
            counters: ControlCounters::default(),
            reply_buf: Vec::new(),
            punt_buf: vec![0; tollgate_shm::PACKET_META_LEN + tollgate_shm::MAX_PACKET_LEN],
            started: now,
        }
    }

    pub fn shared(&self) -> SharedView {
        self.shared.clone()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn is_attached(&self) -> bool {
        self.attachment.is_some()
    }

    /// Milliseconds on smoltcp's clock (monotonic since control started).
    fn now_ms(&self) -> i64 {
        i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX)
    }

    /// One round: keep the attachment, move replies and punted frames,
    /// expire requests. True if anything was done.
    pub fn step(&mut self) -> bool {
        let now = Instant::now();
        self.maintain_attachment(now);
        let mut work = self.poll_validation();
        if self.attachment.is_some() {
            work |= self.pump_replies();
            work |= self.pump_health();
            self.reconcile_rules(Instant::now());
        }
        self.expire_pending(now);
        self.publish();
        work
    }

    fn maintain_attachment(&mut self, now: Instant) {
        if let Some(att) = &self.attachment {
            if !att.segment.is_stale() {
                return;
            }
            log(format!(
                "dataplane segment {} was removed or replaced; detaching",
                att.segment.path().display()
            ));
            self.detach("the dataplane restarted or stopped before answering");
        }
        if now < self.next_attach {
            return;
        }
        self.next_attach = now + ATTACH_RETRY;
        match Attachment::open(&self.config.shm.name) {
            Ok(att) => self.attached(att),
            Err(e) => {
                let message = e.to_string();
                if self.attach_error.as_deref() != Some(message.as_str()) {
                    match e {
                        ShmError::NotFound { .. } | ShmError::NotReady { .. } => {
                            log(format!("waiting for the dataplane: {message}"))
                        }
                        _ => log(format!("cannot attach: {message}")),
                    }
                    self.attach_error = Some(message);
                }
            }
        }
    }

    fn attached(&mut self, att: Attachment) {
        let seg = &att.segment;
        let (applied, _) = seg.applied_rules();
        log(format!(
            "attached to {} (dataplane pid {}, epoch {}, {} workers, state {:?}, rules generation {applied})",
            seg.path().display(),
            seg.dataplane_pid(),
            seg.epoch(),
            seg.worker_count(),
            seg.state()
        ));
        self.next_generation = self.next_generation.max(applied + 1);
        let operator = *self.operator_draining.get_or_insert(seg.draining());
        seg.set_draining(operator || self.shutdown_draining);
        self.attach_error = None;
        self.counters.attaches += 1;
        self.next_rules_attempt = Instant::now();
        self.attachment = Some(att);
    }

    fn detach(&mut self, why: &str) {
        if let Some(att) = self.attachment.take() {
            if let Some(r) = &att.responder {
                add_stats(&mut self.counters.health_responses, r.stats());
            }
        }
        for (_, p) in self.pending.drain() {
            if let Some(reply) = p.reply {
                let _ = reply.send(ApiResponse::Error {
                    message: why.to_string(),
                });
            }
        }
        self.rules_in_flight = 0;
    }

    fn new_request_id(&mut self) -> u64 {
        self.next_request_id = self.next_request_id.wrapping_add(1);
        self.next_request_id
    }

    fn reply_timeout(&self) -> Duration {
        Duration::from_millis(self.config.rules.reply_timeout_ms)
    }

    /// Queues `command`; on failure answers `reply` at once and returns false.
    fn send_command(
        &mut self,
        command: Command,
        kind: PendingKind,
        reply: Option<Sender<ApiResponse>>,
    ) -> bool {
        let id = self.new_request_id();
        let Some(att) = self.attachment.as_mut() else {
            answer(
                reply,
                ApiResponse::Error {
                    message: self.not_attached_message(),
                },
            );
            return false;
        };
        let mut bytes = Vec::new();
        Request { id, command }.encode(&mut bytes);
        if let Err(e) = att.commands.push(&bytes) {
            answer(
                reply,
                ApiResponse::Error {
                    message: format!("command ring: {e}"),
                },
            );
            return false;
        }
        let deadline = Instant::now() + self.reply_timeout();
        self.pending.insert(
            id,
            Pending {
                deadline,
                kind,
                reply,
            },
        );
        true
    }

    fn not_attached_message(&self) -> String {
        format!(
            "not attached to the dataplane (shm {}): {}",
            self.config.shm.name,
            self.attach_error.as_deref().unwrap_or("attaching")
        )
    }

    fn pump_replies(&mut self) -> bool {
        let Some(att) = self.attachment.as_mut() else {
            return false;
        };
        let mut responses = Vec::new();
        if self.reply_buf.len() < att.replies.max_message_len() {
            self.reply_buf.resize(att.replies.max_message_len(), 0);
        }
        loop {
            match att.replies.pop_into(&mut self.reply_buf) {
                Ok(Some(len)) => match Response::decode(&self.reply_buf[..len]) {
                    Ok(r) => responses.push(r),
                    Err(e) => log(format!("undecodable reply from the dataplane: {e}")),
                },
                Ok(None) => break,
                Err(PopError::Corrupt { .. }) => {
                    log("reply ring corrupt; discarding its contents");
                    att.replies.discard_all();
                    break;
                }
                Err(e) => {
                    log(format!("reply ring: {e}"));
                    break;
                }
            }
        }
        let epoch = att.segment.epoch();
        let work = !responses.is_empty();
        for r in responses {
            self.handle_response(r, epoch);
        }
        work
    }

    fn handle_response(&mut self, response: Response, epoch: u64) {
        if let (EVENT_ID, Reply::Event { message }) = (response.id, &response.reply) {
            log(format!("dataplane: {message}"));
            return;
        }
        let Some(p) = self.pending.remove(&response.id) else {
            self.counters.stale_replies += 1;
            log(format!(
                "reply to unknown or expired request {} ignored",
                response.id
            ));
            return;
        };
        let out = match (p.kind, response.reply) {
            (
                PendingKind::LoadRules {
                    candidate,
                    generation,
                },
                reply,
            ) => {
                self.rules_in_flight = self.rules_in_flight.saturating_sub(1);
                self.rules_reply(candidate, generation, reply, epoch)
            }
            (PendingKind::ListFlows, Reply::FlowList { entries, next }) => ApiResponse::Flows {
                next,
                flows: entries
                    .into_iter()
                    .map(|e| FlowView {
                        endpoint: endpoint_name(e.endpoint),
                        protocol: e.protocol,
                        src: e.addresses.src().to_string(),
                        dst: e.addresses.dst().to_string(),
                        src_port: e.src_port,
                        dst_port: e.dst_port,
                        state: e.state,
                        expires_in_ms: e.expires_in_ns / 1_000_000,
                    })
                    .collect(),
            },
            (PendingKind::FlushFlows, Reply::FlowsFlushed { count }) => {
                ApiResponse::FlowsFlushed { count }
            }
            (_, Reply::Failed { message }) => ApiResponse::Error {
                message: format!("dataplane: {message}"),
            },
            (_, other) => ApiResponse::Error {
                message: format!("dataplane gave an unexpected reply: {other:?}"),
            },
        };
        answer(p.reply, out);
    }

    fn expire_pending(&mut self, now: Instant) {
        let expired: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            let Some(p) = self.pending.remove(&id) else {
                continue;
            };
            self.counters.command_timeouts += 1;
            let what = match &p.kind {
                PendingKind::LoadRules { generation, .. } => {
                    self.rules_in_flight = self.rules_in_flight.saturating_sub(1);
                    self.counters.rules_failed += 1;
                    format!("LoadRules (generation {generation})")
                }
                PendingKind::ListFlows => "ListFlows".to_string(),
                PendingKind::FlushFlows => "FlushFlows".to_string(),
            };
            let message = format!(
                "the dataplane did not answer {what} (request {id}) within {} ms",
                self.config.rules.reply_timeout_ms
            );
            log(&message);
            answer(p.reply, ApiResponse::Error { message });
        }
    }

    /// The health verdict right now.
    pub fn health(&self) -> Health {
        let segment = self.attachment.as_ref().map(|a| &a.segment);
        HealthInputs::read(segment, tollgate_shm::monotonic_ns())
            .evaluate(self.config.health.heartbeat_timeout())
    }

    fn pump_health(&mut self) -> bool {
        let now_ms = self.now_ms();
        let health = self.health();
        let responder_config = ResponderConfig {
            protocol: self.config.health.protocol,
            port: self.config.health.port,
            path: self.config.health.path.clone(),
            sockets: self.config.health.sockets,
        };
        let Some(att) = self.attachment.as_mut() else {
            return false;
        };
        if att.responder.is_none() {
            if let Some((ip, mac)) = att.segment.identity() {
                log(format!(
                    "answering health checks ({:?}) on {}:{} as {}",
                    responder_config.protocol,
                    std::net::Ipv4Addr::from(ip),
                    responder_config.port,
                    mac.iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<Vec<_>>()
                        .join(":")
                ));
                att.responder = Some(HealthResponder::new(ip, mac, responder_config, now_ms));
            }
        }
        let mut frames = 0;
        for ring in att.punts.iter_mut() {
            for _ in 0..PUNT_BATCH {
                let len = match ring.pop_into(&mut self.punt_buf) {
                    Ok(Some(len)) => len,
                    Ok(None) => break,
                    Err(e) => {
                        log(format!("punt ring: {e}; discarding its contents"));
                        ring.discard_all();
                        break;
                    }
                };
                frames += 1;
                let Ok((_, packet)) = PacketMeta::decode(&self.punt_buf[..len]) else {
                    continue;
                };
                if let Some(r) = att.responder.as_mut() {
                    r.receive_frame(packet, now_ms);
                }
            }
        }
        let Some(responder) = att.responder.as_mut() else {
            return frames > 0;
        };
        let out = responder.poll(now_ms, &health);
        for frame in &out {
            let sent = PacketMeta::for_packet(0, 0, frame)
                .ok()
                .map(|meta| att.inject.push_parts(&[&meta.encode(), frame]).is_ok());
            if sent != Some(true) {
                self.counters.inject_dropped += 1;
            }
        }
        frames > 0 || !out.is_empty()
    }

    /// How long the loop may sleep before smoltcp's timers need it.
    pub fn idle_hint(&mut self) -> Option<Duration> {
        let now_ms = self.now_ms();
        let responder = self.attachment.as_mut()?.responder.as_mut()?;
        responder.poll_delay_ms(now_ms).map(Duration::from_millis)
    }

    fn publish(&self) {
        let Ok(mut p) = self.shared.lock() else {
            return;
        };
        let segment = self.attachment.as_ref().map(|a| &a.segment);
        if p.segment.as_ref().map(Segment::epoch) != segment.map(Segment::epoch) {
            p.segment = segment.cloned();
        }
        let mut totals = self.counters.health_responses.clone();
        if let Some(r) = self.attachment.as_ref().and_then(|a| a.responder.as_ref()) {
            add_stats(&mut totals, r.stats());
        }
        p.responder = totals;
        p.control = self.counters.clone();
    }

    /// Sets the operator's drain state (`tollgatectl drain|undrain`).
    fn set_operator_draining(&mut self, draining: bool) -> ApiResponse {
        self.operator_draining = Some(draining);
        let effective = draining || self.shutdown_draining;
        if let Some(att) = &self.attachment {
            att.segment.set_draining(effective);
        }
        log(format!(
            "operator {}",
            if draining { "drain" } else { "undrain" }
        ));
        ApiResponse::Draining {
            draining: effective,
            attached: self.attachment.is_some(),
        }
    }

    /// SIGTERM with drain_on_sigterm: fail health checks until exit.
    pub fn begin_shutdown_drain(&mut self) {
        self.shutdown_draining = true;
        if let Some(att) = &self.attachment {
            att.segment.set_draining(true);
        }
    }

    /// At exit: a drain set only for shutdown is withdrawn, so that a
    /// restarted control is healthy unless an operator drained.
    pub fn finish(&mut self) {
        if self.shutdown_draining && self.operator_draining != Some(true) {
            if let Some(att) = &self.attachment {
                att.segment.set_draining(false);
            }
        }
        self.detach("tollgate-control is exiting");
        self.publish();
    }

    /// Handles one API request; the answer goes to `reply` now or when the
    /// dataplane replies.
    pub fn handle_api(&mut self, request: ApiRequest, reply: Sender<ApiResponse>) {
        match request {
            ApiRequest::RulesPush { origin, text } => {
                self.validate_rules(origin, text, Waiter::Api(reply))
            }
            ApiRequest::RulesShow => answer(Some(reply), ApiResponse::Rules(self.rules_view())),
            ApiRequest::Status => answer(
                Some(reply),
                ApiResponse::Status(Box::new(self.status_view())),
            ),
            ApiRequest::FlowsList { filter, .. } | ApiRequest::FlowsFlush { filter }
                if filter.check().is_err() =>
            {
                let message = filter.check().err().unwrap_or_default();
                answer(Some(reply), ApiResponse::Error { message });
            }
            ApiRequest::FlowsList {
                filter,
                after,
                limit,
            } => {
                let command = Command::ListFlows {
                    filter: (&filter).into(),
                    cursor: after,
                    limit,
                };
                self.send_command(command, PendingKind::ListFlows, Some(reply));
            }
            ApiRequest::FlowsFlush { filter } => {
                let command = Command::FlushFlows {
                    filter: (&filter).into(),
                };
                self.send_command(command, PendingKind::FlushFlows, Some(reply));
            }
            ApiRequest::Drain => answer(Some(reply), self.set_operator_draining(true)),
            ApiRequest::Undrain => answer(Some(reply), self.set_operator_draining(false)),
        }
    }
}

fn answer(reply: Option<Sender<ApiResponse>>, response: ApiResponse) {
    if let Some(reply) = reply {
        // The client may have gone; nothing to do then.
        let _ = reply.send(response);
    }
}

fn add_stats(total: &mut ResponderStats, s: &ResponderStats) {
    total.frames_in += s.frames_in;
    total.frames_ignored += s.frames_ignored;
    total.frames_out += s.frames_out;
    total.tcp_accepted += s.tcp_accepted;
    total.http_ok += s.http_ok;
    total.http_unavailable += s.http_unavailable;
    total.http_other += s.http_other;
    total.connections_expired += s.connections_expired;
    total.recycled_half_open += s.recycled_half_open;
    total.recycled_idle += s.recycled_idle;
    total.recycled_answered += s.recycled_answered;
    total.neighbours_evicted += s.neighbours_evicted;
    total.frames_unaddressed += s.frames_unaddressed;
}

#[path = "service_rules.rs"]
mod rules;
#[path = "service_views.rs"]
mod views;
pub use views::pid_alive;

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;
