//! The dataplane process: start-up in order (config, rules, EAL, port,
//! shared memory, workers), the main lcore's housekeeping loop, and a
//! clean stop on SIGINT/SIGTERM.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tollgate_firewall::{FirewallConfig, HashKey, OwnerHasher};
use tollgate_pipeline::{Pipeline, PipelineConfig, Prefix4, RuleSnapshot};
use tollgate_shm::message::{Command, Reply, Request, Response};
use tollgate_shm::{
    Consumer, Counter, DataplaneState, LinkStatus, Producer, Segment, SegmentAccess, SegmentConfig,
    ShmError,
};

use crate::clock::TscClock;
use crate::config::{Config, ConfigError};
use crate::dpdk::{
    offload, timers_init, timers_manage, DeviceEvents, DpdkError, Eal, Mempool, Port, PortConfig,
    QueueId, SocketId,
};
use crate::flow_pages::{self, FlowSelector};
use crate::worker::{FlowAnswer, FlowRequest, Shared, Worker, BURST};

/// How long the main lcore waits for every worker's answer to a flow request.
const FLOW_ANSWER_TIMEOUT: Duration = Duration::from_secs(5);
/// After a command, the main lcore polls for the next every millisecond
/// (otherwise every 20 ms) for this long.
const BRISK_AFTER_COMMAND: Duration = Duration::from_millis(500);

/// Usable bytes per mbuf: a 9001-byte MTU frame plus Ethernet header, with
/// room for net_af_packet's frame size (see configs/dataplane.toml).
pub const MBUF_DATA_ROOM: u16 = 9216;
/// DPDK's default headroom in front of the data.
const MBUF_HEADROOM: u16 = 128;

/// Why the dataplane could not start (or ended badly): printed as one
/// line after the program's name, exit code from [`StartError::exit_code`].
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// A setting derived from the already validated config that still does
    /// not work (validation should have refused the file).
    #[error("{0}")]
    ConfigDerived(String),
    #[error("rules {}: cannot read: {source}", path.display())]
    RulesUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The rule file's problems, one per line.
    #[error("rules rejected, nothing applied:\n{0}")]
    RulesRejected(String),
    #[error("EAL: {0}")]
    Eal(DpdkError),
    #[error("EAL: no worker lcores: list at least two lcores (the first is the main lcore), e.g. --lcores=0@0,1@1")]
    NoWorkerLcores,
    #[error("port: {0}")]
    Port(DpdkError),
    #[error("mempool of {mbufs} mbufs: {source}")]
    Mempool { mbufs: u32, source: DpdkError },
    #[error("[shm] group: {0}")]
    ShmGroup(ShmError),
    #[error("shared memory: {0}")]
    SharedMemory(ShmError),
    #[error("firewall: {0}")]
    Firewall(tollgate_firewall::ConfigError),
    #[error("no OS random source to key the flow hashes: {0}")]
    NoRandomSource(getrandom::Error),
    #[error("launch worker {index}: {source}")]
    LaunchWorker { index: usize, source: DpdkError },
    #[error("--stats-out {}: {source}", path.display())]
    StatsOut {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the device asked for a reset (RTE_ETH_EVENT_INTR_RESET); restart to reset it")]
    DeviceReset,
    #[error("a worker failed; see above")]
    WorkerFailed,
    #[error("mbuf leak: {at_start} in use at start, {at_exit} at exit")]
    MbufLeak { at_start: u32, at_exit: u32 },
}

impl StartError {
    /// 2 for a bad config or rule file, 3 when the device asked for a
    /// reset, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            StartError::Config(_) | StartError::RulesRejected(_) => 2,
            StartError::DeviceReset => 3,
            _ => 1,
        }
    }
}

static STOP_SIGNAL: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(_: libc::c_int) {
    STOP_SIGNAL.store(true, Ordering::Relaxed);
}

fn install_signal_handlers() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic (async-signal-safe).
        unsafe { libc::signal(sig, on_stop_signal as *const () as libc::sighandler_t) };
    }
}

pub struct Options {
    pub config: PathBuf,
    pub stats_out: Option<PathBuf>,
}

pub fn run(opts: &Options) -> Result<(), StartError> {
    let config = Config::load(&opts.config)?;
    for warning in config.firewall.warnings() {
        eprintln!("tollgate-dataplane: warning: {warning}");
    }
    let initial_rules = match config.rules_path(&opts.config) {
        Some(path) => Some(load_rules_file(&path)?),
        None => None,
    };
    install_signal_handlers();

    let mut eal_args = vec!["tollgate-dataplane".to_string()];
    eal_args.extend(config.eal.args.iter().cloned());
    let eal = Eal::init(&eal_args).map_err(StartError::Eal)?;
    // Before the port starts: the ENA PMD arms its keep-alive watchdog then.
    timers_init().map_err(StartError::Eal)?;
    let lcores = eal.worker_lcores();
    if lcores.is_empty() {
        return Err(StartError::NoWorkerLcores);
    }
    let workers = lcores.len();

    let mut port = Port::by_name(&config.port.device).map_err(StartError::Port)?;
    let device_events = DeviceEvents::register(&port).map_err(StartError::Port)?;
    let info = port.info().map_err(StartError::Port)?;
    let rss = config.port.rss && workers > 1 && info.supports_rss();
    // Some virtual devices (net_af_packet) refuse jumbo MTUs through ethdev
    // yet carry them when their frame size allows; do not ask for more than
    // the driver says it takes.
    let mtu = (info.max_mtu >= config.port.mtu).then_some(config.port.mtu);
    port.configure(&PortConfig {
        rx_queues: workers as u16,
        tx_queues: workers as u16,
        rss,
        mtu,
        // Outer IPv4 checksums checked by the NIC when it can (ENA does);
        // the pipeline still verifies in software what the NIC did not.
        rx_offloads: info.rx_offload_capa & offload::RX_OFFLOAD_IPV4_CKSUM,
        tx_offloads: 0,
    })
    .map_err(StartError::Port)?;
    let mac = port.mac_addr().map_err(StartError::Port)?;

    let descs = usize::from(config.port.rx_descriptors) + usize::from(config.port.tx_descriptors);
    let mbufs = if config.port.mbufs > 0 {
        config.port.mbufs
    } else {
        (workers * (descs + 4 * BURST + config.worker.steer_ring_size) + 1024) as u32
    };
    let pool = Arc::new(
        Mempool::new(
            "tollgate_pkts",
            mbufs,
            256,
            MBUF_DATA_ROOM + MBUF_HEADROOM,
            SocketId::ANY,
        )
        .map_err(|source| StartError::Mempool { mbufs, source })?,
    );
    for q in 0..workers as u16 {
        port.setup_rx_queue(QueueId(q), config.port.rx_descriptors, &pool)
            .map_err(StartError::Port)?;
        port.setup_tx_queue(QueueId(q), config.port.tx_descriptors)
            .map_err(StartError::Port)?;
    }
    port.start().map_err(StartError::Port)?;
    let pool_in_use_at_start = pool.in_use_count();

    let shm_access = match &config.shm.group {
        Some(group) => SegmentAccess::for_group(group).map_err(StartError::ShmGroup)?,
        None => SegmentAccess::default(),
    };
    let segment: &'static Segment = Box::leak(Box::new(
        Segment::create_with_access(
            &config.shm.name,
            &SegmentConfig {
                workers,
                flow_capacity: u64::from(config.firewall.flow_capacity),
                ..SegmentConfig::default()
            },
            shm_access,
        )
        .map_err(StartError::SharedMemory)?,
    ));
    segment.set_state(DataplaneState::Starting);
    segment.set_identity(config.appliance.address.octets(), mac);

    let shared = Arc::new(Shared::new(workers, config.worker.steer_ring_size));
    let prefixes: Vec<Prefix4> = config
        .gwlb_prefixes()
        .map_err(StartError::ConfigDerived)?
        .iter()
        .map(|c| Prefix4::new(c.network.octets(), c.prefix_len))
        .collect();
    let health_sources: Vec<Prefix4> = config
        .health_source_prefixes()
        .map_err(StartError::ConfigDerived)?
        .iter()
        .map(|c| Prefix4::new(c.network.octets(), c.prefix_len))
        .collect();
    let per_worker_capacity = config.firewall.flow_capacity.div_ceil(workers as u32);
    // Validated with the rest of the configuration.
    let worker_firewall = config
        .firewall
        .per_worker(per_worker_capacity)
        .map_err(StartError::ConfigDerived)?;
    let mut generation = 0;
    if let Some(rules) = initial_rules {
        generation = rules.generation;
        publish_rules_info(segment, &rules);
        for inbox in &shared.rules_inbox {
            let _ = inbox.push(Arc::clone(&rules));
        }
    }
    // One owner key for every worker of this process, and a table key of
    // its own per worker, all from the OS random source and never logged:
    // a key an outsider could predict (the start time, a constant) would
    // let them aim flows at one worker's buckets.
    let random_key = || HashKey::try_random().map_err(StartError::NoRandomSource);
    let owner_hasher = OwnerHasher::new(random_key()?);
    for (index, lcore) in lcores.iter().enumerate() {
        let stats = segment
            .worker_stats(index)
            .map_err(StartError::SharedMemory)?;
        let pipeline = Pipeline::new(
            PipelineConfig {
                appliance_ip: config.appliance.address.octets(),
                appliance_mac: mac,
                gwlb_sources: prefixes.clone(),
                punt_sources: health_sources.clone(),
                worker: index,
                workers,
                owner_hasher,
                punt_rate_pps: config.punt.rate_pps,
                punt_burst: config.punt.burst,
                firewall: FirewallConfig {
                    hash_seed: random_key()?,
                    ..worker_firewall.clone()
                },
            },
            stats,
        )
        .map_err(StartError::Firewall)?;
        let (rx, tx) = port
            .queue_pair(QueueId(index as u16))
            .map_err(StartError::Port)?;
        let punt = segment
            .punt_ring_producer(index)
            .map_err(StartError::SharedMemory)?;
        let mut worker = Worker::new(
            index,
            (rx, tx),
            Arc::clone(&pool),
            pipeline,
            punt,
            Arc::clone(&shared),
            TscClock::new(eal.tsc_hz()),
        )
        .with_idle_sleep_us(config.worker.idle_sleep_us);
        if index == 0 {
            let inject = segment
                .inject_ring_consumer()
                .map_err(StartError::SharedMemory)?;
            worker = worker.with_inject(inject);
        }
        eal.launch_on(*lcore, move || worker.run())
            .map_err(|source| StartError::LaunchWorker { index, source })?;
    }
    segment.set_state(DataplaneState::Running);
    println!(
        "tollgate-dataplane: forwarding on {} ({}, mac {}) with {workers} workers, rss {}, rules generation {generation}, shm {}",
        config.port.device,
        info.driver_name,
        format_mac(mac),
        if rss { "on" } else { "off" },
        segment.path().display()
    );

    let mut housekeeping = Housekeeping {
        segment,
        shared: &shared,
        commands: segment
            .command_ring_consumer()
            .map_err(StartError::SharedMemory)?,
        replies: segment
            .reply_ring_producer()
            .map_err(StartError::SharedMemory)?,
        generation,
        link_up: None,
    };
    housekeeping.event(format!(
        "started: {workers} workers on {}, rules generation {generation}",
        config.port.device
    ));
    let mut reset_requested = false;
    let mut brisk_until = Instant::now();
    let mut next_port_stats = Instant::now();
    while !STOP_SIGNAL.load(Ordering::Relaxed) {
        // The PMD's timers (ENA: keep-alive watchdog, which raises the
        // reset event) run only here, on the lcore that started the port.
        if let Err(e) = timers_manage() {
            eprintln!("tollgate-dataplane: {e}");
        }
        if device_events.take_resets() > 0 {
            // Resetting in place needs the workers' queues back; until then
            // stop cleanly and let the service manager start us again.
            eprintln!("tollgate-dataplane: the device asked for a reset; stopping so that it is reset at the next start");
            housekeeping.event("device reset requested: stopping".to_string());
            segment.set_link(LinkStatus {
                up: false,
                speed_mbps: 0,
            });
            reset_requested = true;
            break;
        }
        if device_events.take_link_changes() > 0 {
            eprintln!("tollgate-dataplane: link state change reported by the device");
        }
        if Instant::now() >= next_port_stats {
            housekeeping.port_stats(&port);
            next_port_stats = Instant::now() + Duration::from_millis(20);
        }
        if housekeeping.commands() {
            brisk_until = Instant::now() + BRISK_AFTER_COMMAND;
        }
        while let Some(old) = shared.retired.pop() {
            drop(old);
        }
        // Commands often come in runs (a listing asks page after page).
        let brisk = Instant::now() < brisk_until;
        std::thread::sleep(Duration::from_millis(if brisk { 1 } else { 20 }));
    }

    println!("tollgate-dataplane: stopping");
    if !reset_requested {
        housekeeping.event("stopping on a signal".to_string());
    }
    segment.set_state(DataplaneState::Stopping);
    shared.stop.store(true, Ordering::Relaxed);
    let mut worker_failed = false;
    for exit in eal.wait_all() {
        if let Err(e) = exit.result {
            eprintln!("tollgate-dataplane: worker on lcore {}: {e}", exit.lcore);
            worker_failed = true;
        }
    }
    // Packets still queued between workers go back to the pool.
    for inbox in &shared.steer_inbox {
        while inbox.pop().is_some() {}
    }
    housekeeping.port_stats(&port);
    let pool_in_use_at_exit = pool.in_use_count();
    if let Err(e) = port.stop() {
        eprintln!("tollgate-dataplane: port stop: {e}");
    }
    let summary = summarize(segment, pool_in_use_at_start, pool_in_use_at_exit);
    print_summary(&summary);
    if let Some(path) = &opts.stats_out {
        write_stats(path, &summary).map_err(|source| StartError::StatsOut {
            path: path.clone(),
            source,
        })?;
    }
    segment.retire();
    if reset_requested {
        return Err(StartError::DeviceReset);
    }
    if worker_failed {
        return Err(StartError::WorkerFailed);
    }
    if pool_in_use_at_exit != pool_in_use_at_start {
        return Err(StartError::MbufLeak {
            at_start: pool_in_use_at_start,
            at_exit: pool_in_use_at_exit,
        });
    }
    Ok(())
}

fn load_rules_file(path: &Path) -> Result<Arc<RuleSnapshot>, StartError> {
    let text = read_rules_file(path).map_err(|source| StartError::RulesUnreadable {
        path: path.to_path_buf(),
        source,
    })?;
    let origin = path.display().to_string();
    let rules = RuleSnapshot::from_text(&text, &origin, 1).map_err(StartError::RulesRejected)?;
    for warning in &rules.warnings {
        eprintln!("tollgate-dataplane: rules: warning: {warning}");
    }
    Ok(Arc::new(rules))
}

/// Reads a rule file without reading past the rule language's size limit,
/// so an oversized file costs no more memory than the limit.
fn read_rules_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let limit = tollgate_rules::MAX_FILE_BYTES;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(limit as u64 + 1)
        .read_to_string(&mut text)?;
    if text.len() > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("file is over {limit} bytes"),
        ));
    }
    Ok(text)
}

fn publish_rules_info(segment: &Segment, rules: &RuleSnapshot) {
    if let Err(e) = segment.publish_rules(
        rules.generation,
        tollgate_shm::realtime_ns(),
        &rules.rule_ids,
    ) {
        eprintln!("tollgate-dataplane: rule ids not published for metrics: {e}");
    }
}

struct Housekeeping<'a> {
    segment: &'static Segment,
    shared: &'a Shared,
    commands: Consumer,
    replies: Producer,
    generation: u64,
    link_up: Option<bool>,
}

impl Housekeeping<'_> {
    /// Tells control something on the reply ring; dropped if nobody has
    /// been reading it (events only inform).
    fn event(&mut self, message: String) {
        let _ = self.replies.push(&Response::event(message).to_bytes());
    }

    fn port_stats(&mut self, port: &Port) {
        if let Ok(link) = port.link() {
            if self.link_up != Some(link.up) {
                if self.link_up.is_some() {
                    self.event(format!("link {}", if link.up { "up" } else { "down" }));
                }
                self.link_up = Some(link.up);
            }
            self.segment.set_link(LinkStatus {
                up: link.up,
                speed_mbps: u64::from(link.speed_mbps.unwrap_or(0)),
            });
        }
        if let Ok(counters) = port.stats() {
            let xstats = port.xstats().ok();
            let iter = xstats.iter().flat_map(|x| x.iter());
            self.segment.write_port_stats(&counters, iter);
        }
    }

    /// Answers every queued command; returns whether there was any.
    fn commands(&mut self) -> bool {
        let mut buf = Vec::new();
        let mut any = false;
        loop {
            match self.commands.pop_to_vec(&mut buf) {
                Ok(true) => any = true,
                Ok(false) => return any,
                Err(e) => {
                    eprintln!("tollgate-dataplane: command ring: {e}; discarding its backlog");
                    self.commands.discard_all();
                    return true;
                }
            }
            let response = match Request::decode(&buf) {
                Ok(req) => Response {
                    id: req.id,
                    reply: self.execute(req.command),
                },
                Err(e) => Response {
                    id: Request::peek_id(&buf).unwrap_or(0),
                    reply: Reply::Failed {
                        message: format!("undecodable command: {e}"),
                    },
                },
            };
            if self.replies.push(&response.to_bytes()).is_err() {
                eprintln!(
                    "tollgate-dataplane: reply ring full; reply to request {} lost",
                    response.id
                );
            }
        }
    }

    fn execute(&mut self, command: Command) -> Reply {
        match command {
            Command::Ping => Reply::Pong,
            Command::LoadRules { generation, text } => self.load_rules(generation, &text),
            Command::FlushFlows { filter } => {
                let selector = match FlowSelector::from_message(&filter) {
                    Ok(s) => s,
                    Err(message) => return Reply::Failed { message },
                };
                match self.ask_workers(|| FlowRequest::Flush(selector)) {
                    Ok(answers) => Reply::FlowsFlushed {
                        count: answers
                            .iter()
                            .map(|a| match a {
                                FlowAnswer::Flushed(n) => *n as u64,
                                FlowAnswer::Listed(_) => 0,
                            })
                            .sum(),
                    },
                    Err(message) => Reply::Failed { message },
                }
            }
            Command::ListFlows {
                filter,
                cursor,
                limit,
            } => {
                let selector = match FlowSelector::from_message(&filter) {
                    Ok(s) => s,
                    Err(message) => return Reply::Failed { message },
                };
                let shared = self.shared;
                let max_bytes = flow_pages::page_bytes(self.replies.max_message_len());
                let page = flow_pages::build_page(
                    shared.flow_requests.len(),
                    cursor,
                    limit,
                    max_bytes,
                    |worker, from, room| {
                        let request = FlowRequest::List {
                            selector,
                            from,
                            budget: flow_pages::SCAN_SLOTS_PER_VISIT,
                            out: Vec::with_capacity(room),
                        };
                        match shared.ask_worker(worker, request, FLOW_ANSWER_TIMEOUT)? {
                            FlowAnswer::Listed(visit) => Ok(visit),
                            FlowAnswer::Flushed(_) => {
                                Err(format!("worker {worker} answered a listing with a flush"))
                            }
                        }
                    },
                );
                match page {
                    Ok(page) => Reply::FlowList {
                        entries: page.entries,
                        next: page.next,
                    },
                    Err(message) => Reply::Failed { message },
                }
            }
        }
    }

    /// Sends one request to every worker and collects every answer.
    fn ask_workers(&self, request: impl Fn() -> FlowRequest) -> Result<Vec<FlowAnswer>, String> {
        self.shared.ask_workers(request, FLOW_ANSWER_TIMEOUT)
    }

    /// Compiles off the fast path, hands the snapshot to every worker, and
    /// acknowledges once all have adopted it.
    fn load_rules(&mut self, generation: u64, text: &str) -> Reply {
        let rules = match RuleSnapshot::from_text(text, "pushed rules", generation) {
            Ok(r) => Arc::new(r),
            Err(errors) => {
                return Reply::RulesRejected {
                    generation,
                    message: errors,
                }
            }
        };
        for inbox in &self.shared.rules_inbox {
            if inbox.push(Arc::clone(&rules)).is_err() {
                return Reply::Failed {
                    message: "a worker has not taken the previous rule sets yet; retry".into(),
                };
            }
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while self
            .shared
            .rules_applied
            .iter()
            .any(|g| g.load(Ordering::Acquire) != generation)
        {
            if Instant::now() > deadline {
                return Reply::Failed {
                    message: format!("workers did not adopt generation {generation} within 2 s"),
                };
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        self.generation = generation;
        publish_rules_info(self.segment, &rules);
        Reply::RulesApplied { generation }
    }
}

fn summarize(segment: &Segment, pool_start: u32, pool_exit: u32) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (counter, value) in Counter::ALL.iter().zip(segment.counter_totals()) {
        let desc = counter.desc();
        let mut key = desc.name.trim_start_matches("tollgate_").to_string();
        for (_, v) in desc.labels {
            key.push(':');
            key.push_str(v);
        }
        *out.entry(key).or_insert(0) += value;
    }
    for w in 0..segment.worker_count() {
        if let Ok(stats) = segment.worker_stats(w) {
            out.insert(
                format!("worker{w}:rx_packets_total"),
                stats.get(Counter::RxPackets),
            );
            out.insert(
                format!("worker{w}:tx_packets_total"),
                stats.get(Counter::TxPackets),
            );
        }
    }
    let (endpoints, other) = segment.endpoint_totals();
    for e in endpoints {
        out.insert(
            format!(
                "endpoint_packets:{}",
                tollgate_wire::gwlb::format_endpoint_id(e.endpoint_id)
            ),
            e.packets,
        );
    }
    out.insert("endpoint_packets:other".into(), other.packets);
    out.insert("mempool_in_use_at_start".into(), u64::from(pool_start));
    out.insert("mempool_in_use_at_exit".into(), u64::from(pool_exit));
    out
}

fn print_summary(summary: &BTreeMap<String, u64>) {
    println!("tollgate-dataplane: totals");
    for (k, v) in summary.iter().filter(|(_, v)| **v > 0) {
        println!("  {k:<48} {v}");
    }
}

fn write_stats(path: &Path, summary: &BTreeMap<String, u64>) -> std::io::Result<()> {
    let body: Vec<String> = summary
        .iter()
        .map(|(k, v)| format!("  {k:?}: {v}"))
        .collect();
    std::fs::write(path, format!("{{\n{}\n}}\n", body.join(",\n")))
}

fn format_mac(m: [u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

#[cfg(test)]
mod tests {
    use super::{read_rules_file, StartError};
    use crate::config::ConfigError;

    #[test]
    fn start_errors_say_what_failed_and_exit_by_kind() {
        let config = StartError::Config(ConfigError {
            file: "/etc/tollgate/dataplane.toml".into(),
            message: "line 3: unknown field `speed`".into(),
        });
        let cases = [
            (
                config,
                2,
                "config /etc/tollgate/dataplane.toml: line 3: unknown field `speed`",
            ),
            (
                StartError::RulesRejected("rules.toml:5: bad\nrules.toml:9: worse".into()),
                2,
                "rules rejected, nothing applied:\nrules.toml:5: bad\nrules.toml:9: worse",
            ),
            (
                StartError::NoWorkerLcores,
                1,
                "EAL: no worker lcores: list at least two lcores (the first is the main lcore), e.g. --lcores=0@0,1@1",
            ),
            (
                StartError::DeviceReset,
                3,
                "the device asked for a reset (RTE_ETH_EVENT_INTR_RESET); restart to reset it",
            ),
            (StartError::WorkerFailed, 1, "a worker failed; see above"),
            (
                StartError::MbufLeak {
                    at_start: 10,
                    at_exit: 12,
                },
                1,
                "mbuf leak: 10 in use at start, 12 at exit",
            ),
            (
                StartError::RulesUnreadable {
                    path: "/x/rules.toml".into(),
                    source: std::io::Error::new(std::io::ErrorKind::NotFound, "gone"),
                },
                1,
                "rules /x/rules.toml: cannot read: gone",
            ),
            (
                StartError::StatsOut {
                    path: "/x/stats.json".into(),
                    source: std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied"),
                },
                1,
                "--stats-out /x/stats.json: denied",
            ),
        ];
        for (err, code, message) in cases {
            assert_eq!(
                (err.exit_code(), err.to_string()),
                (code, message.to_string())
            );
        }
    }

    #[test]
    fn a_rule_file_over_the_size_limit_is_refused_unread() {
        let path = std::env::temp_dir().join(format!("tollgate-rules-{}.toml", std::process::id()));
        let limit = tollgate_rules::MAX_FILE_BYTES;
        std::fs::write(&path, vec![b'#'; limit + 1]).unwrap();
        let err = read_rules_file(&path).unwrap_err();
        assert_eq!(err.to_string(), format!("file is over {limit} bytes"));
        std::fs::write(&path, vec![b'#'; limit]).unwrap();
        assert_eq!(read_rules_file(&path).unwrap().len(), limit);
        std::fs::remove_file(&path).unwrap();
    }
}
