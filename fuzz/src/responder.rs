//! The health responder fed arbitrary punted frames.
//!
//! Input: a flags byte (bit 0: healthy, bit 1: TCP instead of HTTP
//! checks), then records: time advance (x 100 ms), frame length (u16),
//! the frame. Each frame goes to `receive_frame`, then the responder is
//! polled. Checked: nothing panics; every frame it sends is a frame of
//! its own (its MAC as source, ARP or IPv4 from its address with a valid
//! header checksum) no longer than an Ethernet frame; its counters count
//! what went in and out.

use tollgate_control::config::HealthProtocol;
use tollgate_control::health_state::{Health, Unhealthy};
use tollgate_control::responder::{HealthResponder, ResponderConfig};
use tollgate_wire::{checksum, ethernet, ipv4};

use crate::frames::{APPLIANCE_IP, APPLIANCE_MAC};
use crate::input::Input;

const MAX_RECORDS: usize = 32;
/// The largest frame the responder's stack may send (Ethernet, no FCS).
const MAX_FRAME: usize = 1514;

pub fn run(bytes: &[u8]) {
    let mut input = Input::new(bytes);
    let flags = input.u8();
    let health = if flags & 1 != 0 {
        Health {
            healthy: true,
            reasons: vec![],
            summary: "healthy".into(),
        }
    } else {
        Health {
            healthy: false,
            reasons: vec![Unhealthy::LinkDown],
            summary: "unhealthy: link down".into(),
        }
    };
    let protocol = if flags & 2 != 0 {
        HealthProtocol::Tcp
    } else {
        HealthProtocol::Http
    };
    let config = ResponderConfig {
        protocol,
        port: 80,
        path: "/health".into(),
        sockets: 2,
    };
    let mut now_ms = 1_000;
    let mut responder = HealthResponder::new(APPLIANCE_IP, APPLIANCE_MAC, config, now_ms);
    let (mut frames_in, mut frames_out) = (0, 0);
    for _ in 0..MAX_RECORDS {
        if input.is_empty() {
            break;
        }
        now_ms += i64::from(input.u8()) * 100;
        let len = usize::from(input.u16());
        let frame = input.take(len);
        responder.receive_frame(frame, now_ms);
        frames_in += 1;
        let out = responder.poll(now_ms, &health);
        frames_out += out.len() as u64;
        for f in &out {
            check_own_frame(f);
        }
        let _ = responder.poll_delay_ms(now_ms);
    }
    let stats = responder.stats();
    assert_eq!(stats.frames_in, frames_in);
    assert_eq!(stats.frames_out, frames_out);
    assert!(stats.frames_ignored <= stats.frames_in);
}

fn check_own_frame(f: &[u8]) {
    assert!(f.len() <= MAX_FRAME, "sent a {}-byte frame", f.len());
    let eth = ethernet::Frame::new_checked(f).expect("sent frame has an Ethernet header");
    assert_eq!(eth.src_addr(), APPLIANCE_MAC, "sent frame's source MAC");
    match eth.ethertype() {
        ethernet::EtherType::Arp => {}
        ethernet::EtherType::Ipv4 => {
            let ip = ipv4::Packet::new_checked(eth.payload()).expect("sent IPv4 packet parses");
            assert_eq!(ip.src_addr(), APPLIANCE_IP, "sent packet's source address");
            let header = &eth.payload()[..ip.header_len()];
            assert_eq!(
                checksum::ipv4_header(header).to_be_bytes(),
                [header[10], header[11]],
                "sent packet's header checksum"
            );
        }
        other => panic!("sent a frame of ethertype {other:?}"),
    }
}
