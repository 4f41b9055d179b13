use super::*;
use crate::health_state::Unhealthy;
use crate::test_frames::*;

fn healthy() -> Health {
    Health {
        healthy: true,
        reasons: vec![],
        summary: "healthy".into(),
    }
}
fn down() -> Health {
    Health {
        healthy: false,
        reasons: vec![Unhealthy::LinkDown],
        summary: "unhealthy: link down".into(),
    }
}

fn responder(protocol: HealthProtocol) -> HealthResponder {
    let config = ResponderConfig {
        protocol,
        port: 80,
        path: "/health".into(),
        sockets: 2,
    };
    HealthResponder::new(APPLIANCE_IP, APPLIANCE_MAC, config, 0)
}

/// Sends one frame, returns the TCP segments that came out.
fn exchange(
    r: &mut HealthResponder,
    frame: Vec<u8>,
    now: i64,
    health: &Health,
) -> Vec<crate::test_frames::Segment> {
    r.receive_frame(&frame, now);
    r.poll(now, health)
        .iter()
        .filter_map(|f| parse_tcp(f))
        .collect()
}

/// SYN, SYN-ACK, ACK; returns (our next seq, their next seq, what came
/// back after the ACK).
fn connect(
    r: &mut HealthResponder,
    port: u16,
    health: &Health,
) -> (u32, u32, Vec<crate::test_frames::Segment>) {
    let out = exchange(r, tcp_frame(port, 80, 1000, 0, SYN, b""), 1, health);
    assert_eq!(out.len(), 1, "{out:?}");
    let syn_ack = &out[0];
    assert_eq!(syn_ack.flags & (SYN | ACK), SYN | ACK, "{syn_ack:?}");
    assert_eq!(
        (
            syn_ack.ack,
            syn_ack.src_port,
            syn_ack.dst_port,
            syn_ack.dst_mac
        ),
        (1001, 80, port, CLIENT_MAC)
    );
    let theirs = syn_ack.seq.wrapping_add(1);
    let out = exchange(r, tcp_frame(port, 80, 1001, theirs, ACK, b""), 2, health);
    (1001, theirs, out)
}

/// A whole HTTP check, closed properly by both sides; returns the answer.
fn http_get(r: &mut HealthResponder, port: u16, path: &str, health: &Health) -> String {
    let (ours, theirs, out) = connect(r, port, health);
    assert!(out.is_empty(), "{out:?}");
    let request = format!("GET {path} HTTP/1.1\r\nHost: 10.254.11.101\r\n\r\n");
    let out = exchange(
        r,
        tcp_frame(port, 80, ours, theirs, ACK | PSH, request.as_bytes()),
        3,
        health,
    );
    let mut text = String::new();
    let mut fin_seq = None;
    for s in &out {
        text.push_str(&String::from_utf8_lossy(&s.payload));
        if s.flags & FIN != 0 {
            fin_seq = Some(s.seq.wrapping_add(s.payload.len() as u32));
        }
    }
    let fin_seq =
        fin_seq.unwrap_or_else(|| panic!("the responder closes after answering: {out:?}"));
    let ours = ours + request.len() as u32;
    let out = exchange(
        r,
        tcp_frame(port, 80, ours, fin_seq + 1, ACK | FIN, b""),
        4,
        health,
    );
    assert!(out.iter().all(|s| s.flags & RST == 0), "{out:?}");
    text
}

#[test]
fn http_answers_follow_health_and_path() {
    let mut r = responder(HealthProtocol::Http);
    let t = http_get(&mut r, 40000, "/health", &healthy());
    assert!(
        t.starts_with("HTTP/1.1 200 OK\r\n") && t.ends_with("\r\n\r\nhealthy\n"),
        "{t:?}"
    );
    let t = http_get(&mut r, 40001, "/health", &down());
    assert!(
        t.starts_with("HTTP/1.1 503 ") && t.ends_with("unhealthy: link down\n"),
        "{t:?}"
    );
    let t = http_get(&mut r, 40002, "/other", &healthy());
    assert!(t.starts_with("HTTP/1.1 404 "), "{t:?}");
    let s = r.stats();
    assert_eq!((s.http_ok, s.http_unavailable, s.http_other), (1, 1, 1));
}

#[test]
fn sockets_are_reused_after_each_connection() {
    // Two sockets serve many sequential checks.
    let mut r = responder(HealthProtocol::Http);
    for port in 41000..41010 {
        let t = http_get(&mut r, port, "/health", &healthy());
        assert!(t.starts_with("HTTP/1.1 200"), "{port}: {t:?}");
    }
    assert_eq!(r.stats().http_ok, 10);
}

#[test]
fn tcp_checks_are_accepted_when_healthy_and_refused_when_not() {
    let mut r = responder(HealthProtocol::Tcp);
    let (_, _, out) = connect(&mut r, 42000, &healthy());
    assert!(
        out.iter().any(|s| s.flags & FIN != 0),
        "accepted, then closed: {out:?}"
    );
    assert_eq!(r.stats().tcp_accepted, 1);

    assert!(r.poll(4, &down()).is_empty());
    let out = exchange(&mut r, tcp_frame(42001, 80, 5000, 0, SYN, b""), 5, &down());
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].flags & RST, RST, "refused: {out:?}");
    assert_eq!(out[0].ack, 5001);

    // Healthy again: accepted again, on the first poll.
    let (_, _, out) = connect(&mut r, 42002, &healthy());
    assert!(out.iter().any(|s| s.flags & FIN != 0), "{out:?}");
}

#[test]
fn other_ports_and_non_ipv4_frames() {
    let mut r = responder(HealthProtocol::Http);
    let out = exchange(&mut r, tcp_frame(43000, 22, 1, 0, SYN, b""), 1, &healthy());
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].flags & RST, RST, "{out:?}");
    let mut ipv6 = tcp_frame(43000, 80, 1, 0, SYN, b"");
    ipv6[12..14].copy_from_slice(&[0x86, 0xdd]);
    r.receive_frame(&ipv6, 2);
    r.receive_frame(&[0u8; 10], 2);
    assert!(r.poll(2, &healthy()).is_empty());
    assert_eq!(r.stats().frames_ignored, 2);
}

/// Found by the responder fuzz target: the stack's address is a /0, so
/// without this check it answered segments to broadcast and multicast
/// addresses from those addresses.
#[test]
fn segments_to_another_address_are_ignored() {
    let mut r = responder(HealthProtocol::Http);
    for dst in [[255, 255, 255, 255], [224, 0, 0, 1], [10, 254, 11, 102]] {
        for flags in [SYN, ACK] {
            let frame = tcp_frame_to(CLIENT, dst, (43000, 80), 7, 1, flags, b"");
            assert!(exchange(&mut r, frame, 1, &healthy()).is_empty(), "{dst:?}");
        }
    }
    assert_eq!(r.stats().frames_ignored, 6);
}

#[test]
fn partial_tcp_checksums_from_offload_are_accepted() {
    // veth peers hand over TCP segments whose checksum holds only the pseudo-header sum.
    let mut r = responder(HealthProtocol::Http);
    let mut syn = tcp_frame(44000, 80, 1000, 0, SYN, b"");
    syn[14 + 20 + 16] ^= 0x5a;
    let out = exchange(&mut r, syn, 1, &healthy());
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].flags & (SYN | ACK), SYN | ACK);
}

#[test]
fn half_open_and_stalled_connections_free_their_socket() {
    // Two sockets: two SYNs that never complete fill the pool...
    let mut r = responder(HealthProtocol::Http);
    for port in [45000, 45001] {
        let out = exchange(&mut r, tcp_frame(port, 80, 1, 0, SYN, b""), 10, &healthy());
        assert_eq!(out[0].flags & (SYN | ACK), SYN | ACK);
    }
    // ...a third recycles the oldest...
    let out = exchange(&mut r, tcp_frame(45002, 80, 1, 0, SYN, b""), 20, &healthy());
    assert_eq!(out[0].flags & (SYN | ACK), SYN | ACK, "{out:?}");
    assert_eq!(r.stats().recycled_half_open, 1);
    let out = exchange(&mut r, tcp_frame(45000, 80, 2, 9, ACK, b""), 21, &healthy());
    assert_eq!(out[0].flags & RST, RST, "45000 is gone: {out:?}");
    // ...and half-open connections go when they are a second old.
    let out = exchange(
        &mut r,
        tcp_frame(45003, 80, 1, 0, SYN, b""),
        1_100,
        &healthy(),
    );
    let syn_ack = out.iter().find(|s| s.dst_port == 45003).expect("answered");
    assert_eq!(syn_ack.flags & (SYN | ACK), SYN | ACK);
    assert_eq!(r.stats().connections_expired, 2);
    assert_eq!(r.stats().recycled_half_open, 1);

    // An established connection that never sends its request goes after 5 s.
    let theirs = syn_ack.seq.wrapping_add(1);
    assert!(exchange(
        &mut r,
        tcp_frame(45003, 80, 2, theirs, ACK, b""),
        1_200,
        &healthy()
    )
    .is_empty());
    r.poll(4_000, &healthy());
    assert_eq!(r.stats().connections_expired, 2);
    r.poll(6_200, &healthy());
    assert_eq!(r.stats().connections_expired, 3);
}

// ---------------------------------------------------------------------------
// Floods: GWLB's checks are answered whatever other sources (or GWLB
// itself) do to the socket pool and the neighbour table.
// ---------------------------------------------------------------------------

const GWLB_A: Host = Host {
    ip: [10, 254, 11, 60],
    mac: [0x02, 0, 0, 0, 0x60, 0x01],
};
const GWLB_B: Host = Host {
    ip: [10, 254, 11, 61],
    mac: [0x02, 0, 0, 0, 0x61, 0x01],
};

/// Flood host number `i`: a distinct address and MAC in 10.9.0.0/16.
fn flood_host(i: u32) -> Host {
    let [_, _, hi, lo] = i.to_be_bytes();
    Host {
        ip: [10, 9, hi, lo],
        mac: [0x02, 0x66, 0, 0, hi, lo],
    }
}

/// A responder with `sockets` sockets fed in rounds, as the service does
/// (punted frames, then a poll). Connections in `holders` complete their
/// handshake and then say nothing.
struct Sim {
    r: HealthResponder,
    now: i64,
    holders: std::collections::HashSet<([u8; 4], u16)>,
    /// ACKs of holders, sent with the next round.
    next: Vec<Vec<u8>>,
}

impl Sim {
    fn new(sockets: usize) -> Sim {
        let config = ResponderConfig {
            protocol: HealthProtocol::Http,
            port: 80,
            path: "/health".into(),
            sockets,
        };
        Sim {
            r: HealthResponder::new(APPLIANCE_IP, APPLIANCE_MAC, config, 0),
            now: 0,
            holders: Default::default(),
            next: Vec::new(),
        }
    }

    /// Delivers `frames`, polls, and returns what went out.
    fn round(&mut self, frames: Vec<Vec<u8>>) -> Vec<Segment> {
        for f in self.next.drain(..).chain(frames) {
            self.r.receive_frame(&f, self.now);
        }
        let out: Vec<Segment> = self
            .r
            .poll(self.now, &healthy())
            .iter()
            .filter_map(|f| parse_tcp(f))
            .collect();
        for s in &out {
            if s.flags & (SYN | ACK) == SYN | ACK && self.holders.contains(&(s.dst_ip, s.dst_port))
            {
                let host = Host {
                    ip: s.dst_ip,
                    mac: s.dst_mac,
                };
                let ack = s.seq.wrapping_add(1);
                self.next
                    .push(tcp_frame_from(host, s.dst_port, 80, 1001, ack, ACK, b""));
            }
        }
        out
    }

    /// A SYN from `host` that will be held idle once established.
    fn hold(&mut self, host: Host, port: u16) -> Vec<u8> {
        self.holders.insert((host.ip, port));
        tcp_frame_from(host, port, 80, 1000, 0, SYN, b"")
    }

    /// One HTTP check from `gwlb`, each of its rounds shared with the
    /// frames `flood` makes; the answer's text, or what went wrong.
    fn check(
        &mut self,
        gwlb: Host,
        port: u16,
        flood: &mut dyn FnMut(&mut Sim) -> Vec<Vec<u8>>,
    ) -> Result<String, String> {
        let started = self.now;
        let to_gwlb = |s: &Segment| s.dst_ip == gwlb.ip && s.dst_port == port;
        let mut frames = vec![tcp_frame_from(gwlb, port, 80, 1000, 0, SYN, b"")];
        frames.extend(flood(self));
        let out = self.round(frames);
        let Some(syn_ack) = out
            .iter()
            .find(|s| to_gwlb(s) && s.flags & (SYN | ACK) == SYN | ACK)
        else {
            let seen: Vec<_> = out.iter().filter(|s| to_gwlb(s)).collect();
            return Err(format!("no SYN-ACK at {started} ms: {seen:?}"));
        };
        if syn_ack.dst_mac != gwlb.mac {
            return Err(format!("SYN-ACK to {:02x?}", syn_ack.dst_mac));
        }
        let theirs = syn_ack.seq.wrapping_add(1);
        let request = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
        self.now += 1;
        let mut frames = vec![
            tcp_frame_from(gwlb, port, 80, 1001, theirs, ACK, b""),
            tcp_frame_from(gwlb, port, 80, 1001, theirs, ACK | PSH, request),
        ];
        frames.extend(flood(self));
        let out = self.round(frames);
        let answer: Vec<&Segment> = out.iter().filter(|s| to_gwlb(s)).collect();
        let text: String = answer
            .iter()
            .map(|s| String::from_utf8_lossy(&s.payload).into_owned())
            .collect();
        let Some(fin) = answer.iter().find(|s| s.flags & FIN != 0) else {
            return Err(format!("no answer at {} ms: {answer:?}", self.now));
        };
        if answer.iter().any(|s| s.dst_mac != gwlb.mac) {
            return Err(format!("answer to the wrong MAC: {answer:?}"));
        }
        let fin_ack = fin.seq.wrapping_add(fin.payload.len() as u32 + 1);
        let ours = 1001 + request.len() as u32;
        self.now += 1;
        let mut frames = vec![tcp_frame_from(
            gwlb,
            port,
            80,
            ours,
            fin_ack,
            ACK | FIN,
            b"",
        )];
        frames.extend(flood(self));
        self.round(frames);
        Ok(text)
    }

    /// Runs `seconds` of rounds 10 ms apart with `flood` in each, and a
    /// check from GWLB_A or GWLB_B every second; all must get 200.
    fn checks_under(&mut self, seconds: i64, flood: &mut dyn FnMut(&mut Sim) -> Vec<Vec<u8>>) {
        let mut answered = 0;
        let mut failures = Vec::new();
        for second in 0..seconds {
            let gwlb = if second % 2 == 0 { GWLB_A } else { GWLB_B };
            let port = 30000 + second as u16;
            match self.check(gwlb, port, flood) {
                Ok(t) if t.starts_with("HTTP/1.1 200 OK\r\n") => answered += 1,
                Ok(t) => failures.push(format!("{second} s: {t:?}")),
                Err(e) => failures.push(format!("{second} s: {e}")),
            }
            let end = (second + 1) * 1000;
            while self.now + 10 < end {
                self.now += 10;
                let frames = flood(self);
                self.round(frames);
            }
            self.now = end;
        }
        assert!(
            failures.is_empty(),
            "{answered} of {seconds} checks answered; failed: {failures:#?}"
        );
    }
}

#[test]
fn checks_are_answered_through_a_syn_flood_from_many_sources() {
    // 16 sockets; 300 SYNs per second that never complete, each from a new
    // address (6000 in all: more than the neighbour table holds), and 50
    // idle connections per second held open by other new addresses.
    let mut sim = Sim::new(16);
    let mut n = 0u32;
    let mut flood = |sim: &mut Sim| {
        let mut frames = Vec::new();
        for _ in 0..3 {
            n += 1;
            frames.push(tcp_frame_from(flood_host(n), 20000, 80, 7, 0, SYN, b""));
        }
        if n.is_multiple_of(6) {
            n += 1;
            frames.push(sim.hold(flood_host(n), 20001));
        }
        frames
    };
    sim.checks_under(20, &mut flood);
    let s = sim.r.stats().clone();
    assert!(sim.r.neighbour_count() <= MAX_NEIGHBOURS);
    assert!(
        s.neighbours_evicted >= 6000 - MAX_NEIGHBOURS as u64,
        "{s:?}"
    );
    assert!(s.recycled_half_open > 5000 && s.recycled_idle > 0, "{s:?}");
    assert_eq!(s.http_ok, 20);
}

#[test]
fn checks_are_answered_while_one_gwlb_node_holds_more_connections_than_sockets() {
    // GWLB_A itself opens 100 connections per second and leaves them idle.
    let mut sim = Sim::new(16);
    let mut port = 50000u16;
    let mut flood = |sim: &mut Sim| {
        port = if port == 60000 { 50000 } else { port + 1 };
        vec![sim.hold(GWLB_A, port)]
    };
    sim.checks_under(10, &mut flood);
    let s = sim.r.stats();
    assert!(s.recycled_idle > 900, "{s:?}");
    assert_eq!(s.http_ok, 10);
}

#[test]
fn other_sources_do_not_evict_a_gwlb_nodes_neighbour_entry() {
    // With each packet of GWLB_B's check come 50 from new sources (to a
    // closed port: answered with RSTs, holding no socket); every answer of
    // the check must still reach GWLB_B's MAC.
    let mut sim = Sim::new(16);
    let mut n = 0u32;
    let mut flood = |_: &mut Sim| {
        (0..50)
            .map(|_| {
                n += 1;
                tcp_frame_from(flood_host(n), 20000, 8080, 7, 0, SYN, b"")
            })
            .collect()
    };
    let t = sim.check(GWLB_B, 31000, &mut flood).unwrap();
    assert!(t.starts_with("HTTP/1.1 200 OK\r\n"), "{t:?}");
    assert_eq!(sim.r.stats().frames_unaddressed, 0);
}

#[test]
fn the_neighbour_table_is_bounded_and_keeps_the_pools_peers() {
    // A GWLB check's connection is open while more senders than the table
    // holds pass by, all newer than it: its entry stays, the table stays
    // bounded, and the answer reaches GWLB's MAC.
    let mut sim = Sim::new(4);
    let mut n = 0u32;
    let mut flood = |_: &mut Sim| {
        (0..MAX_NEIGHBOURS)
            .map(|_| {
                n += 1;
                tcp_frame_from(flood_host(n), 20000, 8080, 7, 0, SYN, b"")
            })
            .collect()
    };
    let t = sim.check(GWLB_A, 31000, &mut flood).unwrap();
    assert!(t.starts_with("HTTP/1.1 200 OK\r\n"), "{t:?}");
    assert!(sim.r.neighbour_count() <= MAX_NEIGHBOURS);
    let s = sim.r.stats();
    assert!(s.neighbours_evicted >= 2 * MAX_NEIGHBOURS as u64, "{s:?}");
    // RSTs to senders forgotten before they went out are counted.
    assert!(s.frames_unaddressed > 0, "{s:?}");
}
