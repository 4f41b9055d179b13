//! The command path end to end through a real segment, the way the two
//! binaries use it: control attaches, ships a multi-MiB rule file, the
//! dataplane main lcore decodes it and replies with the same request id.

use std::time::Duration;

use tollgate_shm::message::{Command, FlowFilter, Reply, Request, Response};
use tollgate_shm::{PushError, Segment, SegmentConfig, ShmError};

struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(tollgate_shm::segment_path(&self.0).unwrap());
    }
}

#[test]
fn a_rule_file_of_several_mib_travels_and_is_acknowledged() {
    let name = format!("cmd-{}", std::process::id());
    let _cleanup = Cleanup(name.clone());
    let dataplane = Segment::create(&name, &SegmentConfig::default()).unwrap();
    let control = Segment::attach_wait(&name, Duration::from_secs(1)).unwrap();

    let mut commands = control.command_ring_producer().unwrap();
    let mut replies = control.reply_ring_consumer().unwrap();
    let mut incoming = dataplane.command_ring_consumer().unwrap();
    let mut outgoing = dataplane.reply_ring_producer().unwrap();

    let text: String = (0..60_000)
        .map(|i| format!("[[rule]]\nid = \"r{i}\"\naction = \"pass\"\n\n"))
        .collect();
    let text_len = text.len();
    assert!(text_len > 2 << 20, "{text_len} bytes");
    let requests = [
        Request {
            id: 41,
            command: Command::LoadRules {
                generation: 2,
                text,
            },
        },
        Request {
            id: 42,
            command: Command::ListFlows {
                filter: FlowFilter {
                    port: Some(443),
                    ..FlowFilter::default()
                },
                cursor: None,
                limit: 10,
            },
        },
        Request {
            id: 43,
            command: Command::Ping,
        },
    ];
    let mut buf = Vec::new();
    for req in &requests {
        buf.clear();
        req.encode(&mut buf);
        commands.push(&buf).unwrap();
    }

    // Dataplane main lcore: decode and answer each command.
    let mut msg = Vec::new();
    let mut seen = Vec::new();
    while incoming.pop_to_vec(&mut msg).unwrap() {
        let req = Request::decode(&msg).unwrap();
        let reply = match &req.command {
            Command::LoadRules { generation, text } => {
                assert_eq!(text.len(), text_len);
                Reply::RulesApplied {
                    generation: *generation,
                }
            }
            Command::ListFlows { .. } => Reply::FlowList {
                entries: vec![],
                next: None,
            },
            Command::Ping => Reply::Pong,
            Command::FlushFlows { .. } => Reply::FlowsFlushed { count: 0 },
        };
        seen.push(req.id);
        outgoing
            .push(&Response { id: req.id, reply }.to_bytes())
            .unwrap();
    }
    assert_eq!(seen, vec![41, 42, 43]);

    // Control: replies come back in order with the ids echoed.
    let mut got = Vec::new();
    while replies.pop_to_vec(&mut msg).unwrap() {
        got.push(Response::decode(&msg).unwrap());
    }
    assert_eq!(
        got,
        vec![
            Response {
                id: 41,
                reply: Reply::RulesApplied { generation: 2 }
            },
            Response {
                id: 42,
                reply: Reply::FlowList {
                    entries: vec![],
                    next: None
                }
            },
            Response {
                id: 43,
                reply: Reply::Pong
            },
        ]
    );

    // A rule file larger than the command ring can ever carry is refused up front.
    let huge = Request {
        id: 44,
        command: Command::LoadRules {
            generation: 3,
            text: "x".repeat(16 << 20),
        },
    };
    assert!(matches!(
        commands.push(&huge.to_bytes()),
        Err(PushError::TooLarge { max, .. }) if max == (16 << 20) - 4
    ));
}

#[test]
fn attach_wait_gives_up_with_the_not_running_error() {
    let name = format!("cmd-absent-{}", std::process::id());
    let err = Segment::attach_wait(&name, Duration::from_millis(30)).unwrap_err();
    assert!(matches!(err, ShmError::NotFound { .. }), "{err}");
}
