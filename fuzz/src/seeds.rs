//! The seed inputs of every target, written to `corpus/TARGET/` by
//! `cargo run -p tollgate-fuzz --bin tollgate-fuzz-seeds` (and replayed
//! by the tests from there). Valid inputs of each kind, so that the
//! fuzzer starts from the paths real traffic takes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use tollgate_shm::message::{
    Command, FlowAddresses, FlowCursor, FlowEntry, FlowFilter, IpPrefix, Reply, Request, Response,
};
use tollgate_shm::PacketMeta;

use crate::frames::*;

/// `(file name, bytes)` seeds of `target`.
pub fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let named = |v: Vec<(&str, Vec<u8>)>| v.into_iter().map(|(n, b)| (n.to_string(), b)).collect();
    match target {
        "express" => express(),
        "pipeline" => named(pipeline()),
        "ring" => named(ring()),
        "message" => named(message()),
        "rules" => named(rules()),
        "responder" => named(responder()),
        _ => Vec::new(),
    }
}

fn gwlb_frames() -> Vec<(&'static str, Vec<u8>)> {
    let flow = (CLIENT, SERVER);
    vec![
        (
            "tcp_syn",
            gwlb(ENDPOINT, &tcp4(flow, (40000, 443), SYN, (100, 0), &[])),
        ),
        (
            "tcp_data",
            gwlb(
                ENDPOINT,
                &tcp4(
                    flow,
                    (40000, 443),
                    ACK | PSH,
                    (101, 901),
                    b"GET / HTTP/1.1\r\n\r\n",
                ),
            ),
        ),
        (
            "tcp_telnet",
            gwlb(ENDPOINT, &tcp4(flow, (40002, 23), SYN, (7, 0), &[])),
        ),
        ("udp_dns", gwlb(ENDPOINT, &udp4(flow, (5353, 53), 30))),
        ("udp_syslog", gwlb(ENDPOINT, &udp4(flow, (5354, 514), 30))),
        ("icmp_echo", gwlb(ENDPOINT, &icmp4(flow, 8, &[1; 16]))),
        ("tcp6_syn", gwlb(ENDPOINT, &tcp6(40000, 443, SYN))),
        ("icmp6_echo", gwlb(ENDPOINT, &icmp6_echo())),
    ]
}

fn express() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (name, frame) in gwlb_frames() {
        for flags in [0u8, 1] {
            let mut input = vec![flags];
            input.extend_from_slice(&frame);
            out.push((format!("{name}_{flags}"), input));
        }
    }
    out
}

/// One pipeline record (see `pipeline`'s module doc).
fn record(ctl: u8, frame: &[u8], tailroom: u16) -> Vec<u8> {
    let mut r = vec![ctl];
    r.extend_from_slice(&(frame.len() as u16).to_be_bytes());
    r.extend_from_slice(&tailroom.to_be_bytes());
    r.extend_from_slice(frame);
    r
}

fn pipeline() -> Vec<(&'static str, Vec<u8>)> {
    let (c, s) = (CLIENT, SERVER);
    let conversation = [
        gwlb(ENDPOINT, &tcp4((c, s), (40000, 443), SYN, (100, 0), &[])),
        gwlb(
            ENDPOINT,
            &tcp4((s, c), (443, 40000), SYN | ACK, (900, 101), &[]),
        ),
        gwlb(ENDPOINT, &tcp4((c, s), (40000, 443), ACK, (101, 901), &[])),
        gwlb(
            ENDPOINT,
            &tcp4((c, s), (40000, 443), ACK | PSH, (101, 901), &[7; 300]),
        ),
        gwlb(ENDPOINT, &tcp4((s, c), (443, 40000), ACK, (901, 401), &[])),
        gwlb(
            ENDPOINT,
            &tcp4((c, s), (40000, 443), FIN | ACK, (401, 901), &[]),
        ),
        gwlb(ENDPOINT, &tcp4((c, s), (40000, 443), RST, (402, 0), &[])),
    ];
    let rejects = [
        gwlb(ENDPOINT, &tcp4((c, s), (40002, 23), SYN, (7, 0), &[])),
        gwlb(ENDPOINT, &udp4((c, s), (5354, 514), 30)),
        gwlb(ENDPOINT, &icmp6_echo()),
        gwlb(
            ENDPOINT,
            &tcp4((BLOCKED, s), (40003, 443), SYN, (1, 0), &[]),
        ),
    ];
    let local = [
        arp_request(),
        to_appliance(&icmp4((HOST_IP, APPLIANCE_IP), 8, &[9; 56])),
        to_appliance(&tcp4(
            (HOST_IP, APPLIANCE_IP),
            (40123, 80),
            SYN,
            (7, 0),
            &[],
        )),
    ];
    let mut mixed = Vec::new();
    for (i, f) in gwlb_frames().iter().enumerate() {
        mixed.push(record(if i == 4 { 0x06 } else { 0 }, &f.1, 2048));
    }
    let burst = |cfg: u8, frames: &[Vec<u8>], tailroom: u16| {
        let mut input = vec![cfg, 0];
        for f in frames {
            input.extend(record(0, f, tailroom));
        }
        input
    };
    vec![
        ("conversation", burst(0, &conversation, 2048)),
        ("conversation_2_workers", burst(1, &conversation, 2048)),
        ("conversation_worker_1", burst(2, &conversation, 2048)),
        ("conversation_steered", burst(2 | 4, &conversation, 2048)),
        ("rejects", burst(0, &rejects, 2048)),
        ("rejects_no_tailroom", burst(0, &rejects, 0)),
        ("rejects_reject_all", burst(3 << 3, &rejects, 64)),
        ("local", burst(0, &local, 128)),
        ("no_rules", burst(2 << 3, &conversation[..2], 2048)),
        (
            "pass_all_no_pickup",
            burst(1 << 3 | 0x20, &conversation[2..], 2048),
        ),
        ("mixed_two_bursts", [vec![0, 1], mixed.concat()].concat()),
    ]
}

/// A ring input: tail, head, operations, data.
fn ring_input(tail: u64, head: u64, ops: &[u8], data: &[u8]) -> Vec<u8> {
    let mut v = tail.to_le_bytes().to_vec();
    v.extend_from_slice(&head.to_le_bytes());
    v.push(ops.len() as u8);
    v.extend_from_slice(ops);
    v.extend_from_slice(data);
    v
}

/// Ring data holding `messages` as records from offset 0.
fn records(messages: &[&[u8]]) -> (Vec<u8>, u64) {
    let mut data = Vec::new();
    for m in messages {
        data.extend_from_slice(&(m.len() as u32).to_le_bytes());
        data.extend_from_slice(m);
        data.resize(data.len().next_multiple_of(8), 0);
    }
    let len = data.len() as u64;
    (data, len)
}

fn ring() -> Vec<(&'static str, Vec<u8>)> {
    let (data, head) = records(&[b"one", b"two", &[5; 100]]);
    // pop_into with room for 80 bytes, then 160; pop_to_vec; peek.
    let ops = [0u8, 1 | (1 << 2), 1 | (2 << 2), 2 | (3 << 2), 0];
    // A record wrapping around the end of the 4096-byte data area.
    let mut wrapped = vec![0u8; 4096];
    wrapped[4088..4092].copy_from_slice(&20u32.to_le_bytes());
    wrapped[4092..4096].copy_from_slice(b"wrap");
    wrapped[..16].copy_from_slice(b"ped around end!!");
    vec![
        ("three_messages", ring_input(0, head, &ops, &data)),
        ("resumed", ring_input(8, head, &ops, &data)),
        ("empty", ring_input(64, 64, &[0, 1, 2], &[])),
        (
            "wrapped",
            ring_input(4088, 4088 + 24 + 8, &[1 | (1 << 2), 0], &wrapped),
        ),
        ("counters_wrap", ring_input(u64::MAX - 7, 16, &ops, &data)),
        (
            "corrupt_length",
            ring_input(0, 8, &[0, 1, 3, 0], &[0xff; 8]),
        ),
        ("tail_ahead", ring_input(64, 0, &[0, 3, 0], &data)),
    ]
}

fn message() -> Vec<(&'static str, Vec<u8>)> {
    let filter = FlowFilter {
        address: IpPrefix::new(IpAddr::V4(Ipv4Addr::new(10, 1, 11, 0)), 24),
        port: Some(443),
        protocol: Some(6),
        endpoint: Some(ENDPOINT),
        state: Some("ESTABLISHED".into()),
    };
    let entry = |addresses| FlowEntry {
        endpoint: ENDPOINT,
        addresses,
        protocol: 6,
        src_port: 40000,
        dst_port: 443,
        state: "established".into(),
        expires_in_ns: 1_000_000,
    };
    let req = |id, command| Request { id, command }.to_bytes();
    let resp = |id, reply| Response { id, reply }.to_bytes();
    let packet = gwlb_frames()[0].1.clone();
    let meta = PacketMeta::for_packet(1, 0, &packet).expect("a small packet");
    vec![
        (
            "load_rules",
            req(
                1,
                Command::LoadRules {
                    generation: 2,
                    text: "default_action = \"pass\"\n".into(),
                },
            ),
        ),
        (
            "flush_all",
            req(
                2,
                Command::FlushFlows {
                    filter: FlowFilter::default(),
                },
            ),
        ),
        (
            "list_flows",
            req(
                3,
                Command::ListFlows {
                    filter: filter.clone(),
                    cursor: None,
                    limit: 100,
                },
            ),
        ),
        (
            "list_flows_v6",
            req(
                3,
                Command::ListFlows {
                    filter: FlowFilter {
                        address: IpPrefix::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 128),
                        ..filter
                    },
                    cursor: Some(FlowCursor {
                        worker: 1,
                        slot: 4096,
                    }),
                    limit: 1,
                },
            ),
        ),
        ("ping", req(4, Command::Ping)),
        (
            "rules_applied",
            resp(1, Reply::RulesApplied { generation: 2 }),
        ),
        (
            "rules_rejected",
            resp(
                1,
                Reply::RulesRejected {
                    generation: 2,
                    message: "fuzz.toml:1: bad".into(),
                },
            ),
        ),
        ("flows_flushed", resp(2, Reply::FlowsFlushed { count: 9 })),
        (
            "flow_list",
            resp(
                3,
                Reply::FlowList {
                    entries: vec![
                        entry(FlowAddresses::V4 {
                            src: Ipv4Addr::new(10, 1, 11, 7),
                            dst: Ipv4Addr::new(198, 51, 100, 20),
                        }),
                        entry(FlowAddresses::V6 {
                            src: Ipv6Addr::LOCALHOST,
                            dst: Ipv6Addr::UNSPECIFIED,
                        }),
                    ],
                    next: Some(FlowCursor {
                        worker: 0,
                        slot: 77,
                    }),
                },
            ),
        ),
        ("pong", resp(4, Reply::Pong)),
        (
            "failed",
            resp(
                5,
                Reply::Failed {
                    message: "no".into(),
                },
            ),
        ),
        (
            "event",
            resp(
                0,
                Reply::Event {
                    message: "link up".into(),
                },
            ),
        ),
        ("packet_meta", [meta.encode().to_vec(), packet].concat()),
    ]
}

fn rules() -> Vec<(&'static str, Vec<u8>)> {
    let mut out: Vec<(&str, Vec<u8>)> = vec![
        (
            "example",
            include_bytes!("../../configs/rules.example.toml").to_vec(),
        ),
        (
            "demo",
            include_bytes!("../../configs/rules.demo.toml").to_vec(),
        ),
        (
            "pass_all",
            include_bytes!("../../configs/rules.pass-all.toml").to_vec(),
        ),
    ];
    if let Some(text) = crate::pipeline::RULE_SETS[0] {
        out.push(("pipeline", text.as_bytes().to_vec()));
    }
    out.push((
        "ranges_sets_endpoints",
        br#"default_action = "drop"
on_rule_change = "revalidate"

[sets]
clients = ["10.0.0.0/8", "2001:db8::/32"]

[[rule]]
id = "ports"
action = "pass"
protocol = "udp"
src = "$clients"
src_port = ["1000-2000", 53]
dst_port = "1-65535"
endpoint = ["vpce-0123456789abcdef0"]

[[rule]]
id = "icmp"
action = "reject"
protocol = "icmp"
icmp_type = [3, "8-9"]
icmp_code = 0
"#
        .to_vec(),
    ));
    out
}

fn responder_record(advance: u8, frame: &[u8]) -> Vec<u8> {
    let mut r = vec![advance];
    r.extend_from_slice(&(frame.len() as u16).to_be_bytes());
    r.extend_from_slice(frame);
    r
}

fn responder() -> Vec<(&'static str, Vec<u8>)> {
    let to = (HOST_IP, APPLIANCE_IP);
    let syn = to_appliance(&tcp4(to, (40123, 80), SYN, (7, 0), &[]));
    let ack = to_appliance(&tcp4(to, (40123, 80), ACK, (8, 1), &[]));
    let get = to_appliance(&tcp4(
        to,
        (40123, 80),
        ACK | PSH,
        (8, 1),
        b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
    ));
    let fin = to_appliance(&tcp4(to, (40123, 80), FIN | ACK, (42, 1), &[]));
    let other_port = to_appliance(&tcp4(to, (40124, 81), SYN, (7, 0), &[]));
    let udp = to_appliance(&udp4(to, (5000, 80), 10));
    let session = |flags: u8| {
        let mut v = vec![flags];
        for (i, f) in [&syn, &ack, &get, &fin].iter().enumerate() {
            v.extend(responder_record(if i == 3 { 5 } else { 0 }, f));
        }
        v
    };
    vec![
        ("http_healthy", session(1)),
        ("http_unhealthy", session(0)),
        ("tcp_healthy", session(3)),
        ("tcp_unhealthy", session(2)),
        (
            "stray",
            [
                vec![1],
                responder_record(0, &other_port),
                responder_record(0, &udp),
                responder_record(0, &arp_request()),
            ]
            .concat(),
        ),
        (
            "half_open_expires",
            [
                vec![1],
                responder_record(0, &syn),
                responder_record(20, &ack),
            ]
            .concat(),
        ),
    ]
}
