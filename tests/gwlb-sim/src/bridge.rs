//! `bridge`: GWLB between real Linux hosts and the appliance. Each host lives in its own
//! network namespace behind a TUN device; every IP packet a host sends is wrapped in GENEVE
//! with the three AWS options and sent to the appliance, and every frame that comes back is
//! checked against what was sent and delivered to the TUN owning the inner destination.

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::arp;
use crate::rawsock::RawSocket;
use crate::reflect::Ipv4Net;
use crate::tun::Tun;
use crate::verify;
use crate::wire::{
    self, GwlbMeta, Outer, GENEVE_BASE_LEN, GENEVE_OFFSET, GENEVE_PORT, MAX_INNER, OUTER_IP_OFFSET,
    PROTO_ICMP, PROTO_TCP, PROTO_UDP,
};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// Receive buffer: the largest frame the 9001-byte MTU allows, with room to spare.
const RX_BUFFER: usize = 16 * 1024;
/// Frames awaiting their return at most; beyond it new packets are refused (and counted).
const MAX_PENDING: usize = 1 << 20;
/// Mismatches described in the report.
const LIST_LIMIT: usize = 20;
/// Flows listed with their frames not returned.
const LOST_FLOWS_LIMIT: usize = 200;
/// How long the idle loops wait before looking at the stop flag again.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// One simulated host: a TUN device in a network namespace and the addresses behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSpec {
    pub netns: String,
    pub tun: String,
    pub prefix: Ipv4Net,
}

impl std::str::FromStr for HostSpec {
    type Err = String;
    /// `NETNS:TUN:PREFIX`, e.g. `tgr-cli:tgc0:10.1.0.0/16` ("." for the own namespace).
    fn from_str(s: &str) -> Result<Self, String> {
        let mut parts = s.splitn(3, ':');
        let (Some(netns), Some(tun), Some(prefix)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(format!("bad host {s:?}: expected NETNS:TUN:PREFIX"));
        };
        if netns.is_empty() || tun.is_empty() {
            return Err(format!("bad host {s:?}: empty namespace or TUN name"));
        }
        Ok(HostSpec {
            netns: netns.to_string(),
            tun: tun.to_string(),
            prefix: prefix.parse()?,
        })
    }
}

#[derive(Debug, Clone)]
pub struct BridgeOptions {
    pub iface: String,
    pub appliance: Ipv4Addr,
    pub gwlb_ip: Ipv4Addr,
    pub appliance_mac: Option<[u8; 6]>,
    pub hosts: Vec<HostSpec>,
    pub endpoint_id: u64,
    pub attachment_id: u64,
    /// A frame not back within this long counts as not returned.
    pub return_timeout: Duration,
    /// Stop after this long (default: at SIGINT/SIGTERM).
    pub duration: Option<Duration>,
    /// After stopping, wait this long for frames still on their way.
    pub settle: Duration,
    pub json: Option<PathBuf>,
    /// Mixed into every flow cookie, so that runs differ.
    pub seed: u64,
}

/// The inner 5-tuple of an IPv4 packet; ICMP echo carries its identifier in both ports so
/// that a request and its reply are one flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub src_port: u16,
    pub dst_port: u16,
}

impl FlowKey {
    /// Parses an inner IPv4 packet's addresses and ports; `None` unless it is well-formed.
    pub fn parse(packet: &[u8]) -> Option<FlowKey> {
        let first = *packet.first()?;
        let header_len = usize::from(first & 0x0f) * 4;
        if first >> 4 != 4 || header_len < 20 || packet.len() < header_len {
            return None;
        }
        let total = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
        if total < header_len || total > packet.len() {
            return None;
        }
        let protocol = packet[9];
        let first_fragment = u16::from_be_bytes([packet[6], packet[7]]) & 0x1fff == 0;
        let l4 = &packet[header_len..total];
        let (src_port, dst_port) = match protocol {
            PROTO_TCP | PROTO_UDP if first_fragment && l4.len() >= 4 => (
                u16::from_be_bytes([l4[0], l4[1]]),
                u16::from_be_bytes([l4[2], l4[3]]),
            ),
            PROTO_ICMP if first_fragment && l4.len() >= 8 && (l4[0] == 8 || l4[0] == 0) => {
                let ident = u16::from_be_bytes([l4[4], l4[5]]);
                (ident, ident)
            }
            _ => (0, 0),
        };
        Some(FlowKey {
            src: Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]),
            dst: Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]),
            protocol,
            src_port,
            dst_port,
        })
    }

    /// True for the direction whose (address, port) is the smaller end.
    fn is_forward(&self) -> bool {
        (u32::from(self.src), self.src_port) <= (u32::from(self.dst), self.dst_port)
    }

    /// The same flow seen from its smaller end: equal for both directions.
    fn canonical(&self) -> FlowKey {
        if self.is_forward() {
            *self
        } else {
            FlowKey {
                src: self.dst,
                dst: self.src,
                protocol: self.protocol,
                src_port: self.dst_port,
                dst_port: self.src_port,
            }
        }
    }

    fn hash_with(&self, seed: u64) -> u64 {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        seed.hash(&mut hasher);
        self.hash(&mut hasher);
        hasher.finish()
    }

    /// The GWLB flow cookie: one per flow, the same in both directions.
    pub fn cookie(&self, seed: u64) -> u32 {
        let h = self.canonical().hash_with(seed);
        (h ^ (h >> 32)) as u32
    }

    /// Outer UDP source port: stable per flow, different for its two directions (as GWLB's
    /// are), never 6081, always in 10000..64000.
    pub fn outer_source_port(&self, seed: u64) -> u16 {
        let h = self.canonical().hash_with(seed);
        10_000 + (h % 27_000) as u16 * 2 + u16::from(!self.is_forward())
    }
}

impl std::fmt::Display for FlowKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let protocol = match self.protocol {
            PROTO_TCP => "tcp".to_string(),
            PROTO_UDP => "udp".to_string(),
            PROTO_ICMP => "icmp".to_string(),
            other => format!("proto {other}"),
        };
        write!(
            f,
            "{protocol} {}:{} > {}:{}",
            self.src, self.src_port, self.dst, self.dst_port
        )
    }
}

/// A frame sent to the appliance and not yet back. Its inner packet is the lookup key (by
/// hash), so only the headers are kept.
struct Pending {
    headers: Vec<u8>,
    sent_at: Instant,
    flow: FlowKey,
    /// Position in the order of sending (across all hosts).
    order: u64,
}

fn inner_hash(inner: &[u8]) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    inner.hash(&mut hasher);
    hasher.finish()
}

/// Where the inner packet of a GENEVE frame starts (after the options) and ends (by the
/// outer IPv4 total length).
fn inner_span(frame: &[u8]) -> Option<(usize, usize)> {
    if !verify::is_geneve_reply(frame) {
        return None;
    }
    let start = GENEVE_OFFSET + GENEVE_BASE_LEN + usize::from(frame[GENEVE_OFFSET] & 0x3f) * 4;
    let outer_total = usize::from(u16::from_be_bytes([
        frame[OUTER_IP_OFFSET + 2],
        frame[OUTER_IP_OFFSET + 3],
    ]));
    let end = OUTER_IP_OFFSET + outer_total;
    (start < end && end <= frame.len()).then_some((start, end))
}

/// What became of one returned frame.
#[derive(Debug, PartialEq, Eq)]
enum Returned {
    /// Exactly the hairpin of what was sent (flow, order of sending); deliver it.
    Intact(FlowKey, u64),
    Mismatched(String),
    /// No frame with this inner packet is waiting (never sent, or back after the timeout).
    Unexpected,
    NotGeneve,
}

/// Classifies a frame from the appliance against the frames awaiting return.
fn classify(pending: &mut HashMap<u64, VecDeque<Pending>>, frame: &[u8]) -> Returned {
    let Some((start, end)) = inner_span(frame) else {
        return Returned::NotGeneve;
    };
    let inner = &frame[start..end];
    let key = inner_hash(inner);
    let Some(queue) = pending.get_mut(&key) else {
        return Returned::Unexpected;
    };
    // The sent frame is its headers plus this inner packet (equal by the lookup key).
    let check = |sent: &Pending| {
        let mut expected = sent.headers.clone();
        expected.extend_from_slice(inner);
        verify::verify_hairpin(&expected, frame)
    };
    // Frames with identical inner packets differ in their outer IP ID and may come back
    // in any order: take the one this frame is the hairpin of, else report the oldest.
    let (index, outcome) = match queue.iter().position(|sent| check(sent).is_ok()) {
        Some(index) => (index, Ok(())),
        None => match queue.front() {
            Some(oldest) => (0, check(oldest)),
            None => return Returned::Unexpected,
        },
    };
    let Some(sent) = queue.remove(index) else {
        return Returned::Unexpected;
    };
    if queue.is_empty() {
        pending.remove(&key);
    }
    match outcome {
        Ok(()) => Returned::Intact(sent.flow, sent.order),
        Err(mismatch) => Returned::Mismatched(format!("{}: {mismatch}", sent.flow)),
    }
}

/// Counters the TUN readers fill.
#[derive(Default)]
struct SendCounters {
    sent: AtomicU64,
    sent_bytes: AtomicU64,
    unroutable: AtomicU64,
    oversize: AtomicU64,
    not_ipv4: AtomicU64,
    pending_full: AtomicU64,
    /// Frames handed to the socket so far: the next frame's order.
    order: AtomicU64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LostFlow {
    pub flow: String,
    pub protocol: u8,
    pub dst_port: u16,
    pub frames: u64,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct BridgeReport {
    pub hosts: Vec<String>,
    /// Inner packets read from the TUN devices and sent to the appliance.
    pub sent: u64,
    pub sent_bytes: u64,
    /// GENEVE frames received from the appliance.
    pub returned: u64,
    /// Returned intact and written to the destination's TUN.
    pub delivered: u64,
    pub delivered_bytes: u64,
    /// Returned with a header, option or length that differs from what was sent.
    pub mismatched: u64,
    /// Returned but matching no frame awaiting return.
    pub unexpected: u64,
    /// Delivered after a later-sent packet of the same flow direction.
    pub reordered: u64,
    /// Sent but not back within the return timeout (or by the end).
    pub not_returned: u64,
    /// Inner destination behind no TUN (not sent).
    pub unroutable: u64,
    /// Inner packet larger than GWLB carries (not sent).
    pub oversize: u64,
    /// Not an IPv4 packet (not sent).
    pub not_ipv4: u64,
    /// Refused because too many frames awaited return.
    pub pending_full: u64,
    pub tun_write_errors: u64,
    /// Frames from the appliance the kernel dropped before the bridge read them (socket
    /// buffer full).
    pub socket_drops: u64,
    pub mismatches: Vec<String>,
    /// Flows with frames not returned, most frames first.
    pub not_returned_flows: Vec<LostFlow>,
    pub duration_s: f64,
    pub passed: bool,
}

impl BridgeReport {
    pub fn print(&self) {
        println!(
            "bridge: sent {} ({} bytes), returned {}, delivered {} ({} bytes), mismatched {}, unexpected {}, reordered {}, not returned {}, unroutable {}, oversize {}, not ipv4 {}, pending full {}, tun write errors {}, socket drops {} in {:.1} s",
            self.sent,
            self.sent_bytes,
            self.returned,
            self.delivered,
            self.delivered_bytes,
            self.mismatched,
            self.unexpected,
            self.reordered,
            self.not_returned,
            self.unroutable,
            self.oversize,
            self.not_ipv4,
            self.pending_full,
            self.tun_write_errors,
            self.socket_drops,
            self.duration_s
        );
        for m in &self.mismatches {
            println!("  mismatch: {m}");
        }
        for lost in self.not_returned_flows.iter().take(LIST_LIMIT) {
            println!("  not returned: {} x{}", lost.flow, lost.frames);
        }
        println!("bridge: {}", if self.passed { "PASS" } else { "FAIL" });
    }
}

/// Index of the host whose prefix holds `dst`.
fn route(hosts: &[HostSpec], dst: Ipv4Addr) -> Option<usize> {
    hosts.iter().position(|h| h.prefix.contains(dst))
}

/// Everything a TUN reader needs to turn an inner packet into a GWLB frame.
struct Encap {
    gwlb_mac: [u8; 6],
    appliance_mac: [u8; 6],
    gwlb_ip: Ipv4Addr,
    appliance: Ipv4Addr,
    endpoint_id: u64,
    attachment_id: u64,
    seed: u64,
    ip_id: AtomicU16,
}

impl Encap {
    fn frame(&self, flow: &FlowKey, inner: &[u8]) -> Result<Vec<u8>, wire::BuildError> {
        let outer = Outer {
            src_mac: self.gwlb_mac,
            dst_mac: self.appliance_mac,
            src_ip: self.gwlb_ip,
            dst_ip: self.appliance,
            ip_id: self.ip_id.fetch_add(1, Ordering::Relaxed),
            ttl: 64,
            udp_src_port: flow.outer_source_port(self.seed),
            udp_dst_port: GENEVE_PORT,
        };
        let meta = GwlbMeta {
            endpoint_id: self.endpoint_id,
            attachment_id: self.attachment_id,
            flow_cookie: flow.cookie(self.seed),
        };
        wire::encapsulate(&outer, &meta.options(), inner)
    }
}

/// Reads packets from one host's TUN and sends them to the appliance until told to stop.
fn pump(
    tun: &Tun,
    hosts: &[HostSpec],
    encap: &Encap,
    socket: &RawSocket,
    pending: &Mutex<HashMap<u64, VecDeque<Pending>>>,
    counters: &SendCounters,
    stop: &AtomicBool,
) -> Result<(), String> {
    let mut buf = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::Relaxed) {
        let Some(len) = tun.read(&mut buf).map_err(|e| e.to_string())? else {
            tun.wait_readable(POLL_INTERVAL)
                .map_err(|e| e.to_string())?;
            continue;
        };
        let inner = &buf[..len];
        let Some(flow) = FlowKey::parse(inner) else {
            counters.not_ipv4.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        if route(hosts, flow.dst).is_none() {
            counters.unroutable.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        if inner.len() > MAX_INNER {
            counters.oversize.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let frame = encap.frame(&flow, inner).map_err(|e| e.to_string())?;
        {
            let mut table = pending.lock().unwrap_or_else(|e| e.into_inner());
            if table.len() >= MAX_PENDING {
                counters.pending_full.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            // Recorded before sending: the answer may be back before send() returns.
            table
                .entry(inner_hash(inner))
                .or_default()
                .push_back(Pending {
                    headers: frame[..frame.len() - inner.len()].to_vec(),
                    sent_at: Instant::now(),
                    flow,
                    // One reader sends all of a flow direction: its order of sending.
                    order: counters.order.fetch_add(1, Ordering::Relaxed),
                });
        }
        socket.send(&frame).map_err(|e| e.to_string())?;
        counters.sent.fetch_add(1, Ordering::Relaxed);
        counters
            .sent_bytes
            .fetch_add(inner.len() as u64, Ordering::Relaxed);
    }
    Ok(())
}

/// Removes frames older than `timeout` (all of them with `None`), tallying them per flow.
fn expire(
    pending: &mut HashMap<u64, VecDeque<Pending>>,
    timeout: Option<Duration>,
    lost: &mut HashMap<FlowKey, u64>,
) -> u64 {
    let now = Instant::now();
    let mut expired = 0;
    pending.retain(|_, queue| {
        queue.retain(|p| {
            let keep = timeout.is_some_and(|t| now.duration_since(p.sent_at) < t);
            if !keep {
                expired += 1;
                *lost.entry(p.flow).or_default() += 1;
            }
            keep
        });
        !queue.is_empty()
    });
    expired
}

pub fn bridge(opts: BridgeOptions) -> Result<BridgeReport, String> {
    if opts.hosts.is_empty() {
        return Err("at least one --host is needed".into());
    }
    let socket = RawSocket::open(&opts.iface).map_err(|e| e.to_string())?;
    socket.ignore_outgoing().map_err(|e| e.to_string())?;
    let _absorber = crate::run::absorb_replies(opts.gwlb_ip);
    let appliance_mac = match opts.appliance_mac {
        Some(mac) => mac,
        None => arp::resolve(&socket, opts.gwlb_ip, opts.appliance).map_err(|e| e.to_string())?,
    };
    socket
        .set_read_timeout(POLL_INTERVAL)
        .map_err(|e| e.to_string())?;
    let tuns = opts
        .hosts
        .iter()
        .map(|h| Tun::create_in(&h.netns, &h.tun).map_err(|e| e.to_string()))
        .collect::<Result<Vec<Tun>, String>>()?;
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { libc::signal(signal, on_signal as *const () as libc::sighandler_t) };
    }
    let encap = Encap {
        gwlb_mac: socket.mac,
        appliance_mac,
        gwlb_ip: opts.gwlb_ip,
        appliance: opts.appliance,
        endpoint_id: opts.endpoint_id,
        attachment_id: opts.attachment_id,
        seed: opts.seed,
        ip_id: AtomicU16::new(opts.seed as u16),
    };
    let hosts: Vec<String> = opts
        .hosts
        .iter()
        .map(|h| {
            format!(
                "{} in {} ({}/{})",
                h.tun, h.netns, h.prefix.addr, h.prefix.len
            )
        })
        .collect();
    // Counted from here on: drops while resolving the appliance are no loss of traffic.
    socket.take_drops().map_err(|e| e.to_string())?;
    println!(
        "bridge: ready: {} via {} to appliance {} ({})",
        hosts.join(", "),
        opts.iface,
        opts.appliance,
        crate::rawsock::format_mac(&appliance_mac)
    );

    let pending: Mutex<HashMap<u64, VecDeque<Pending>>> = Mutex::new(HashMap::new());
    let counters = SendCounters::default();
    let pumps_stop = AtomicBool::new(false);
    let mut report = BridgeReport {
        hosts,
        ..Default::default()
    };
    let mut lost: HashMap<FlowKey, u64> = HashMap::new();
    let mut last_delivered: HashMap<FlowKey, u64> = HashMap::new();
    let start = Instant::now();

    let pump_error = std::thread::scope(|scope| {
        let workers: Vec<_> = tuns
            .iter()
            .map(|tun| {
                let (hosts, encap, socket) = (&opts.hosts, &encap, &socket);
                let (pending, counters, stop) = (&pending, &counters, &pumps_stop);
                scope.spawn(move || pump(tun, hosts, encap, socket, pending, counters, stop))
            })
            .collect();
        let mut buf = vec![0u8; RX_BUFFER];
        let mut last_expiry = Instant::now();
        let mut stopped_at: Option<Instant> = None;
        let mut error = None;
        loop {
            let stopping = STOP.load(Ordering::Relaxed)
                || opts.duration.is_some_and(|d| start.elapsed() >= d)
                || workers.iter().any(|w| w.is_finished());
            if stopping && stopped_at.is_none() {
                pumps_stop.store(true, Ordering::Relaxed);
                stopped_at = Some(Instant::now());
            }
            if let Some(t) = stopped_at {
                let drained = pending.lock().unwrap_or_else(|e| e.into_inner()).is_empty();
                if drained || t.elapsed() >= opts.settle {
                    break;
                }
            }
            if last_expiry.elapsed() >= POLL_INTERVAL {
                last_expiry = Instant::now();
                let mut table = pending.lock().unwrap_or_else(|e| e.into_inner());
                report.not_returned += expire(&mut table, Some(opts.return_timeout), &mut lost);
            }
            let (len, _) = match socket.recv(&mut buf) {
                Ok(Some(got)) => got,
                Ok(None) => continue,
                Err(e) => {
                    error = Some(e.to_string());
                    break;
                }
            };
            let frame = &buf[..len.min(buf.len())];
            let outcome = classify(
                &mut pending.lock().unwrap_or_else(|e| e.into_inner()),
                frame,
            );
            if outcome != Returned::NotGeneve {
                report.returned += 1;
            }
            match outcome {
                Returned::Intact(flow, order) => {
                    let last = last_delivered.entry(flow).or_insert(order);
                    if order < *last {
                        report.reordered += 1;
                    } else {
                        *last = order;
                    }
                    let (start, end) = inner_span(frame).unwrap_or((0, 0));
                    let inner = &frame[start..end];
                    let Some(host) = route(&opts.hosts, flow.dst) else {
                        continue;
                    };
                    match tuns[host].write(inner) {
                        Ok(()) => {
                            report.delivered += 1;
                            report.delivered_bytes += inner.len() as u64;
                        }
                        Err(e) => {
                            if report.tun_write_errors == 0 {
                                eprintln!("bridge: {e}");
                            }
                            report.tun_write_errors += 1;
                        }
                    }
                }
                Returned::Mismatched(what) => {
                    report.mismatched += 1;
                    if report.mismatches.len() < LIST_LIMIT {
                        report.mismatches.push(what);
                    }
                }
                Returned::Unexpected => report.unexpected += 1,
                Returned::NotGeneve => {}
            }
        }
        pumps_stop.store(true, Ordering::Relaxed);
        for worker in workers {
            match worker.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => error = error.or(Some(e)),
                Err(_) => error = error.or(Some("a TUN reader panicked".into())),
            }
        }
        error
    });

    let mut table = pending.lock().unwrap_or_else(|e| e.into_inner());
    report.not_returned += expire(&mut table, None, &mut lost);
    report.sent = counters.sent.load(Ordering::Relaxed);
    report.sent_bytes = counters.sent_bytes.load(Ordering::Relaxed);
    report.unroutable = counters.unroutable.load(Ordering::Relaxed);
    report.oversize = counters.oversize.load(Ordering::Relaxed);
    report.not_ipv4 = counters.not_ipv4.load(Ordering::Relaxed);
    report.pending_full = counters.pending_full.load(Ordering::Relaxed);
    report.socket_drops = socket.take_drops().map_err(|e| e.to_string())?;
    let mut lost: Vec<(FlowKey, u64)> = lost.into_iter().collect();
    lost.sort_by_key(|l| std::cmp::Reverse(l.1));
    report.not_returned_flows = lost
        .into_iter()
        .take(LOST_FLOWS_LIMIT)
        .map(|(flow, frames)| LostFlow {
            flow: flow.to_string(),
            protocol: flow.protocol,
            dst_port: flow.dst_port,
            frames,
        })
        .collect();
    report.duration_s = start.elapsed().as_secs_f64();
    report.passed = pump_error.is_none()
        && report.mismatched == 0
        && report.unexpected == 0
        && report.tun_write_errors == 0
        && report.pending_full == 0;
    if let Some(path) = &opts.json {
        crate::report::write_json(path, &report).map_err(|e| e.to_string())?;
    }
    if let Some(e) = pump_error {
        report.print();
        return Err(e);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checksum;

    fn ipv4_tcp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let l4 = wire::L4::Tcp {
            src_port: sport,
            dst_port: dport,
            seq: 1,
            ack: 0,
            flags: wire::TCP_SYN,
        };
        wire::inner_packet(
            Ipv4Addr::from(src).into(),
            Ipv4Addr::from(dst).into(),
            &l4,
            payload,
            7,
            0,
        )
        .unwrap()
    }

    fn encap() -> Encap {
        Encap {
            gwlb_mac: [2, 0, 0, 0, 0, 0x60],
            appliance_mac: [2, 0, 0, 0, 0, 1],
            gwlb_ip: Ipv4Addr::new(10, 254, 11, 60),
            appliance: Ipv4Addr::new(10, 254, 11, 101),
            endpoint_id: 0x0123_4567_89ab_cdef,
            attachment_id: 0,
            seed: 42,
            ip_id: AtomicU16::new(1),
        }
    }

    fn remember(pending: &mut HashMap<u64, VecDeque<Pending>>, frame: &[u8], inner: &[u8]) {
        pending
            .entry(inner_hash(inner))
            .or_default()
            .push_back(Pending {
                headers: frame[..frame.len() - inner.len()].to_vec(),
                sent_at: Instant::now(),
                flow: FlowKey::parse(inner).unwrap(),
                order: 0,
            });
    }

    #[test]
    fn host_specs_parse() {
        let h: HostSpec = "tgr-cli:tgc0:10.1.0.0/16".parse().unwrap();
        assert_eq!((h.netns.as_str(), h.tun.as_str()), ("tgr-cli", "tgc0"));
        assert!(h.prefix.contains(Ipv4Addr::new(10, 1, 11, 10)));
        assert!(!h.prefix.contains(Ipv4Addr::new(10, 2, 11, 10)));
        assert!("tgr-cli:tgc0".parse::<HostSpec>().is_err());
        assert!(":tgc0:10.1.0.0/16".parse::<HostSpec>().is_err());
        assert!("ns:tgc0:10.1.0.0/33".parse::<HostSpec>().is_err());
    }

    #[test]
    fn flow_keys_of_tcp_udp_and_echo() {
        let tcp = ipv4_tcp([10, 1, 11, 10], [10, 2, 22, 20], 40000, 80, b"abc");
        let key = FlowKey::parse(&tcp).unwrap();
        assert_eq!(
            key.to_string(),
            "tcp 10.1.11.10:40000 > 10.2.22.20:80",
            "{key:?}"
        );
        let echo = |request| {
            wire::inner_packet(
                Ipv4Addr::new(10, 1, 11, 10).into(),
                Ipv4Addr::new(10, 2, 22, 20).into(),
                &wire::L4::Echo {
                    request,
                    ident: 77,
                    seq: 1,
                },
                b"",
                1,
                0,
            )
            .unwrap()
        };
        let ping = FlowKey::parse(&echo(true)).unwrap();
        assert_eq!((ping.src_port, ping.dst_port), (77, 77));
        // Truncated or non-IPv4 input is refused, never read past its end.
        assert_eq!(FlowKey::parse(&tcp[..19]), None);
        assert_eq!(FlowKey::parse(&tcp[..tcp.len() - 1]), None);
        let mut v6 = tcp.clone();
        v6[0] = 0x60;
        assert_eq!(FlowKey::parse(&v6), None);
        assert_eq!(FlowKey::parse(&[]), None);
    }

    #[test]
    fn cookie_is_per_flow_and_ports_differ_per_direction() {
        let a =
            FlowKey::parse(&ipv4_tcp([10, 1, 11, 10], [10, 2, 22, 20], 40000, 80, b"")).unwrap();
        let b =
            FlowKey::parse(&ipv4_tcp([10, 2, 22, 20], [10, 1, 11, 10], 80, 40000, b"")).unwrap();
        let other =
            FlowKey::parse(&ipv4_tcp([10, 1, 11, 10], [10, 2, 22, 20], 40001, 80, b"")).unwrap();
        assert_eq!(a.cookie(9), b.cookie(9));
        assert_ne!(a.cookie(9), other.cookie(9));
        assert_ne!(a.cookie(9), a.cookie(10), "the seed changes cookies");
        let (pa, pb) = (a.outer_source_port(9), b.outer_source_port(9));
        assert_ne!(pa, pb);
        assert_eq!(
            pa / 2,
            pb / 2,
            "the two directions share a flow's port pair"
        );
        for port in [pa, pb, other.outer_source_port(9)] {
            assert!((10_000..64_000).contains(&port) && port != GENEVE_PORT);
        }
    }

    #[test]
    fn intact_return_is_delivered_and_damage_is_named() {
        let encap = encap();
        let inner = ipv4_tcp([10, 1, 11, 10], [10, 2, 22, 20], 40000, 80, b"payload");
        let frame = encap
            .frame(&FlowKey::parse(&inner).unwrap(), &inner)
            .unwrap();
        assert!(checksum::verifies(
            &frame[OUTER_IP_OFFSET..OUTER_IP_OFFSET + 20]
        ));
        let mut pending = HashMap::new();

        remember(&mut pending, &frame, &inner);
        let returned = wire::hairpin(&frame);
        assert_eq!(
            inner_span(&returned),
            Some((frame.len() - inner.len(), frame.len()))
        );
        assert!(matches!(
            classify(&mut pending, &returned),
            Returned::Intact(..)
        ));
        assert!(pending.is_empty());
        // The same frame again: nothing awaits it any more.
        assert_eq!(classify(&mut pending, &returned), Returned::Unexpected);

        // A changed flow cookie (last option byte) is a mismatch in the GENEVE options.
        remember(&mut pending, &frame, &inner);
        let mut bad = wire::hairpin(&frame);
        bad[frame.len() - inner.len() - 1] ^= 1;
        match classify(&mut pending, &bad) {
            Returned::Mismatched(what) => assert!(what.contains("geneve-options"), "{what}"),
            other => panic!("{other:?}"),
        }

        // Not swapped outer addresses: the appliance sent it back to itself.
        remember(&mut pending, &frame, &inner);
        match classify(&mut pending, &frame) {
            Returned::Mismatched(what) => assert!(what.contains("ethernet"), "{what}"),
            other => panic!("{other:?}"),
        }

        // A changed inner byte finds no frame to match.
        remember(&mut pending, &frame, &inner);
        let mut changed = wire::hairpin(&frame);
        *changed.last_mut().unwrap() ^= 1;
        assert_eq!(classify(&mut pending, &changed), Returned::Unexpected);
        assert_eq!(classify(&mut pending, &frame[..40]), Returned::NotGeneve);
    }

    #[test]
    fn identical_inner_packets_may_come_back_in_any_order() {
        // Real hosts send some byte-identical packets; only the outer IP ID tells their
        // frames apart, and the appliance need not keep their order.
        let encap = encap();
        let inner = ipv4_tcp([10, 1, 11, 10], [10, 2, 22, 20], 40000, 80, b"");
        let flow = FlowKey::parse(&inner).unwrap();
        let first = encap.frame(&flow, &inner).unwrap();
        let second = encap.frame(&flow, &inner).unwrap();
        assert_ne!(first, second);
        let mut pending = HashMap::new();
        remember(&mut pending, &first, &inner);
        remember(&mut pending, &second, &inner);
        for frame in [&second, &first] {
            assert_eq!(
                classify(&mut pending, &wire::hairpin(frame)),
                Returned::Intact(flow, 0)
            );
        }
        assert!(pending.is_empty());
    }

    #[test]
    fn expiry_counts_per_flow() {
        let encap = encap();
        let inner = ipv4_tcp([10, 1, 11, 10], [10, 2, 22, 20], 40000, 8080, b"");
        let frame = encap
            .frame(&FlowKey::parse(&inner).unwrap(), &inner)
            .unwrap();
        let mut pending = HashMap::new();
        remember(&mut pending, &frame, &inner);
        remember(&mut pending, &frame, &inner);
        let mut lost = HashMap::new();
        assert_eq!(
            expire(&mut pending, Some(Duration::from_secs(60)), &mut lost),
            0
        );
        assert_eq!(expire(&mut pending, None, &mut lost), 2);
        assert!(pending.is_empty());
        assert_eq!(lost.values().copied().collect::<Vec<_>>(), vec![2]);
    }

    #[test]
    fn route_picks_the_owning_host() {
        let hosts: Vec<HostSpec> = ["a:t0:10.1.0.0/16", "b:t1:10.2.0.0/16"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(route(&hosts, Ipv4Addr::new(10, 2, 22, 20)), Some(1));
        assert_eq!(route(&hosts, Ipv4Addr::new(10, 1, 11, 10)), Some(0));
        assert_eq!(route(&hosts, Ipv4Addr::new(10, 3, 0, 1)), None);
    }
}
