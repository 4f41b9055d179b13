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
    let out = exchange(&mut r, tcp_frame(45002, 80, 1, 0, SYN, b""), 20, &healthy());
    assert_eq!(out[0].flags & RST, RST, "pool full: {out:?}");
    // ...until they are a second old.
    let out = exchange(
        &mut r,
        tcp_frame(45003, 80, 1, 0, SYN, b""),
        1_100,
        &healthy(),
    );
    let syn_ack = out.iter().find(|s| s.dst_port == 45003).expect("answered");
    assert_eq!(syn_ack.flags & (SYN | ACK), SYN | ACK);
    assert_eq!(r.stats().connections_expired, 2);

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
