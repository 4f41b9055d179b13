//! Creating, attaching to and reading the shared segment.
//!
//! The dataplane calls [`Segment::create`] at start: a new sealed memory
//! (new epoch) is laid out and published under a new socket, so a restarted
//! dataplane never inherits a half-written state. The control plane calls
//! [`Segment::attach`] and polls [`Segment::is_stale`] to notice a restart.
//! Who may do what is in `boundary.rs`.
//!
//! Which process may use which ring end:
//!
//! | ring     | producer                    | consumer                  |
//! |----------|-----------------------------|---------------------------|
//! | command  | control                     | dataplane main lcore      |
//! | reply    | dataplane main lcore        | control                   |
//! | punt[i]  | dataplane worker i          | control                   |
//! | inject   | control                     | dataplane worker 0        |

use std::mem::size_of;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::boundary::{self, Publisher, SegmentAccess};

use crate::clock::{monotonic_ns, realtime_ns};
use crate::counter::{Counter, COUNTER_SCHEMA};
use crate::error::{Result, ShmError};
use crate::header::{DataplaneState, Header, LinkStatus, LAYOUT_VERSION, MAGIC};
use crate::layout::{Layout, RegionId, SegmentConfig, MAX_NAME_LEN, REGION_COUNT};
use crate::mapping::Mapping;
use crate::port_stats::{PortCounters, PortStatsRegion, PortStatsSnapshot};
use crate::ring::{Consumer, Producer, RingControl};
use crate::rules_info::{RulesInfo, RulesSnapshot};
use crate::seqlock::NAME_BYTES;
use crate::worker_stats::{EndpointCount, WorkerStats, MAX_RULES};

/// Where segments live.
pub const SHM_DIR: &str = "/dev/shm";

/// `/dev/shm/tollgate-<name>`, after checking the name.
pub fn segment_path(name: &str) -> Result<PathBuf> {
    let valid = (1..=MAX_NAME_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if !valid {
        return Err(ShmError::InvalidName {
            name: name.to_string(),
        });
    }
    Ok(Path::new(SHM_DIR).join(format!("tollgate-{name}")))
}

/// A mapped segment. Cheap to clone (one `Arc`); clones share the mapping,
/// which is unmapped when the last clone and ring handle are gone.
#[derive(Clone)]
pub struct Segment {
    map: Arc<Mapping>,
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("path", &self.map.path)
            .field("epoch", &self.epoch())
            .field("workers", &self.worker_count())
            .field("state", &self.state())
            .finish()
    }
}

/// Which ring, for claim bookkeeping.
#[derive(Clone, Copy)]
enum RingId {
    Command,
    Reply,
    Inject,
    Punt(usize),
}

impl RingId {
    fn claim_index(self, producer: bool) -> usize {
        let base = match self {
            RingId::Command => 0,
            RingId::Reply => 2,
            RingId::Inject => 4,
            RingId::Punt(i) => 6 + 2 * i,
        };
        base + usize::from(!producer)
    }

    /// Ends the control plane uses; one process at a time may hold them.
    fn is_control_end(self, producer: bool) -> bool {
        match self {
            RingId::Command | RingId::Inject => producer,
            RingId::Reply | RingId::Punt(_) => !producer,
        }
    }

    fn describe(self, producer: bool) -> String {
        let end = if producer { "producer" } else { "consumer" };
        match self {
            RingId::Command => format!("command ring {end}"),
            RingId::Reply => format!("reply ring {end}"),
            RingId::Inject => format!("inject ring {end}"),
            RingId::Punt(i) => format!("punt ring {i} {end}"),
        }
    }
}

fn claim_count(workers: usize) -> usize {
    6 + 2 * workers
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> ShmError + 'a {
    move |source| ShmError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// A new epoch: later than any this process handed out before, so even
/// two creations within one clock tick differ.
fn next_epoch() -> u64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = realtime_ns();
    let prev = LAST
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
            Some(now.max(last.wrapping_add(1)))
        })
        .unwrap_or(0);
    now.max(prev.wrapping_add(1))
}

impl Segment {
    /// Dataplane side: creates and publishes a fresh segment that only this
    /// user and root may attach to (see [`Self::create_with_access`]).
    pub fn create(name: &str, config: &SegmentConfig) -> Result<Segment> {
        Self::create_with_access(name, config, SegmentAccess::default())
    }

    /// Dataplane side: creates a sealed segment and publishes it at
    /// `/dev/shm/tollgate-<name>`. A leftover of this user's earlier
    /// dataplane is replaced; a name held by a running dataplane or by
    /// another user is refused ([`ShmError::NameTaken`]).
    pub fn create_with_access(
        name: &str,
        config: &SegmentConfig,
        access: SegmentAccess,
    ) -> Result<Segment> {
        Self::create_at(&segment_path(name)?, config, access)
    }

    fn create_at(path: &Path, config: &SegmentConfig, access: SegmentAccess) -> Result<Segment> {
        let layout = Layout::compute(config)?;
        let tag = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("tollgate");
        let file = boundary::create_memfd(tag, layout.total_size, access)
            .map_err(io_err("create sealed memory for", path))?;
        let map = Mapping::map(
            file,
            path,
            (0, 0),
            layout.total_size,
            true,
            layout.clone(),
            claim_count(config.workers),
        )
        .map_err(io_err("map", path))?;
        let mut segment = Segment { map: Arc::new(map) };
        segment.init(next_epoch());
        // Published only once complete; until then the mapping is ours alone.
        let map = Arc::get_mut(&mut segment.map).expect("no clone exists yet");
        let publisher = Publisher::start(path, map.file(), access)?;
        map.publisher = std::sync::Mutex::new(Some(publisher));
        let (dev, ino) = boundary::identity(path).unwrap_or((0, 0));
        map.dev = dev;
        map.ino = ino;
        Ok(segment)
    }

    /// Lays out a zeroed segment; the magic goes last.
    fn init(&self, epoch: u64) {
        let layout = &self.map.layout;
        let cfg = &layout.config;
        for ring in [RingId::Command, RingId::Reply, RingId::Inject]
            .into_iter()
            .chain((0..cfg.workers).map(RingId::Punt))
        {
            let (offset, capacity) = self.ring_place(ring);
            self.map.at::<RingControl>(offset).init(capacity);
        }
        let h = self.map.header();
        let r = Ordering::Relaxed;
        h.layout_version.store(LAYOUT_VERSION, r);
        h.counter_schema.store(COUNTER_SCHEMA, r);
        h.epoch.store(epoch, r);
        h.created_unix_ns.store(realtime_ns(), r);
        h.dataplane_pid.store(u64::from(std::process::id()), r);
        h.total_size.store(layout.total_size as u64, r);
        h.worker_count.store(cfg.workers as u64, r);
        h.flow_capacity.store(cfg.flow_capacity, r);
        for (cell, bytes) in h.ring_bytes.iter().zip([
            cfg.command_ring_bytes,
            cfg.reply_ring_bytes,
            cfg.punt_ring_bytes,
            cfg.inject_ring_bytes,
        ]) {
            cell.store(bytes as u64, r);
        }
        for (cell, region) in h.regions.iter().zip(layout.regions) {
            cell[0].store(region.offset as u64, r);
            cell[1].store(region.size as u64, r);
        }
        h.set_state(DataplaneState::Starting);
        h.magic.store(MAGIC, Ordering::Release);
    }

    /// Control side: maps the dataplane's segment after checking that it was
    /// laid out by the same release.
    pub fn attach(name: &str) -> Result<Segment> {
        Self::attach_at(&segment_path(name)?)
    }

    /// [`Self::attach`], retrying while the dataplane is absent or still
    /// creating the segment, until `timeout` has passed (control start-up).
    pub fn attach_wait(name: &str, timeout: std::time::Duration) -> Result<Segment> {
        let give_up = std::time::Instant::now() + timeout;
        loop {
            match Self::attach(name) {
                Err(ShmError::NotFound { .. } | ShmError::NotReady { .. })
                    if std::time::Instant::now() < give_up =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                result => return result,
            }
        }
    }

    fn attach_at(path: &Path) -> Result<Segment> {
        let fetched = boundary::fetch(path)?;
        let file = fetched.memory;
        let len = file.metadata().map_err(io_err("stat", path))?.len();
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len < size_of::<Header>() {
            // The dataplane has created but not yet sized the file.
            return Err(ShmError::NotReady {
                path: path.to_path_buf(),
            });
        }
        let mut map = Mapping::map(
            file,
            path,
            fetched.identity,
            len,
            false,
            Layout::default(),
            0,
        )
        .map_err(io_err("map", path))?;
        let layout = Self::check_header(path, map.header(), len)?;
        map.claims_resize(claim_count(layout.config.workers));
        map.layout = layout;
        let segment = Segment { map: Arc::new(map) };
        segment.check_rings()?;
        Ok(segment)
    }

    fn check_header(path: &Path, h: &Header, len: usize) -> Result<Layout> {
        let path = path.to_path_buf();
        let magic = h.magic.load(Ordering::Acquire);
        if magic == 0 {
            return Err(ShmError::NotReady { path });
        }
        if magic != MAGIC {
            return Err(ShmError::BadMagic {
                path,
                found: magic,
                expected: MAGIC,
            });
        }
        let version = h.layout_version.load(Ordering::Relaxed);
        if version != LAYOUT_VERSION {
            return Err(ShmError::VersionMismatch {
                path,
                found: version,
                expected: LAYOUT_VERSION,
            });
        }
        let schema = h.counter_schema.load(Ordering::Relaxed);
        if schema != COUNTER_SCHEMA {
            return Err(ShmError::SchemaMismatch {
                path,
                found: schema,
                expected: COUNTER_SCHEMA,
            });
        }
        let field = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        let rb = |i: usize| field(h.ring_bytes[i].load(Ordering::Relaxed));
        let config = SegmentConfig {
            workers: field(h.worker_count.load(Ordering::Relaxed)),
            flow_capacity: h.flow_capacity.load(Ordering::Relaxed),
            command_ring_bytes: rb(0),
            reply_ring_bytes: rb(1),
            punt_ring_bytes: rb(2),
            inject_ring_bytes: rb(3),
        };
        let corrupt = |detail: String| ShmError::Corrupt {
            path: path.clone(),
            detail,
        };
        let layout = Layout::compute(&config).map_err(|e| corrupt(e.to_string()))?;
        let total = field(h.total_size.load(Ordering::Relaxed));
        if total != layout.total_size || len < layout.total_size {
            return Err(corrupt(format!(
                "header says {total} bytes, file has {len}, layout needs {}",
                layout.total_size
            )));
        }
        for (i, id) in RegionId::ALL.iter().enumerate().take(REGION_COUNT) {
            let found = (
                field(h.regions[i][0].load(Ordering::Relaxed)),
                field(h.regions[i][1].load(Ordering::Relaxed)),
            );
            let want = layout.regions[i];
            if found != (want.offset, want.size) {
                return Err(corrupt(format!(
                    "region {id:?} at {}+{}, this build computes {}+{}",
                    found.0, found.1, want.offset, want.size
                )));
            }
        }
        Ok(layout)
    }

    fn check_rings(&self) -> Result<()> {
        for ring in [RingId::Command, RingId::Reply, RingId::Inject]
            .into_iter()
            .chain((0..self.worker_count()).map(RingId::Punt))
        {
            let (offset, capacity) = self.ring_place(ring);
            let found = self.map.at::<RingControl>(offset).capacity();
            if found != capacity as u64 {
                return Err(ShmError::Corrupt {
                    path: self.map.path.clone(),
                    detail: format!(
                        "{} has capacity {found}, expected {capacity}",
                        ring.describe(true)
                    ),
                });
            }
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.map.path
    }

    /// Another handle on the segment's memory, with what a peer holding it
    /// can do (write any byte, never resize): for tests and the fuzz
    /// harness that play such a peer.
    pub fn memory_file(&self) -> std::io::Result<std::fs::File> {
        self.map.file().try_clone()
    }

    pub fn layout(&self) -> &Layout {
        &self.map.layout
    }

    /// True once the file at our path is no longer the one we mapped (the
    /// dataplane re-created or removed it): drop this segment and attach again.
    pub fn is_stale(&self) -> bool {
        boundary::identity(&self.map.path) != Some((self.map.dev, self.map.ino))
    }

    // ---- header ----

    fn header(&self) -> &Header {
        self.map.header()
    }

    /// Changes on every dataplane start.
    pub fn epoch(&self) -> u64 {
        self.header().epoch.load(Ordering::Relaxed)
    }

    pub fn created_unix_ns(&self) -> u64 {
        self.header().created_unix_ns.load(Ordering::Relaxed)
    }

    pub fn dataplane_pid(&self) -> u32 {
        u32::try_from(self.header().dataplane_pid.load(Ordering::Relaxed)).unwrap_or(0)
    }

    pub fn worker_count(&self) -> usize {
        self.map.layout.config.workers
    }

    pub fn flow_capacity(&self) -> u64 {
        self.header().flow_capacity.load(Ordering::Relaxed)
    }

    pub fn state(&self) -> DataplaneState {
        self.header().state()
    }

    /// Dataplane only.
    pub fn set_state(&self, state: DataplaneState) {
        self.header().set_state(state);
    }

    pub fn link(&self) -> LinkStatus {
        let d = &self.header().dataplane;
        LinkStatus {
            up: d.link_up.load(Ordering::Relaxed) != 0,
            speed_mbps: d.link_speed_mbps.load(Ordering::Relaxed),
        }
    }

    /// Dataplane main lcore only.
    pub fn set_link(&self, link: LinkStatus) {
        let d = &self.header().dataplane;
        d.link_speed_mbps.store(link.speed_mbps, Ordering::Relaxed);
        d.link_up.store(u64::from(link.up), Ordering::Release);
    }

    /// Set by control while the appliance drains; read by dataplane and health.
    pub fn draining(&self) -> bool {
        self.header().control.draining.load(Ordering::Acquire) != 0
    }

    /// Dataplane only, at a clean exit: marks the segment Stopped and removes
    /// its file (only if it is still ours), as dropping the last handle
    /// would; for a dataplane that keeps its handle for the process's life.
    pub fn retire(&self) {
        self.map.retire();
    }

    /// Dataplane only: the address and MAC the appliance answers as.
    pub fn set_identity(&self, ipv4: [u8; 4], mac: [u8; 6]) {
        const SET: u64 = 1 << 63;
        let live = &self.header().dataplane;
        let mut m = [0u8; 8];
        m[2..].copy_from_slice(&mac);
        live.appliance_ipv4
            .store(SET | u64::from(u32::from_be_bytes(ipv4)), Ordering::Release);
        live.port_mac
            .store(SET | u64::from_be_bytes(m), Ordering::Release);
    }

    /// The appliance's IPv4 address and port MAC, once the dataplane has set them.
    pub fn identity(&self) -> Option<([u8; 4], [u8; 6])> {
        const SET: u64 = 1 << 63;
        let live = &self.header().dataplane;
        let ip = live.appliance_ipv4.load(Ordering::Acquire);
        let mac = live.port_mac.load(Ordering::Acquire);
        if ip & SET == 0 || mac & SET == 0 {
            return None;
        }
        let mut m = [0u8; 6];
        m.copy_from_slice(&mac.to_be_bytes()[2..]);
        Some(((ip as u32).to_be_bytes(), m))
    }

    /// Control only.
    pub fn set_draining(&self, draining: bool) {
        self.header()
            .control
            .draining
            .store(u64::from(draining), Ordering::Release);
    }

    /// `(generation, load_time_ns)` of the applied rule set; generation 0: none yet.
    pub fn applied_rules(&self) -> (u64, u64) {
        let d = &self.header().dataplane;
        let generation = d.rules_generation.load(Ordering::Acquire);
        (generation, d.rules_load_time_ns.load(Ordering::Relaxed))
    }

    // ---- rules info and port stats ----

    fn rules_region(&self) -> &RulesInfo {
        self.map
            .at(self.map.layout.region(RegionId::RulesInfo).offset)
    }

    fn port_region(&self) -> &PortStatsRegion {
        self.map
            .at(self.map.layout.region(RegionId::PortStats).offset)
    }

    /// Dataplane main lcore: records the rule set it just applied.
    pub fn publish_rules<S: AsRef<str>>(
        &self,
        generation: u64,
        load_time_ns: u64,
        ids: &[S],
    ) -> Result<()> {
        if ids.len() > MAX_RULES {
            return Err(ShmError::TooMany {
                what: "rule ids",
                count: ids.len(),
                max: MAX_RULES,
            });
        }
        // Cut ids could give two rules the same metrics label.
        if let Some(id) = ids.iter().find(|id| id.as_ref().len() > NAME_BYTES) {
            return Err(ShmError::TooLong {
                what: "rule id",
                name: id.as_ref().to_owned(),
                bytes: id.as_ref().len(),
                max: NAME_BYTES,
            });
        }
        self.rules_region().publish(generation, load_time_ns, ids);
        let d = &self.header().dataplane;
        d.rules_load_time_ns.store(load_time_ns, Ordering::Relaxed);
        d.rules_generation.store(generation, Ordering::Release);
        Ok(())
    }

    /// The applied rule set's ids, for labelling hit counters.
    pub fn rules_info(&self) -> Result<RulesSnapshot> {
        self.rules_region().snapshot()
    }

    /// Dataplane main lcore: publishes port statistics; returns how many
    /// xstats were stored (at most [`crate::MAX_XSTATS`], the rest dropped).
    pub fn write_port_stats<'a>(
        &self,
        counters: &PortCounters,
        xstats: impl IntoIterator<Item = (&'a str, u64)>,
    ) -> usize {
        self.port_region().write(monotonic_ns(), counters, xstats)
    }

    pub fn port_stats(&self) -> Result<PortStatsSnapshot> {
        self.port_region().snapshot()
    }

    // ---- worker stats ----

    /// Worker `index`'s block: written only by that worker, read by anyone.
    pub fn worker_stats(&self, index: usize) -> Result<&WorkerStats> {
        let count = self.worker_count();
        if index >= count {
            return Err(ShmError::NoSuchWorker { index, count });
        }
        Ok(self.map.at(self.map.layout.worker_stats_offset(index)))
    }

    fn all_workers(&self) -> impl Iterator<Item = &WorkerStats> + '_ {
        (0..self.worker_count()).filter_map(|i| self.worker_stats(i).ok())
    }

    /// A counter summed over workers.
    pub fn counter_total(&self, counter: Counter) -> u64 {
        self.all_workers()
            .fold(0u64, |sum, w| sum.wrapping_add(w.get(counter)))
    }

    /// Every counter summed over workers, indexed by [`Counter::index`].
    pub fn counter_totals(&self) -> [u64; Counter::COUNT] {
        let mut totals = [0u64; Counter::COUNT];
        for w in self.all_workers() {
            for (t, c) in totals.iter_mut().zip(Counter::ALL) {
                *t = t.wrapping_add(w.get(*c));
            }
        }
        totals
    }

    /// Hits of rules `0..count` summed over workers.
    pub fn rule_hit_totals(&self, count: usize) -> Vec<u64> {
        let count = count.min(MAX_RULES);
        let mut totals = vec![0u64; count];
        for w in self.all_workers() {
            for (i, t) in totals.iter_mut().enumerate() {
                *t = t.wrapping_add(w.rule_hits(i));
            }
        }
        totals
    }

    /// Per-endpoint traffic summed over workers (sorted by id), plus the
    /// traffic of endpoints that found a worker's table full.
    pub fn endpoint_totals(&self) -> (Vec<EndpointCount>, EndpointCount) {
        let mut merged = std::collections::BTreeMap::<u64, EndpointCount>::new();
        let mut other = EndpointCount::default();
        for w in self.all_workers() {
            for e in w.endpoints() {
                let m = merged.entry(e.endpoint_id).or_insert(EndpointCount {
                    endpoint_id: e.endpoint_id,
                    ..EndpointCount::default()
                });
                m.packets = m.packets.wrapping_add(e.packets);
                m.bytes = m.bytes.wrapping_add(e.bytes);
            }
            let (p, b) = w.other_endpoints();
            other.packets = other.packets.wrapping_add(p);
            other.bytes = other.bytes.wrapping_add(b);
        }
        (merged.into_values().collect(), other)
    }

    /// Each worker's last heartbeat (CLOCK_MONOTONIC ns, 0 if none yet).
    pub fn heartbeats(&self) -> Vec<u64> {
        self.all_workers().map(WorkerStats::heartbeat_ns).collect()
    }

    // ---- rings ----

    /// Offset of the ring's control block and its data capacity.
    fn ring_place(&self, ring: RingId) -> (usize, usize) {
        let l = &self.map.layout;
        match ring {
            RingId::Command => (
                l.region(RegionId::CommandRing).offset,
                l.config.command_ring_bytes,
            ),
            RingId::Reply => (
                l.region(RegionId::ReplyRing).offset,
                l.config.reply_ring_bytes,
            ),
            RingId::Inject => (
                l.region(RegionId::InjectRing).offset,
                l.config.inject_ring_bytes,
            ),
            RingId::Punt(i) => (l.punt_ring_offset(i), l.config.punt_ring_bytes),
        }
    }

    fn ring_control(
        &self,
        ring: RingId,
        producer: bool,
    ) -> Result<(std::ptr::NonNull<RingControl>, usize, usize)> {
        if let RingId::Punt(index) = ring {
            let count = self.worker_count();
            if index >= count {
                return Err(ShmError::NoSuchWorker { index, count });
            }
        }
        let (offset, capacity) = self.ring_place(ring);
        let claim = ring.claim_index(producer);
        let control = self
            .map
            .ptr_at::<RingControl>(offset, crate::ring::RING_CONTROL_BYTES + capacity)
            .ok_or_else(|| ShmError::Corrupt {
                path: self.map.path.clone(),
                detail: format!("{} outside the mapping", ring.describe(producer)),
            })?;
        if ring.is_control_end(producer) {
            let locked = self
                .map
                .lock_control_role()
                .map_err(io_err("lock", &self.map.path))?;
            if !locked {
                return Err(ShmError::ControlRoleTaken {
                    path: self.map.path.clone(),
                });
            }
        }
        if !self.map.claim(claim) {
            return Err(ShmError::HandleTaken {
                what: ring.describe(producer),
            });
        }
        Ok((control, capacity, claim))
    }

    fn producer(&self, ring: RingId) -> Result<Producer> {
        let (control, capacity, claim) = self.ring_control(ring, true)?;
        // SAFETY: the control block and data area are in bounds (ptr_at), were
        // initialised by `init` and checked by `check_rings`; we hold the claim.
        Ok(unsafe { Producer::new(self.map.clone(), control, capacity, claim) })
    }

    fn consumer(&self, ring: RingId) -> Result<Consumer> {
        let (control, capacity, claim) = self.ring_control(ring, false)?;
        // SAFETY: as in `producer`.
        Ok(unsafe { Consumer::new(self.map.clone(), control, capacity, claim) })
    }

    /// Control: sends commands to the dataplane main lcore.
    pub fn command_ring_producer(&self) -> Result<Producer> {
        self.producer(RingId::Command)
    }

    /// Dataplane main lcore: receives commands.
    pub fn command_ring_consumer(&self) -> Result<Consumer> {
        self.consumer(RingId::Command)
    }

    /// Dataplane main lcore: sends replies and events to control.
    pub fn reply_ring_producer(&self) -> Result<Producer> {
        self.producer(RingId::Reply)
    }

    /// Control: receives replies and events.
    pub fn reply_ring_consumer(&self) -> Result<Consumer> {
        self.consumer(RingId::Reply)
    }

    /// Dataplane worker `worker`: punts packets to control.
    pub fn punt_ring_producer(&self, worker: usize) -> Result<Producer> {
        self.producer(RingId::Punt(worker))
    }

    /// Control: receives worker `worker`'s punted packets.
    pub fn punt_ring_consumer(&self, worker: usize) -> Result<Consumer> {
        self.consumer(RingId::Punt(worker))
    }

    /// Control: hands packets to dataplane worker 0 for transmission.
    pub fn inject_ring_producer(&self) -> Result<Producer> {
        self.producer(RingId::Inject)
    }

    /// Dataplane worker 0: receives packets to transmit.
    pub fn inject_ring_consumer(&self) -> Result<Consumer> {
        self.consumer(RingId::Inject)
    }

    #[cfg(test)]
    pub(crate) fn header_for_test(&self) -> &Header {
        self.map.header()
    }
}

#[cfg(test)]
#[path = "segment_tests.rs"]
mod tests;
