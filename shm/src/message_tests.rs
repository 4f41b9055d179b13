use super::*;
use proptest::prelude::*;

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn sample_flow() -> FlowEntry {
    FlowEntry {
        endpoint: 0x0123_4567_89ab_cdef,
        addresses: FlowAddresses::V4 {
            src: v4("10.0.0.1"),
            dst: v4("192.0.2.7"),
        },
        protocol: 6,
        src_port: 40000,
        dst_port: 443,
        state: "established".into(),
        expires_in_ns: 5_000_000_000,
    }
}

#[test]
fn ping_has_the_documented_bytes() {
    let bytes = Request {
        id: 0x0102,
        command: Command::Ping,
    }
    .to_bytes();
    assert_eq!(bytes, [1, 0x04, 0x02, 0x01, 0, 0, 0, 0, 0, 0]);
    let pong = Response {
        id: 0x0102,
        reply: Reply::Pong,
    }
    .to_bytes();
    assert_eq!(pong, [1, 0x85, 0x02, 0x01, 0, 0, 0, 0, 0, 0]);
}

#[test]
fn a_flow_list_has_the_documented_bytes() {
    let bytes = Response {
        id: 9,
        reply: Reply::FlowList {
            entries: vec![sample_flow()],
        },
    }
    .to_bytes();
    let mut want = vec![1, 0x84, 9, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0];
    want.extend_from_slice(&0x0123_4567_89ab_cdefu64.to_le_bytes());
    want.extend_from_slice(&[4, 10, 0, 0, 1, 192, 0, 2, 7, 6]);
    want.extend_from_slice(&40000u16.to_le_bytes());
    want.extend_from_slice(&443u16.to_le_bytes());
    want.extend_from_slice(&11u32.to_le_bytes());
    want.extend_from_slice(b"established");
    want.extend_from_slice(&5_000_000_000u64.to_le_bytes());
    assert_eq!(bytes, want);
}

#[test]
fn malformed_inputs_are_precise_errors() {
    let good = Request {
        id: 7,
        command: Command::LoadRules {
            generation: 3,
            text: "allow all".into(),
        },
    }
    .to_bytes();
    assert_eq!(
        Request::decode(&[]),
        Err(DecodeError::Truncated {
            field: "version",
            offset: 0,
            needed: 1,
            available: 0
        })
    );
    let mut v2 = good.clone();
    v2[0] = 2;
    assert_eq!(
        Request::decode(&v2),
        Err(DecodeError::Version {
            found: 2,
            expected: 1
        })
    );
    let mut unknown = good.clone();
    unknown[1] = 0x7f;
    assert_eq!(
        Request::decode(&unknown),
        Err(DecodeError::UnknownKind {
            what: "command",
            kind: 0x7f
        })
    );
    // A reply is not a command.
    assert!(matches!(
        Request::decode(
            &Response {
                id: 1,
                reply: Reply::Pong
            }
            .to_bytes()
        ),
        Err(DecodeError::UnknownKind { .. })
    ));
    assert!(matches!(
        Request::decode(&good[..good.len() - 1]),
        Err(DecodeError::Truncated {
            field: "rule text",
            needed: 9,
            available: 8,
            ..
        })
    ));
    let mut trailing = good.clone();
    trailing.push(0);
    assert_eq!(
        Request::decode(&trailing),
        Err(DecodeError::Trailing { count: 1 })
    );
    let mut bad_utf8 = good.clone();
    let last = bad_utf8.len() - 1;
    bad_utf8[last] = 0xff;
    assert_eq!(
        Request::decode(&bad_utf8),
        Err(DecodeError::Utf8 { field: "rule text" })
    );
    let flags = Request {
        id: 1,
        command: Command::FlushFlows {
            filter: FlowFilter::default(),
        },
    }
    .to_bytes();
    let mut bad_flags = flags.clone();
    bad_flags[10] = 0x10;
    assert_eq!(
        Request::decode(&bad_flags),
        Err(DecodeError::InvalidValue {
            field: "filter flags",
            value: 0x10
        })
    );
    let mut bad_family = flags;
    bad_family[10] = 1; // address present
    bad_family.extend_from_slice(&[5, 1, 2, 3, 4]);
    assert_eq!(
        Request::decode(&bad_family),
        Err(DecodeError::InvalidValue {
            field: "filter address",
            value: 5
        })
    );
    // A huge entry count with no entries behind it fails without allocating for it.
    let mut huge = vec![1, 0x84, 0, 0, 0, 0, 0, 0, 0, 0];
    huge.extend_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        Response::decode(&huge),
        Err(DecodeError::Truncated {
            field: "flow endpoint",
            ..
        })
    ));
    assert_eq!(Request::peek_id(&good), Some(7));
    assert_eq!(Request::peek_id(&good[..9]), None);
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u8; 16]>().prop_map(IpAddr::from),
    ]
}

fn filter() -> impl Strategy<Value = FlowFilter> {
    (
        proptest::option::of(ip()),
        any::<Option<u16>>(),
        any::<Option<u8>>(),
        any::<Option<u64>>(),
    )
        .prop_map(|(address, port, protocol, endpoint)| FlowFilter {
            address,
            port,
            protocol,
            endpoint,
        })
}

fn flow() -> impl Strategy<Value = FlowEntry> {
    let addrs = prop_oneof![
        any::<([u8; 4], [u8; 4])>().prop_map(|(s, d)| FlowAddresses::V4 {
            src: s.into(),
            dst: d.into()
        }),
        any::<([u8; 16], [u8; 16])>().prop_map(|(s, d)| FlowAddresses::V6 {
            src: s.into(),
            dst: d.into()
        }),
    ];
    (
        any::<u64>(),
        addrs,
        any::<u8>(),
        any::<u16>(),
        any::<u16>(),
        ".{0,20}",
        any::<u64>(),
    )
        .prop_map(
            |(endpoint, addresses, protocol, src_port, dst_port, state, expires_in_ns)| FlowEntry {
                endpoint,
                addresses,
                protocol,
                src_port,
                dst_port,
                state,
                expires_in_ns,
            },
        )
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        (any::<u64>(), ".{0,200}")
            .prop_map(|(generation, text)| Command::LoadRules { generation, text }),
        filter().prop_map(|filter| Command::FlushFlows { filter }),
        (filter(), any::<u32>()).prop_map(|(filter, max)| Command::ListFlows { filter, max }),
        Just(Command::Ping),
    ]
}

fn reply() -> impl Strategy<Value = Reply> {
    prop_oneof![
        any::<u64>().prop_map(|generation| Reply::RulesApplied { generation }),
        (any::<u64>(), ".{0,100}").prop_map(|(generation, message)| Reply::RulesRejected {
            generation,
            message
        }),
        any::<u64>().prop_map(|count| Reply::FlowsFlushed { count }),
        proptest::collection::vec(flow(), 0..8).prop_map(|entries| Reply::FlowList { entries }),
        Just(Reply::Pong),
        ".{0,100}".prop_map(|message| Reply::Failed { message }),
        ".{0,100}".prop_map(|message| Reply::Event { message }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn requests_round_trip(id in any::<u64>(), command in command()) {
        let req = Request { id, command };
        let bytes = req.to_bytes();
        prop_assert_eq!(Request::decode(&bytes), Ok(req));
        prop_assert_eq!(Request::peek_id(&bytes), Some(id));
        // Every strict prefix is an error, never a panic or a different message.
        for cut in 0..bytes.len() {
            prop_assert!(Request::decode(&bytes[..cut]).is_err());
        }
    }

    #[test]
    fn responses_round_trip(id in any::<u64>(), reply in reply()) {
        let resp = Response { id, reply };
        let bytes = resp.to_bytes();
        prop_assert_eq!(Response::decode(&bytes), Ok(resp));
        for cut in 0..bytes.len() {
            prop_assert!(Response::decode(&bytes[..cut]).is_err());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = Request::decode(&bytes);
        let _ = Response::decode(&bytes);
    }

    #[test]
    fn mutated_messages_never_panic(id in any::<u64>(), reply in reply(), at in any::<usize>(), byte in any::<u8>()) {
        let mut bytes = Response { id, reply }.to_bytes();
        let at = at % bytes.len();
        bytes[at] = byte;
        let _ = Response::decode(&bytes);
    }
}

#[test]
fn events_travel_with_the_reserved_id() {
    let e = Response::event("link down");
    assert_eq!(e.id, EVENT_ID);
    let back = Response::decode(&e.to_bytes()).unwrap();
    assert_eq!(
        back.reply,
        Reply::Event {
            message: "link down".into()
        }
    );
}
