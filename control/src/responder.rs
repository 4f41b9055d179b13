//! The health responder: a smoltcp TCP/IP stack that sees only the frames
//! the dataplane punts to the appliance address and whose output goes back
//! through the inject ring. A pool of TCP sockets listens on the health port.
//!
//! smoltcp learns neighbours only from ARP, and the dataplane answers ARP
//! itself without punting it. So before an IPv4 frame from a new sender goes
//! in, a synthetic ARP reply "sender IP is at sender MAC" goes in first: the
//! answer then leaves towards the MAC the question came from (the VPC router
//! on AWS), with no ARP request of ours ever needed. The interface address
//! is configured as /0 so that every sender counts as on-link.

use std::collections::{HashMap, VecDeque};
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use smoltcp::iface::{Config as IfaceConfig, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{Checksum, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration as SmolDuration, Instant as SmolInstant};
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr};

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
/// Re-teach smoltcp a sender's MAC this often (its cache keeps entries 60 s).
const NEIGHBOUR_REFRESH_MS: i64 = 20_000;
const MAX_NEIGHBOURS: usize = 4096;

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
}

/// Frames in (punted) and out (to inject) for smoltcp.
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
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MAX_FRAME;
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

pub struct HealthResponder {
    config: ResponderConfig,
    mac: [u8; 6],
    ip: Ipv4Addr,
    iface: Interface,
    device: FrameQueue,
    sockets: SocketSet<'static>,
    slots: Vec<(SocketHandle, Connection)>,
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
        let mut iface_config = IfaceConfig::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
        iface_config.random_seed = tollgate_shm::realtime_ns() ^ u64::from(std::process::id());
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
        self.learn(src_ip, src_mac, now_ms);
        self.device.rx.push_back(frame.to_vec());
    }

    fn learn(&mut self, ip: Ipv4Addr, mac: [u8; 6], now_ms: i64) {
        let unicast_mac = mac[0] & 1 == 0 && mac != [0; 6];
        if !unicast_mac || ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() {
            return;
        }
        if let Some((known, at)) = self.neighbours.get(&ip) {
            if *known == mac && now_ms - at < NEIGHBOUR_REFRESH_MS {
                return;
            }
        }
        if self.neighbours.len() >= MAX_NEIGHBOURS {
            self.neighbours.clear();
        }
        self.neighbours.insert(ip, (mac, now_ms));
        self.device
            .rx
            .push_back(arp_reply(mac, ip, self.mac, self.ip));
    }

    /// Runs the stack: serves the sockets against `health` and returns the
    /// frames to inject.
    pub fn poll(&mut self, now_ms: i64, health: &Health) -> Vec<Vec<u8>> {
        let now = SmolInstant::from_millis(now_ms);
        // Listen (or stop) before the new frames meet the sockets.
        self.serve(health, now_ms);
        self.iface.poll(now, &mut self.device, &mut self.sockets);
        self.serve(health, now_ms);
        self.iface.poll(now, &mut self.device, &mut self.sockets);
        let out = std::mem::take(&mut self.device.tx);
        self.stats.frames_out += out.len() as u64;
        out
    }

    /// Milliseconds until smoltcp needs a poll for its timers, if any.
    pub fn poll_delay_ms(&mut self, now_ms: i64) -> Option<u64> {
        self.iface
            .poll_delay(SmolInstant::from_millis(now_ms), &self.sockets)
            .map(|d| d.total_millis())
    }

    fn serve(&mut self, health: &Health, now_ms: i64) {
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

/// An ARP reply from `(sender_mac, sender_ip)` to us.
fn arp_reply(
    sender_mac: [u8; 6],
    sender_ip: Ipv4Addr,
    our_mac: [u8; 6],
    our_ip: Ipv4Addr,
) -> Vec<u8> {
    let mut f = Vec::with_capacity(42);
    f.extend_from_slice(&our_mac);
    f.extend_from_slice(&sender_mac);
    f.extend_from_slice(&0x0806u16.to_be_bytes());
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 2]);
    f.extend_from_slice(&sender_mac);
    f.extend_from_slice(&sender_ip.octets());
    f.extend_from_slice(&our_mac);
    f.extend_from_slice(&our_ip.octets());
    f
}

#[cfg(test)]
#[path = "responder_tests.rs"]
mod tests;
