//! The health responder: a smoltcp TCP/IP stack that sees only the frames
//! the dataplane punts to the appliance address and whose output goes back
//! through the inject ring. A pool of TCP sockets listens on the health port.
//!
//! smoltcp runs on bare IP; the responder does the Ethernet layer: an
//! answer leaves towards the MAC its destination's last frame came from
//! (the VPC router on AWS), so no ARP is ever needed. Its neighbour table
//! is bounded and never evicts the address of a connection in the pool:
//! a flood from many addresses cannot strand a GWLB node's check. The
//! interface address is configured as /0 so that every sender is on-link.
//!
//! The pool is bounded too and a new check always gets a socket: when
//! none is listening, the oldest half-open connection is recycled, else
//! the oldest established one that has not sent its request, else the
//! oldest answered one still closing; connections younger than a grace
//! period go last. Every connection also has a deadline.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use smoltcp::iface::{Config as IfaceConfig, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{Checksum, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration as SmolDuration, Instant as SmolInstant};
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, IpEndpoint};
use tollgate_wire::ipv4::protocol;

use crate::config::HealthProtocol;
use crate::health_state::Health;
use crate::http_check;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHER_HEADER: usize = 14;
/// Frames larger than a standard Ethernet frame are not health checks.
const MAX_FRAME: usize = 1514;
const SOCKET_BUFFER: usize = 4096;
/// A connection idle this long is dropped (smoltcp sends RST).
const CONNECTION_TIMEOUT_MS: u64 = 10_000;
/// Addresses whose MAC the responder remembers at most; well above the
/// pool (at most 256 sockets), whose peers are never evicted.
pub(crate) const MAX_NEIGHBOURS: usize = 4096;

/// What the responder serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponderConfig {
    pub protocol: HealthProtocol,
    pub port: u16,
    pub path: String,
    pub sockets: usize,
}

/// Counts since the responder was created (per dataplane attach).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResponderStats {
    pub frames_in: u64,
    pub frames_ignored: u64,
    pub frames_out: u64,
    pub tcp_accepted: u64,
    pub http_ok: u64,
    pub http_unavailable: u64,
    pub http_other: u64,
    /// Connections dropped half-open or past their deadline.
    pub connections_expired: u64,
    /// Connections recycled for a new one while the pool was full: SYN
    /// answered but never acknowledged...
    pub recycled_half_open: u64,
    /// ...established, no request yet...
    pub recycled_idle: u64,
    /// ...answered, still closing.
    pub recycled_answered: u64,
    /// Neighbour entries (address to MAC) forgotten to make room.
    pub neighbours_evicted: u64,
    /// Frames not sent: no MAC known for their destination.
    pub frames_unaddressed: u64,
}

/// IPv4 packets in (punted) and out (to inject) for smoltcp.
#[derive(Default)]
struct FrameQueue {
    rx: VecDeque<Vec<u8>>,
    tx: Vec<Vec<u8>>,
}

struct RxFrame(Vec<u8>);
struct TxFrame<'a>(&'a mut Vec<Vec<u8>>);

impl smoltcp::phy::RxToken for RxFrame {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl smoltcp::phy::TxToken for TxFrame<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0u8; len];
        let result = f(&mut frame);
        self.0.push(frame);
        result
    }
}

impl Device for FrameQueue {
    type RxToken<'a> = RxFrame;
    type TxToken<'a> = TxFrame<'a>;

    fn receive(&mut self, _now: SmolInstant) -> Option<(RxFrame, TxFrame<'_>)> {
        let frame = self.rx.pop_front()?;
        Some((RxFrame(frame), TxFrame(&mut self.tx)))
    }

    fn transmit(&mut self, _now: SmolInstant) -> Option<TxFrame<'_>> {
        Some(TxFrame(&mut self.tx))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = MAX_FRAME - ETHER_HEADER;
        caps.max_burst_size = None;
        // Punted frames from veth or virtio peers may carry the partial TCP
        // checksum of checksum offload; compute ours, do not verify theirs.
        caps.checksum.tcp = Checksum::Tx;
        caps
    }
}

/// A half-open connection (SYN answered, no ACK) is dropped after this, so
/// spoofed SYNs cannot hold the pool for smoltcp's full retransmission time.
const HALF_OPEN_MS: i64 = 1_000;
/// Any connection is dropped this long after its SYN (GWLB's check timeout
/// is 2-120 s; a check that has not finished by now has failed anyway).
const CONNECTION_DEADLINE_MS: i64 = 5_000;

/// Per-connection HTTP progress.
#[derive(Default)]
struct Connection {
    request: Vec<u8>,
    answered: bool,
    /// When the socket left LISTEN (responder clock, ms).
    opened_ms: Option<i64>,
}

/// Why a connection was recycled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Recycle {
    HalfOpen,
    Idle,
    Answered,
}

/// A connection younger than this may be a check between its packets (a
/// round trip and control's polling); it goes only after every older one,
/// else a stream of new SYNs would recycle each other's checks.
const RECYCLE_GRACE_MS: i64 = 250;

pub struct HealthResponder {
    config: ResponderConfig,
    mac: [u8; 6],
    ip: Ipv4Addr,
    iface: Interface,
    device: FrameQueue,
    sockets: SocketSet<'static>,
    slots: Vec<(SocketHandle, Connection)>,
    /// Address to (MAC, when last seen in ms).
    neighbours: HashMap<Ipv4Addr, ([u8; 6], i64)>,
    stats: ResponderStats,
}

fn new_socket() -> tcp::Socket<'static> {
    let mut socket = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; SOCKET_BUFFER]),
        tcp::SocketBuffer::new(vec![0; SOCKET_BUFFER]),
    );
    socket.set_timeout(Some(SmolDuration::from_millis(CONNECTION_TIMEOUT_MS)));
    socket
}

impl HealthResponder {
    /// A stack answering as `ip`/`mac` (from `Segment::identity`).
    pub fn new(ip: [u8; 4], mac: [u8; 6], config: ResponderConfig, now_ms: i64) -> HealthResponder {
        let mut device = FrameQueue::default();
        let mut iface_config = IfaceConfig::new(HardwareAddress::Ip);
        // The seed picks TCP initial sequence numbers: one an outsider can
        // guess (the start time) would let them inject into a check's
        // connection. The clock only if the kernel has no random source.
        iface_config.random_seed = getrandom::u64()
            .unwrap_or_else(|_| tollgate_shm::realtime_ns() ^ u64::from(std::process::id()));
        let mut iface = Interface::new(iface_config, &mut device, SmolInstant::from_millis(now_ms));
        let ip = Ipv4Addr::from(ip);
        iface.update_ip_addrs(|addrs| {
            // Cannot fail: the list is empty and holds at least one address.
            let _ = addrs.push(IpCidr::new(IpAddress::Ipv4(ip), 0));
        });
        let mut sockets = SocketSet::new(Vec::new());
        let slots = (0..config.sockets)
            .map(|_| (sockets.add(new_socket()), Connection::default()))
            .collect();
        HealthResponder {
            config,
            mac,
            ip,
            iface,
            device,
            sockets,
            slots,
            neighbours: HashMap::new(),
            stats: ResponderStats::default(),
        }
    }

    pub fn identity(&self) -> ([u8; 4], [u8; 6]) {
        (self.ip.octets(), self.mac)
    }

    pub fn stats(&self) -> &ResponderStats {
        &self.stats
    }

    /// Queues one punted Ethernet frame for the next [`Self::poll`].
    pub fn receive_frame(&mut self, frame: &[u8], now_ms: i64) {
        self.stats.frames_in += 1;
        let is_ipv4 = frame.len() >= ETHER_HEADER + 20
            && frame.len() <= MAX_FRAME
            && u16::from_be_bytes([frame[12], frame[13]]) == ETHERTYPE_IPV4
            && frame[ETHER_HEADER] >> 4 == 4;
        if !is_ipv4 {
            self.stats.frames_ignored += 1;
            return;
        }
        let mut src_mac = [0u8; 6];
        src_mac.copy_from_slice(&frame[6..12]);
        let at = ETHER_HEADER + 12;
        let src_ip = Ipv4Addr::new(frame[at], frame[at + 1], frame[at + 2], frame[at + 3]);
        let unicast_mac = src_mac[0] & 1 == 0 && src_mac != [0; 6];
        if !unicast_mac || src_ip.is_unspecified() || src_ip.is_broadcast() || src_ip.is_multicast()
        {
            // Nothing could be sent back to it.
            self.stats.frames_ignored += 1;
            return;
        }
        // The stack's address is a /0 (it has no routes to choose from), so
        // it would answer for any destination, broadcast and multicast too.
        if frame[ETHER_HEADER + 16..ETHER_HEADER + 20] != self.ip.octets() {
            self.stats.frames_ignored += 1;
            return;
        }
        self.learn(src_ip, src_mac, now_ms);
        self.device.rx.push_back(frame[ETHER_HEADER..].to_vec());
    }

    fn learn(&mut self, ip: Ipv4Addr, mac: [u8; 6], now_ms: i64) {
        if self.neighbours.len() >= MAX_NEIGHBOURS && !self.neighbours.contains_key(&ip) {
            self.evict_neighbours();
        }
        self.neighbours.insert(ip, (mac, now_ms));
    }

    /// Forgets the older half of the neighbours that no connection in the
    /// pool talks to (amortised: one sort per `MAX_NEIGHBOURS / 2` senders).
    fn evict_neighbours(&mut self) {
        let in_pool: HashSet<Ipv4Addr> = self
            .slots
            .iter()
            .filter_map(|(handle, _)| self.sockets.get::<tcp::Socket>(*handle).remote_endpoint())
            .map(|e| match e.addr {
                IpAddress::Ipv4(a) => a,
            })
            .collect();
        let mut idle: Vec<(i64, Ipv4Addr)> = self
            .neighbours
            .iter()
            .filter(|(ip, _)| !in_pool.contains(ip))
            .map(|(ip, (_, seen))| (*seen, *ip))
            .collect();
        idle.sort_unstable();
        let forget = idle.len().div_ceil(2);
        for (_, ip) in &idle[..forget] {
            self.neighbours.remove(ip);
        }
        self.stats.neighbours_evicted += forget as u64;
    }

    #[cfg(test)]
    pub(crate) fn neighbour_count(&self) -> usize {
        self.neighbours.len()
    }

    /// Runs the stack: serves the sockets against `health` and returns the
    /// frames to inject.
    pub fn poll(&mut self, now_ms: i64, health: &Health) -> Vec<Vec<u8>> {
        let now = SmolInstant::from_millis(now_ms);
        // Listen (or stop) before the new frames meet the sockets.
        let listen = self.serve(health, now_ms);
        // One packet at a time, so that each new connection finds a socket.
        while let Some(packet) = self.device.rx.front() {
            let syn = new_syn(packet, self.config.port);
            if let Some(remote) = syn.filter(|_| listen) {
                self.make_room(remote, now_ms);
            }
            self.iface
                .poll_ingress_single(now, &mut self.device, &mut self.sockets);
            if syn.is_some() {
                self.mark_opened(now_ms);
            }
        }
        self.iface
            .poll_egress(now, &mut self.device, &mut self.sockets);
        self.serve(health, now_ms);
        self.iface.poll(now, &mut self.device, &mut self.sockets);
        let packets = std::mem::take(&mut self.device.tx);
        let mut out = Vec::with_capacity(packets.len());
        for packet in packets {
            match self.frame(&packet) {
                Some(frame) => out.push(frame),
                None => self.stats.frames_unaddressed += 1,
            }
        }
        self.stats.frames_out += out.len() as u64;
        out
    }

    /// `packet` (IPv4, from smoltcp) in an Ethernet frame to the MAC its
    /// destination last sent from; `None` if that is not known.
    fn frame(&self, packet: &[u8]) -> Option<Vec<u8>> {
        let dst = packet.get(16..20)?;
        let dst = Ipv4Addr::new(dst[0], dst[1], dst[2], dst[3]);
        let (mac, _) = self.neighbours.get(&dst)?;
        let mut frame = Vec::with_capacity(ETHER_HEADER + packet.len());
        frame.extend_from_slice(mac);
        frame.extend_from_slice(&self.mac);
        frame.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        frame.extend_from_slice(packet);
        Some(frame)
    }

    /// Makes sure a socket listens for a SYN from `remote`, recycling the
    /// connection the pool misses least if none does.
    fn make_room(&mut self, remote: IpEndpoint, now_ms: i64) {
        // (rank, opened, index, kind): the least rank, then the oldest.
        let mut victim: Option<(u8, i64, usize, Recycle)> = None;
        for (index, (handle, conn)) in self.slots.iter().enumerate() {
            let socket = self.sockets.get::<tcp::Socket>(*handle);
            let kind = match socket.state() {
                tcp::State::Listen => return,
                // A retransmitted SYN: its connection has a socket already.
                _ if socket.remote_endpoint() == Some(remote) => return,
                // Free already: no recycling to count.
                tcp::State::Closed => {
                    victim = Some((0, i64::MIN, index, Recycle::HalfOpen));
                    continue;
                }
                tcp::State::SynReceived => Recycle::HalfOpen,
                tcp::State::Established | tcp::State::CloseWait if !conn.answered => Recycle::Idle,
                _ => Recycle::Answered,
            };
            let opened = conn.opened_ms.unwrap_or(now_ms);
            let rank = match kind {
                _ if now_ms - opened < RECYCLE_GRACE_MS => 4,
                Recycle::HalfOpen => 1,
                Recycle::Idle => 2,
                Recycle::Answered => 3,
            };
            let candidate = (rank, opened, index, kind);
            if victim.is_none_or(|v| (rank, opened) < (v.0, v.1)) {
                victim = Some(candidate);
            }
        }
        let Some((_, opened, index, kind)) = victim else {
            return;
        };
        if opened != i64::MIN {
            match kind {
                Recycle::HalfOpen => self.stats.recycled_half_open += 1,
                Recycle::Idle => self.stats.recycled_idle += 1,
                Recycle::Answered => self.stats.recycled_answered += 1,
            }
        }
        self.replace(index, true);
    }

    /// Stamps connections that have just left LISTEN with their start.
    fn mark_opened(&mut self, now_ms: i64) {
        for (handle, conn) in &mut self.slots {
            if conn.opened_ms.is_none()
                && !matches!(
                    self.sockets.get::<tcp::Socket>(*handle).state(),
                    tcp::State::Closed | tcp::State::Listen
                )
            {
                conn.opened_ms = Some(now_ms);
            }
        }
    }

    /// Milliseconds until smoltcp needs a poll for its timers, if any.
    pub fn poll_delay_ms(&mut self, now_ms: i64) -> Option<u64> {
        self.iface
            .poll_delay(SmolInstant::from_millis(now_ms), &self.sockets)
            .map(|d| d.total_millis())
    }

    /// Expires, relistens and answers; returns whether the pool listens.
    fn serve(&mut self, health: &Health, now_ms: i64) -> bool {
        // TCP checks: refuse (RST from smoltcp) by not listening at all.
        let listen = self.config.protocol == HealthProtocol::Http || health.healthy;
        for index in 0..self.slots.len() {
            let handle = self.slots[index].0;
            let socket = self.sockets.get_mut::<tcp::Socket>(handle);
            let state = socket.state();
            if !matches!(state, tcp::State::Closed | tcp::State::Listen) {
                let opened = *self.slots[index].1.opened_ms.get_or_insert(now_ms);
                let age = now_ms - opened;
                if (state == tcp::State::SynReceived && age > HALF_OPEN_MS)
                    || age > CONNECTION_DEADLINE_MS
                {
                    self.stats.connections_expired += 1;
                    self.replace(index, listen);
                    continue;
                }
            }
            match state {
                tcp::State::Closed => {
                    self.slots[index].1 = Connection::default();
                    if listen {
                        // Only fails if already open or port 0, neither possible here.
                        let _ = socket.listen(self.config.port);
                    }
                }
                tcp::State::Listen if !listen => self.replace(index, false),
                // Done with the connection: forget it without waiting 2 MSL.
                tcp::State::TimeWait => self.replace(index, listen),
                tcp::State::Established | tcp::State::CloseWait => {
                    self.serve_connection(index, health)
                }
                _ => {}
            }
        }
        listen
    }

    /// Swaps in a fresh socket; dropping one sends nothing.
    fn replace(&mut self, index: usize, listen: bool) {
        self.sockets.remove(self.slots[index].0);
        let mut socket = new_socket();
        if listen {
            // Cannot fail on a fresh socket and a non-zero port.
            let _ = socket.listen(self.config.port);
        }
        self.slots[index] = (self.sockets.add(socket), Connection::default());
    }

    fn serve_connection(&mut self, index: usize, health: &Health) {
        let (handle, conn) = &mut self.slots[index];
        let socket = self.sockets.get_mut::<tcp::Socket>(*handle);
        if conn.answered {
            return;
        }
        if self.config.protocol == HealthProtocol::Tcp {
            // Accepting was the answer.
            conn.answered = true;
            self.stats.tcp_accepted += 1;
            socket.close();
            return;
        }
        let mut chunk = [0u8; 1024];
        while socket.can_recv() && conn.request.len() < http_check::MAX_REQUEST_BYTES {
            match socket.recv_slice(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let room = http_check::MAX_REQUEST_BYTES - conn.request.len();
                    conn.request.extend_from_slice(&chunk[..n.min(room)]);
                }
            }
        }
        match http_check::answer(&conn.request, &self.config.path, health) {
            Some(answer) => {
                match answer.status {
                    200 => self.stats.http_ok += 1,
                    503 => self.stats.http_unavailable += 1,
                    _ => self.stats.http_other += 1,
                }
                // Answers are far smaller than the send buffer.
                let _ = socket.send_slice(&answer.bytes);
                conn.answered = true;
                socket.close();
            }
            None if socket.state() == tcp::State::CloseWait => {
                // The client gave up before a full request.
                conn.answered = true;
                socket.close();
            }
            None => {}
        }
    }
}

/// The sender of `packet` (IPv4) if it is a TCP SYN without ACK to `port`.
fn new_syn(packet: &[u8], port: u16) -> Option<IpEndpoint> {
    let header = usize::from(*packet.first()? & 0x0f) * 4;
    let fragment = u16::from_be_bytes([*packet.get(6)?, *packet.get(7)?]) & 0x1fff;
    if *packet.get(9)? != protocol::TCP || fragment != 0 || header < 20 {
        return None;
    }
    let tcp = packet.get(header..header + 20)?;
    let flags = tcp[13];
    if u16::from_be_bytes([tcp[2], tcp[3]]) != port || flags & 0x12 != 0x02 {
        return None;
    }
    let src = Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]);
    Some(IpEndpoint::new(
        IpAddress::Ipv4(src),
        u16::from_be_bytes([tcp[0], tcp[1]]),
    ))
}

#[cfg(test)]
#[path = "responder_tests.rs"]
mod tests;
