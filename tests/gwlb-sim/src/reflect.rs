//! `reflect`: a stand-in appliance for checking the simulator itself. It answers ARP and ICMP
//! echo for the appliance address and hairpins GENEVE exactly as the real appliance must
//! (Ethernet and outer IPv4 addresses swapped, everything else kept). A tiny port-based
//! firewall (drop / reject by inner port) lets scenario runs be checked without the dataplane.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::arp::Arp;
use crate::checksum;
use crate::rawsock::{Direction, RawSocket};
use crate::reject::{self, InnerView};
use crate::verify::{self, Layout};
use crate::wire::{self, ETHERTYPE_IPV4, GENEVE_OFFSET, OUTER_IP_OFFSET, PROTO_ICMP};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// An IPv4 prefix such as 10.254.11.60/32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Net {
    pub addr: Ipv4Addr,
    pub len: u8,
}

impl std::str::FromStr for Ipv4Net {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, len) = s.split_once('/').unwrap_or((s, "32"));
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| format!("bad IPv4 address in {s:?}"))?;
        let len: u8 = len
            .parse()
            .ok()
            .filter(|l| *l <= 32)
            .ok_or(format!("bad prefix length in {s:?}"))?;
        Ok(Ipv4Net { addr, len })
    }
}

impl Ipv4Net {
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let mask = if self.len == 0 {
            0
        } else {
            u32::MAX << (32 - self.len)
        };
        u32::from(ip) & mask == u32::from(self.addr) & mask
    }
}

#[derive(Debug, Clone)]
pub struct ReflectOptions {
    pub iface: String,
    pub appliance: Ipv4Addr,
    pub allow: Vec<Ipv4Net>,
    pub drop_ports: Vec<u16>,
    pub reject_ports: Vec<u16>,
    pub duration: Option<Duration>,
    /// Fault injection for testing the simulator: flip one byte past the outer UDP header
    /// in every n-th hairpinned frame (0 = never).
    pub corrupt_every: u64,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct ReflectCounters {
    pub arp_answered: u64,
    pub echo_answered: u64,
    pub hairpinned: u64,
    pub spoofed: u64,
    pub dropped_by_port: u64,
    pub rejected: u64,
    pub ignored: u64,
    pub corrupted_on_purpose: u64,
}

/// What the reflector does with one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reflection {
    Send(Vec<u8>),
    Spoofed,
    DroppedByPort,
    Rejected(Vec<u8>),
    Ignore,
}

/// Decides the reflector's answer to one incoming frame (pure, so it is unit-tested).
pub fn decide(opts: &ReflectOptions, my_mac: [u8; 6], frame: &[u8]) -> Reflection {
    if let Some(arp) = Arp::parse(frame) {
        if arp.is_request() && arp.target_ip == opts.appliance {
            return Reflection::Send(arp.answer(my_mac).to_frame(arp.sender_mac));
        }
        return Reflection::Ignore;
    }
    if frame.len() < OUTER_IP_OFFSET + 20
        || u16::from_be_bytes([frame[12], frame[13]]) != ETHERTYPE_IPV4
        || frame[0..6] != my_mac
    {
        return Reflection::Ignore;
    }
    let ip = &frame[OUTER_IP_OFFSET..];
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    if dst != opts.appliance {
        return Reflection::Ignore;
    }
    if ip[9] == PROTO_ICMP && ip[0] == 0x45 && ip.get(20) == Some(&8) {
        let mut reply = wire::hairpin(frame);
        let icmp_start = OUTER_IP_OFFSET + 20;
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        let icmp_end = (OUTER_IP_OFFSET + total).min(reply.len());
        if icmp_end < icmp_start + 8 {
            return Reflection::Ignore;
        }
        reply[icmp_start] = 0;
        reply[icmp_start + 2..icmp_start + 4].copy_from_slice(&[0, 0]);
        let sum = checksum::checksum(&reply[icmp_start..icmp_end]);
        reply[icmp_start + 2..icmp_start + 4].copy_from_slice(&sum.to_be_bytes());
        return Reflection::Send(reply);
    }
    if !verify::is_geneve_reply(frame) {
        return Reflection::Ignore;
    }
    if !opts.allow.iter().any(|net| net.contains(src)) {
        return Reflection::Spoofed;
    }
    let inner = Layout::parse(frame).and_then(|l| InnerView::parse(&frame[l.inner_start..]));
    if let Some(inner) = inner {
        let ports = inner
            .dst_port()
            .zip(inner.l4.get(0..2).map(|p| u16::from_be_bytes([p[0], p[1]])));
        if let Some((dst_port, src_port)) = ports {
            if opts.reject_ports.contains(&dst_port) {
                return match reject::reject_frame(frame) {
                    Some(reply) => Reflection::Rejected(reply),
                    None => Reflection::DroppedByPort,
                };
            }
            let listed = |p: u16| opts.drop_ports.contains(&p) || opts.reject_ports.contains(&p);
            if listed(dst_port) || listed(src_port) {
                return Reflection::DroppedByPort;
            }
        }
    }
    Reflection::Send(wire::hairpin(frame))
}

pub fn reflect(opts: ReflectOptions) -> Result<ReflectCounters, String> {
    let socket = RawSocket::open(&opts.iface).map_err(|e| e.to_string())?;
    socket
        .set_read_timeout(Duration::from_millis(100))
        .map_err(|e| e.to_string())?;
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { libc::signal(signal, on_signal as *const () as libc::sighandler_t) };
    }
    eprintln!(
        "reflect: answering for {} on {} (mac {})",
        opts.appliance,
        opts.iface,
        crate::rawsock::format_mac(&socket.mac)
    );
    let start = Instant::now();
    let mut counters = ReflectCounters::default();
    let mut buf = vec![0u8; 16 * 1024];
    while !STOP.load(Ordering::Relaxed) && opts.duration.is_none_or(|d| start.elapsed() < d) {
        let Some((len, direction)) = socket.recv(&mut buf).map_err(|e| e.to_string())? else {
            continue;
        };
        if direction == Direction::Outgoing {
            continue;
        }
        let frame = &buf[..len.min(buf.len())];
        let is_arp = Arp::parse(frame).is_some();
        match decide(&opts, socket.mac, frame) {
            Reflection::Send(mut reply) => {
                let geneve = !is_arp && verify::is_geneve_reply(frame);
                if geneve {
                    counters.hairpinned += 1;
                    let n = counters.hairpinned;
                    if opts.corrupt_every > 0 && n % opts.corrupt_every == 0 {
                        let span = (reply.len() - GENEVE_OFFSET) as u64;
                        let offset = GENEVE_OFFSET + ((n * 7919) % span) as usize;
                        reply[offset] ^= 0x20;
                        counters.corrupted_on_purpose += 1;
                    }
                }
                socket.send(&reply).map_err(|e| e.to_string())?;
                if is_arp {
                    counters.arp_answered += 1;
                } else if !geneve {
                    counters.echo_answered += 1;
                }
            }
            Reflection::Rejected(reply) => {
                socket.send(&reply).map_err(|e| e.to_string())?;
                counters.rejected += 1;
            }
            Reflection::Spoofed => counters.spoofed += 1,
            Reflection::DroppedByPort => counters.dropped_by_port += 1,
            Reflection::Ignore => counters.ignored += 1,
        }
    }
    Ok(counters)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::{Generator, Protocol, SizePlan, TrafficConfig};

    const MINE: [u8; 6] = [2, 0, 0, 0, 0, 1];

    fn opts() -> ReflectOptions {
        ReflectOptions {
            iface: "unused".into(),
            appliance: Ipv4Addr::new(10, 254, 11, 101),
            allow: vec!["10.254.11.60/32".parse().unwrap()],
            drop_ports: vec![],
            reject_ports: vec![],
            duration: None,
            corrupt_every: 0,
        }
    }

    fn frames(src: Ipv4Addr) -> Vec<Vec<u8>> {
        let mut generator = Generator::new(TrafficConfig {
            gwlb_mac: [2, 0, 0, 0, 0, 0x60],
            appliance_mac: MINE,
            outer_src: src,
            appliance_ip: Ipv4Addr::new(10, 254, 11, 101),
            endpoints: 2,
            flows: 4,
            sizes: SizePlan::parse("imix").unwrap(),
            families_v6: vec![false, true],
            protocols: vec![Protocol::Tcp, Protocol::Udp, Protocol::Icmp],
            unknown_option_every: 2,
            run_nonce: 1,
            seed: 5,
        });
        (0..200)
            .map(|_| generator.next_frame().unwrap().frame)
            .collect()
    }

    #[test]
    fn hairpins_pass_the_verifier() {
        for frame in frames(Ipv4Addr::new(10, 254, 11, 60)) {
            match decide(&opts(), MINE, &frame) {
                Reflection::Send(reply) => {
                    assert_eq!(verify::verify_hairpin(&frame, &reply), Ok(()))
                }
                other => panic!("expected a hairpin, got {other:?}"),
            }
        }
    }

    #[test]
    fn spoofed_sources_get_nothing() {
        for frame in frames(Ipv4Addr::new(10, 254, 11, 61)) {
            assert_eq!(decide(&opts(), MINE, &frame), Reflection::Spoofed);
        }
    }

    #[test]
    fn answers_arp_only_for_the_appliance() {
        let request = Arp::request(
            [2, 0, 0, 0, 0, 0x60],
            Ipv4Addr::new(10, 254, 11, 60),
            Ipv4Addr::new(10, 254, 11, 101),
        );
        let Reflection::Send(reply) = decide(&opts(), MINE, &request.to_frame([0xff; 6])) else {
            panic!("no ARP answer");
        };
        let reply = Arp::parse(&reply).unwrap();
        assert_eq!(
            (reply.sender_mac, reply.sender_ip),
            (MINE, Ipv4Addr::new(10, 254, 11, 101))
        );
        let other = Arp::request(
            [2, 0, 0, 0, 0, 0x60],
            Ipv4Addr::new(10, 254, 11, 60),
            Ipv4Addr::new(10, 254, 11, 102),
        );
        assert_eq!(
            decide(&opts(), MINE, &other.to_frame([0xff; 6])),
            Reflection::Ignore
        );
    }

    #[test]
    fn port_firewall_drops_and_rejects() {
        let mut o = opts();
        o.drop_ports = vec![443, 80, 22, 8443, 53, 123, 51820, 51821];
        let mut dropped = 0;
        for frame in frames(Ipv4Addr::new(10, 254, 11, 60)) {
            if decide(&o, MINE, &frame) == Reflection::DroppedByPort {
                dropped += 1;
            }
        }
        assert!(
            dropped > 100,
            "TCP and UDP frames of both directions dropped: {dropped}"
        );
        o.reject_ports = std::mem::take(&mut o.drop_ports);
        let mut rejected = 0;
        for frame in frames(Ipv4Addr::new(10, 254, 11, 60)) {
            if let Reflection::Rejected(reply) = decide(&o, MINE, &frame) {
                reject::check_reject(&frame, &reply).unwrap();
                rejected += 1;
            }
        }
        assert!(rejected > 20, "{rejected}");
    }
}
