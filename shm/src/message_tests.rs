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
    assert_eq!(bytes, [2, 0x04, 0x02, 0x01, 0, 0, 0, 0, 0, 0]);
    let pong = Response {
        id: 0x0102,
        reply: Reply::Pong,
    }
    .to_bytes();
    assert_eq!(pong, [2, 0x85, 0x02, 0x01, 0, 0, 0, 0, 0, 0]);
}

#[test]
fn a_flow_list_has_the_documented_bytes() {
    let bytes = Response {
        id: 9,
        reply: Reply::FlowList {
            entries: vec![sample_flow()],
            next: Some(FlowCursor {
                worker: 1,
                slot: 0x0203,
            }),
        },
    }
    .to_bytes();
    let mut want = vec![2, 0x84, 9, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0];
    want.extend_from_slice(&0x0123_4567_89ab_cdefu64.to_le_bytes());
    want.extend_from_slice(&[4, 10, 0, 0, 1, 192, 0, 2, 7, 6]);
    want.extend_from_slice(&40000u16.to_le_bytes());
    want.extend_from_slice(&443u16.to_le_bytes());
    want.extend_from_slice(&11u32.to_le_bytes());
    want.extend_from_slice(b"established");
    want.extend_from_slice(&5_000_000_000u64.to_le_bytes());
    want.extend_from_slice(&[1, 1, 0, 0, 0, 3, 2, 0, 0, 0, 0, 0, 0]);
    assert_eq!(bytes, want);
    assert_eq!(
        sample_flow().encoded_len(),
        bytes.len() - FLOW_LIST_OVERHEAD,
        "encoded_len bounds pages exactly"
    );
}

#[test]
fn a_paged_listing_request_has_the_documented_bytes() {
    let bytes = Request {
        id: 5,
        command: Command::ListFlows {
            filter: FlowFilter {
                address: Some("10.1.0.0/16".parse().unwrap()),
                state: Some("ESTABLISHED".into()),
                ..FlowFilter::default()
            },
            cursor: Some(FlowCursor { worker: 1, slot: 7 }),
            limit: 500,
        },
    }
    .to_bytes();
    let mut want = vec![2, 0x03, 5, 0, 0, 0, 0, 0, 0, 0];
    want.extend_from_slice(&[1 | 16, 4, 10, 1, 0, 0, 16]);
    want.extend_from_slice(&11u32.to_le_bytes());
    want.extend_from_slice(b"ESTABLISHED");
    want.extend_from_slice(&[1, 1, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0]);
    want.extend_from_slice(&500u32.to_le_bytes());
    assert_eq!(bytes, want);
    // A prefix longer than its address, a state name beyond the bound and
    // an unknown cursor flag are refused.
    let mut long_prefix = bytes.clone();
    long_prefix[16] = 33;
    assert_eq!(
        Request::decode(&long_prefix),
        Err(DecodeError::InvalidValue {
            field: "filter prefix length",
            value: 33
        })
    );
    let mut bad_cursor = bytes.clone();
    bad_cursor[32] = 2;
    assert_eq!(
        Request::decode(&bad_cursor),
        Err(DecodeError::InvalidValue {
            field: "cursor flag",
            value: 2
        })
    );
    let long_state = Request {
        id: 5,
        command: Command::FlushFlows {
            filter: FlowFilter {
                state: Some("X".repeat(MAX_STATE_NAME_LEN + 1)),
                ..FlowFilter::default()
            },
        },
    }
    .to_bytes();
    assert_eq!(
        Request::decode(&long_state),
        Err(DecodeError::InvalidValue {
            field: "filter state length",
            value: MAX_STATE_NAME_LEN as u64 + 1
        })
    );
}

#[test]
fn prefixes_and_cursors_parse_as_operators_write_them() {
    let p: IpPrefix = "2001:db8::/32".parse().unwrap();
    assert_eq!((p.addr, p.len), ("2001:db8::".parse().unwrap(), 32));
    assert_eq!("10.0.0.1".parse::<IpPrefix>().unwrap().len, 32);
    assert_eq!("::1".parse::<IpPrefix>().unwrap().len, 128);
    assert!("10.0.0.0/33".parse::<IpPrefix>().is_err());
    assert!("10.0.0.0/".parse::<IpPrefix>().is_err());
    assert!("ten".parse::<IpPrefix>().is_err());
    let c = FlowCursor {
        worker: 3,
        slot: 1_250_000,
    };
    assert_eq!(c.to_string(), "3:1250000");
    assert_eq!(c.to_string().parse::<FlowCursor>(), Ok(c));
    for bad in ["", "3", "3:", ":5", "-1:5", "3:5:6", "x:y"] {
        assert!(bad.parse::<FlowCursor>().is_err(), "{bad}");
    }
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
    let mut v1 = good.clone();
    v1[0] = 1;
    assert_eq!(
        Request::decode(&v1),
        Err(DecodeError::Version {
            found: 1,
            expected: 2
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
    bad_flags[10] = 0x20;
    assert_eq!(
        Request::decode(&bad_flags),
        Err(DecodeError::InvalidValue {
            field: "filter flags",
            value: 0x20
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
    let mut huge = vec![2, 0x84, 0, 0, 0, 0, 0, 0, 0, 0];
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
    let prefix = (ip(), any::<u8>())
        .prop_map(|(addr, len)| IpPrefix::new(addr, len % 129).unwrap_or(IpPrefix::host(addr)));
    (
        proptest::option::of(prefix),
        any::<Option<u16>>(),
        any::<Option<u8>>(),
        any::<Option<u64>>(),
        proptest::option::of("[A-Z_]{0,32}"),
    )
        .prop_map(|(address, port, protocol, endpoint, state)| FlowFilter {
            address,
            port,
            protocol,
            endpoint,
            state,
        })
}

fn cursor() -> impl Strategy<Value = Option<FlowCursor>> {
    proptest::option::of(
        (any::<u32>(), any::<u64>()).prop_map(|(worker, slot)| FlowCursor { worker, slot }),
    )
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
        (filter(), cursor(), any::<u32>()).prop_map(|(filter, cursor, limit)| {
            Command::ListFlows {
                filter,
                cursor,
                limit,
            }
        }),
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
        (proptest::collection::vec(flow(), 0..8), cursor())
            .prop_map(|(entries, next)| Reply::FlowList { entries, next }),
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
        if let Reply::FlowList { entries, next } = &resp.reply {
            let entries: usize = entries.iter().map(FlowEntry::encoded_len).sum();
            let cursor_absent = if next.is_none() { 12 } else { 0 };
            prop_assert_eq!(bytes.len(), FLOW_LIST_OVERHEAD + entries - cursor_absent);
        }
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
