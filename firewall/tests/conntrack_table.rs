//! Connection tracking as a table: each row is a packet sequence with the
//! verdict of every packet and the flow's state after it.

mod common;

use common::*;
use tollgate_firewall::{
    DropReason, FirewallConfig, FlowAction, FlowState, Timeouts, Verdict, GWLB_IDLE_TIMEOUTS,
};
use tollgate_wire::InnerSummary;

use FlowState::*;
use Verdict::Pass;

const fn drop(r: DropReason) -> Verdict {
    Verdict::Drop(r)
}

fn c4() -> Addr {
    (v4(10, 1, 0, 10), 40000)
}
fn s4() -> Addr {
    (v4(10, 2, 0, 20), 443)
}
fn c6() -> Addr {
    (v6(0x10), 40000)
}
fn s6() -> Addr {
    (v6(0x20), 443)
}
fn router4() -> u128 {
    v4(10, 254, 0, 1)
}

const ISN_C: u32 = 1000;
const ISN_S: u32 = 5000;

/// SYN, SYN/ACK, ACK starting at `at` (ms), one ms apart.
fn handshake(c: Addr, s: Addr, at: u64) -> Vec<Step> {
    vec![
        send(at, tcp(c, s, SYN, ISN_C, 0, 0), Pass, Some(TcpSynSent)),
        send(
            at + 1,
            tcp(s, c, SYN | ACK, ISN_S, ISN_C + 1, 0),
            Pass,
            Some(TcpSynRecv),
        ),
        send(
            at + 2,
            tcp(c, s, ACK, ISN_C + 1, ISN_S + 1, 0),
            Pass,
            Some(TcpEstablished),
        ),
    ]
}

fn cat(parts: Vec<Vec<Step>>) -> Vec<Step> {
    parts.into_iter().flatten().collect()
}

struct Row {
    name: &'static str,
    config: FirewallConfig,
    rules: fn() -> TestRules,
    steps: Vec<Step>,
}

fn row(name: &'static str, steps: Vec<Step>) -> Row {
    Row {
        name,
        config: small_config(),
        rules: TestRules::pass_all,
        steps,
    }
}

fn rows() -> Vec<Row> {
    let (c, s) = (c4(), s4());
    let a = ISN_C + 1;
    let b = ISN_S + 1;
    let mut rows = vec![
        row(
            "tcp fast open: the SYN carries data, the SYN/ACK acknowledges it",
            vec![
                send(0, tcp(c, s, SYN, ISN_C, 0, 20), Pass, Some(TcpSynSent)),
                send(
                    1,
                    tcp(s, c, SYN | ACK, ISN_S, ISN_C + 21, 0),
                    Pass,
                    Some(TcpSynRecv),
                ),
                send(
                    2,
                    tcp(c, s, ACK, ISN_C + 21, ISN_S + 1, 0),
                    Pass,
                    Some(TcpEstablished),
                ),
            ],
        ),
        row(
            "tcp fast open: a RST may acknowledge the SYN's data",
            vec![
                send(0, tcp(c, s, SYN, ISN_C, 0, 20), Pass, Some(TcpSynSent)),
                send(
                    1,
                    tcp(s, c, RST | ACK, 0, ISN_C + 21, 0),
                    Pass,
                    Some(TcpClose),
                ),
            ],
        ),
        row(
            "a SYN/ACK acknowledging before the SYN is invalid",
            vec![
                send(0, tcp(c, s, SYN, ISN_C, 0, 0), Pass, Some(TcpSynSent)),
                send(
                    1,
                    tcp(s, c, SYN | ACK, ISN_S, ISN_C, 0),
                    drop(DropReason::TcpInvalid),
                    Some(TcpSynSent),
                ),
            ],
        ),
        row(
            "tcp handshake and data both ways",
            cat(vec![
                handshake(c, s, 0),
                vec![
                    send(
                        10,
                        tcp(c, s, PSH | ACK, a, b, 100),
                        Pass,
                        Some(TcpEstablished),
                    ),
                    send(
                        11,
                        tcp(s, c, PSH | ACK, b, a + 100, 1400),
                        Pass,
                        Some(TcpEstablished),
                    ),
                ],
            ]),
        ),
        row(
            "fin teardown, initiator closes first",
            cat(vec![
                handshake(c, s, 0),
                vec![
                    send(10, tcp(c, s, FIN | ACK, a, b, 0), Pass, Some(TcpFinWait)),
                    // An ACK that does not cover the FIN changes nothing.
                    send(11, tcp(s, c, ACK, b, a, 0), Pass, Some(TcpFinWait)),
                    send(12, tcp(s, c, ACK, b, a + 1, 0), Pass, Some(TcpCloseWait)),
                    send(
                        13,
                        tcp(s, c, PSH | ACK, b, a + 1, 100),
                        Pass,
                        Some(TcpCloseWait),
                    ),
                    send(
                        14,
                        tcp(s, c, FIN | ACK, b + 100, a + 1, 0),
                        Pass,
                        Some(TcpLastAck),
                    ),
                    // The last ACK must come from the first closer.
                    send(
                        15,
                        tcp(s, c, ACK, b + 101, a + 1, 0),
                        Pass,
                        Some(TcpLastAck),
                    ),
                    send(
                        16,
                        tcp(c, s, ACK, a + 1, b + 101, 0),
                        Pass,
                        Some(TcpTimeWait),
                    ),
                ],
            ]),
        ),
        row(
            "fin teardown, responder closes first",
            cat(vec![
                handshake(c, s, 0),
                vec![
                    send(10, tcp(s, c, FIN | ACK, b, a, 0), Pass, Some(TcpFinWait)),
                    send(11, tcp(c, s, ACK, a, b + 1, 0), Pass, Some(TcpCloseWait)),
                    send(
                        12,
                        tcp(c, s, FIN | ACK, a, b + 1, 0),
                        Pass,
                        Some(TcpLastAck),
                    ),
                    send(13, tcp(s, c, ACK, b + 1, a + 1, 0), Pass, Some(TcpTimeWait)),
                ],
            ]),
        ),
        row(
            "simultaneous close",
            cat(vec![
                handshake(c, s, 0),
                vec![
                    send(10, tcp(c, s, FIN | ACK, a, b, 0), Pass, Some(TcpFinWait)),
                    send(10, tcp(s, c, FIN | ACK, b, a, 0), Pass, Some(TcpLastAck)),
                    send(11, tcp(c, s, ACK, a + 1, b + 1, 0), Pass, Some(TcpTimeWait)),
                ],
            ]),
        ),
        row(
            "syn on time_wait reopens the flow",
            cat(vec![
                handshake(c, s, 0),
                vec![
                    send(10, tcp(c, s, FIN | ACK, a, b, 0), Pass, Some(TcpFinWait)),
                    send(
                        10,
                        tcp(s, c, FIN | ACK, b, a + 1, 0),
                        Pass,
                        Some(TcpLastAck),
                    ),
                    send(11, tcp(c, s, ACK, a + 1, b + 1, 0), Pass, Some(TcpTimeWait)),
                    send(20, tcp(c, s, SYN, 9000, 0, 0), Pass, Some(TcpSynSent)),
                    send(
                        21,
                        tcp(s, c, SYN | ACK, 7000, 9001, 0),
                        Pass,
                        Some(TcpSynRecv),
                    ),
                ],
            ]),
        ),
        row(
            "rst teardown from the responder",
            cat(vec![
                handshake(c, s, 0),
                vec![
                    send(10, tcp(s, c, RST, b, 0, 0), Pass, Some(TcpClose)),
                    // Late segments of a reset flow still pass on state.
                    send(11, tcp(c, s, ACK, a, b, 0), Pass, Some(TcpClose)),
                    send(12, tcp(c, s, SYN, 9000, 0, 0), Pass, Some(TcpSynSent)),
                ],
            ]),
        ),
        row(
            "rst in syn_sent must acknowledge the syn",
            vec![
                send(0, tcp(c, s, SYN, ISN_C, 0, 0), Pass, Some(TcpSynSent)),
                send(
                    1,
                    tcp(s, c, RST, 0, 0, 0),
                    drop(DropReason::TcpInvalidRst),
                    Some(TcpSynSent),
                ),
                send(
                    2,
                    tcp(s, c, RST | ACK, 0, ISN_C, 0),
                    drop(DropReason::TcpInvalidRst),
                    Some(TcpSynSent),
                ),
                send(
                    2,
                    tcp(s, c, RST | ACK, 0, ISN_C + 5, 0),
                    drop(DropReason::TcpInvalidRst),
                    Some(TcpSynSent),
                ),
                send(
                    3,
                    tcp(s, c, RST | ACK, 0, ISN_C + 1, 0),
                    Pass,
                    Some(TcpClose),
                ),
            ],
        ),
        row(
            "rst in syn_sent from the initiator",
            vec![
                send(0, tcp(c, s, SYN, ISN_C, 0, 0), Pass, Some(TcpSynSent)),
                send(1, tcp(c, s, RST, ISN_C + 1, 0, 0), Pass, Some(TcpClose)),
            ],
        ),
        row(
            "handshake segments must acknowledge the right sequence",
            vec![
                send(0, tcp(c, s, SYN, ISN_C, 0, 0), Pass, Some(TcpSynSent)),
                send(
                    1,
                    tcp(c, s, ACK, a, 0, 0),
                    drop(DropReason::TcpInvalid),
                    Some(TcpSynSent),
                ),
                send(
                    2,
                    tcp(s, c, SYN | ACK, ISN_S, ISN_C, 0),
                    drop(DropReason::TcpInvalid),
                    Some(TcpSynSent),
                ),
                send(
                    2,
                    tcp(s, c, SYN | ACK, ISN_S, ISN_C + (1 << 24), 0),
                    drop(DropReason::TcpInvalid),
                    Some(TcpSynSent),
                ),
                send(3, tcp(s, c, SYN | ACK, ISN_S, a, 0), Pass, Some(TcpSynRecv)),
                send(
                    4,
                    tcp(c, s, ACK, a, ISN_S, 0),
                    drop(DropReason::TcpInvalid),
                    Some(TcpSynRecv),
                ),
                send(
                    4,
                    tcp(c, s, ACK, a, ISN_S + (1 << 24), 0),
                    drop(DropReason::TcpInvalid),
                    Some(TcpSynRecv),
                ),
                send(5, tcp(c, s, ACK, a, b, 0), Pass, Some(TcpEstablished)),
            ],
        ),
        row(
            "invalid flag combinations never open a flow",
            vec![
                send(
                    0,
                    tcp(c, s, SYN | FIN, ISN_C, 0, 0),
                    drop(DropReason::TcpInvalid),
                    None,
                ),
                send(
                    1,
                    tcp(c, s, 0, ISN_C, 0, 0),
                    drop(DropReason::TcpInvalid),
                    None,
                ),
                send(
                    2,
                    tcp(c, s, FIN, ISN_C, 0, 0),
                    drop(DropReason::TcpInvalid),
                    None,
                ),
            ],
        ),
        row(
            "mid-stream pickup of an ack",
            vec![
                send(
                    0,
                    tcp(c, s, PSH | ACK, a, b, 100),
                    Pass,
                    Some(TcpUnconfirmed),
                ),
                // More from the same side confirms nothing.
                send(
                    1,
                    tcp(c, s, PSH | ACK, a + 100, b, 100),
                    Pass,
                    Some(TcpUnconfirmed),
                ),
                send(1, tcp(s, c, ACK, b, a + 200, 0), Pass, Some(TcpEstablished)),
                send(
                    2,
                    tcp(c, s, FIN | ACK, a + 200, b, 0),
                    Pass,
                    Some(TcpFinWait),
                ),
            ],
        ),
        row(
            "mid-stream pickup of a fin",
            vec![
                send(0, tcp(s, c, FIN | ACK, b, a, 0), Pass, Some(TcpFinWait)),
                send(1, tcp(c, s, ACK, a, b + 1, 0), Pass, Some(TcpCloseWait)),
            ],
        ),
        row(
            "mid-stream pickup of a syn/ack takes the receiver as initiator",
            vec![
                send(0, tcp(s, c, SYN | ACK, ISN_S, a, 0), Pass, Some(TcpSynRecv)),
                send(1, tcp(c, s, ACK, a, b, 0), Pass, Some(TcpEstablished)),
            ],
        ),
        row(
            "a rst of an unknown flow passes without state",
            vec![send(0, tcp(c, s, RST, a, 0, 0), Pass, None)],
        ),
        row(
            "udp request then response",
            vec![
                send(0, udp((c.0, 5353), (s.0, 53)), Pass, Some(UdpSingle)),
                send(1, udp((c.0, 5353), (s.0, 53)), Pass, Some(UdpSingle)),
                send(2, udp((s.0, 53), (c.0, 5353)), Pass, Some(UdpStream)),
                send(3, udp((c.0, 5353), (s.0, 53)), Pass, Some(UdpStream)),
            ],
        ),
        row(
            "icmp echo: request opens, reply matches by identifier",
            vec![
                send(0, echo(c.0, s.0, 77, true), Pass, Some(IcmpEcho)),
                send(1, echo(s.0, c.0, 77, false), Pass, Some(IcmpEcho)),
                send(
                    2,
                    echo(s.0, c.0, 78, false),
                    drop(DropReason::UnsolicitedEchoReply),
                    None,
                ),
            ],
        ),
        row(
            "icmp errors: related to the quoted flow or dropped",
            vec![
                send(0, tcp(c, s, SYN, ISN_C, 0, 0), Pass, Some(TcpSynSent)),
                send(
                    1,
                    icmp_error(router4(), c.0, &tcp(c, s, SYN, ISN_C, 0, 0)),
                    Pass,
                    None,
                ),
                // From the server side too: the quoted packet is the SYN/ACK.
                send(
                    2,
                    icmp_error(router4(), s.0, &tcp(s, c, SYN | ACK, 1, 1, 0)),
                    Pass,
                    None,
                ),
                // Quoting another port: no such flow.
                send(
                    3,
                    icmp_error(router4(), c.0, &tcp(c, (s.0, 444), SYN, 1, 0, 0)),
                    drop(DropReason::IcmpErrorUnrelated),
                    None,
                ),
                // Sent to the receiver of the quoted packet, not its sender.
                send(
                    4,
                    icmp_error(router4(), s.0, &tcp(c, s, SYN, ISN_C, 0, 0)),
                    drop(DropReason::IcmpErrorUnrelated),
                    None,
                ),
                // Errors do not change the flow.
                look(5, tcp(c, s, SYN, 0, 0, 0), Some(TcpSynSent)),
                // An error about an echo flow.
                send(6, echo(c.0, s.0, 9, true), Pass, Some(IcmpEcho)),
                send(
                    7,
                    icmp_error(router4(), c.0, &echo(c.0, s.0, 9, true)),
                    Pass,
                    None,
                ),
            ],
        ),
        row(
            "icmpv6 errors and ipv6 flows",
            cat(vec![
                handshake(c6(), s6(), 0),
                vec![
                    send(
                        10,
                        tcp(s6(), c6(), PSH | ACK, b, a, 10),
                        Pass,
                        Some(TcpEstablished),
                    ),
                    send(
                        11,
                        icmp_error(v6(0xfe), c6().0, &tcp(c6(), s6(), ACK, a, b, 0)),
                        Pass,
                        None,
                    ),
                    send(
                        12,
                        icmp_error(v6(0xfe), c6().0, &udp((c6().0, 1), (s6().0, 2))),
                        drop(DropReason::IcmpErrorUnrelated),
                        None,
                    ),
                    send(13, echo(c6().0, s6().0, 5, true), Pass, Some(IcmpEcho)),
                    send(14, echo(s6().0, c6().0, 5, false), Pass, Some(IcmpEcho)),
                    send(15, udp((c6().0, 9), (s6().0, 53)), Pass, Some(UdpSingle)),
                ],
            ]),
        ),
        row(
            "an ipv4 flow and an ipv6 flow never meet",
            vec![
                send(0, tcp(c, s, SYN, ISN_C, 0, 0), Pass, Some(TcpSynSent)),
                look(0, tcp(c6(), s6(), SYN, ISN_C, 0, 0), None),
            ],
        ),
        row(
            "endpoint scoping: one 5-tuple under two endpoints is two flows",
            vec![
                send_on(1, 0, tcp(c, s, SYN, ISN_C, 0, 0), Pass, Some(TcpSynSent)),
                send_on(2, 1, tcp(c, s, SYN, ISN_C, 0, 0), Pass, Some(TcpSynSent)),
                send_on(
                    1,
                    2,
                    tcp(s, c, SYN | ACK, ISN_S, a, 0),
                    Pass,
                    Some(TcpSynRecv),
                ),
                Step {
                    verdict: None,
                    ..send_on(2, 2, tcp(c, s, SYN, 0, 0, 0), Pass, Some(TcpSynSent))
                },
            ],
        ),
        row(
            "other protocols by address pair",
            vec![
                send(0, other(c.0, s.0, 47), Pass, Some(Generic)),
                send(1, other(s.0, c.0, 47), Pass, Some(Generic)),
                look(1, other(c.0, s.0, 50), None),
                // A TCP or UDP summary without its header opens nothing.
                send(2, other(c.0, s.0, 6), drop(DropReason::Inconsistent), None),
                send(2, other(c.0, s.0, 17), drop(DropReason::Inconsistent), None),
            ],
        ),
        row(
            "later fragments are dropped",
            vec![send(
                0,
                later_fragment(udp((c.0, 1), (s.0, 2))),
                drop(DropReason::Fragment),
                None,
            )],
        ),
    ];

    rows.push(Row {
        name: "mid-stream pickup off",
        config: FirewallConfig {
            mid_stream_pickup: false,
            ..small_config()
        },
        rules: TestRules::pass_all,
        steps: vec![
            send(
                0,
                tcp(c, s, ACK, a, b, 0),
                drop(DropReason::MidStreamPickupOff),
                None,
            ),
            send(
                1,
                tcp(c, s, FIN | ACK, a, b, 0),
                drop(DropReason::MidStreamPickupOff),
                None,
            ),
            send(
                2,
                tcp(s, c, SYN | ACK, b, a, 0),
                drop(DropReason::MidStreamPickupOff),
                None,
            ),
            send(
                3,
                tcp(c, s, RST, a, 0, 0),
                drop(DropReason::MidStreamPickupOff),
                None,
            ),
            send(4, tcp(c, s, SYN, ISN_C, 0, 0), Pass, Some(TcpSynSent)),
        ],
    });
    rows.push(Row {
        name: "pickup tries the reverse direction when the sender's is denied",
        config: small_config(),
        rules: || TestRules::tcp_port(443),
        steps: vec![
            send(
                0,
                tcp(s, c, PSH | ACK, b, a, 100),
                Pass,
                Some(TcpUnconfirmed),
            ),
            send(1, tcp(c, s, ACK, a, b + 100, 0), Pass, Some(TcpEstablished)),
            // A flow allowed in neither direction stays denied.
            send(
                2,
                tcp((s.0, 22), (c.0, 5000), ACK, 1, 1, 0),
                drop(DropReason::RuleDenied),
                Some(Denied),
            ),
        ],
    });
    rows.push(Row {
        name: "a pickup is never promoted by a syn from either side",
        config: small_config(),
        rules: || TestRules::tcp_port(443),
        steps: vec![
            // The outside host (s, port 443) speaks first: the reverse try
            // adopts the flow with the inside host as its initiator.
            send(0, tcp(s, c, ACK, b, a, 0), Pass, Some(TcpUnconfirmed)),
            // Its SYN would open the inside host's port to it.
            send(
                1,
                tcp(s, c, SYN, ISN_S, 0, 0),
                drop(DropReason::TcpInvalid),
                Some(TcpUnconfirmed),
            ),
            send(
                2,
                tcp(c, s, SYN | ACK, ISN_C, ISN_S + 1, 0),
                drop(DropReason::TcpInvalid),
                Some(TcpUnconfirmed),
            ),
            send(
                3,
                tcp(c, s, SYN, ISN_C, 0, 0),
                drop(DropReason::TcpInvalid),
                Some(TcpUnconfirmed),
            ),
        ],
    });
    // tcp_conntracks in both directions: a SYN from the responder and a
    // SYN/ACK from the initiator are invalid in every state but a
    // simultaneous open; the initiator's SYN on a live flow is ignored
    // (passed, no state change), as Linux does.
    let strict = |name: &'static str, steps: Vec<Step>| Row {
        name,
        config: small_config(),
        rules: || TestRules::tcp_port(443),
        steps,
    };
    let fin_from_c = send(10, tcp(c, s, FIN | ACK, a, b, 0), Pass, Some(TcpFinWait));
    let responder_syn = |at: u64, state: FlowState| {
        send(
            at,
            tcp(s, c, SYN, 7000, 0, 0),
            drop(DropReason::TcpInvalid),
            Some(state),
        )
    };
    rows.push(strict(
        "the responder's syn after a normal handshake is invalid",
        cat(vec![
            handshake(c, s, 0),
            vec![
                responder_syn(10, TcpEstablished),
                // Nor does it reach the inside host by a SYN/ACK from it.
                send(
                    11,
                    tcp(c, s, SYN | ACK, 9000, 7001, 0),
                    drop(DropReason::TcpInvalid),
                    Some(TcpEstablished),
                ),
                send(12, tcp(c, s, ACK, a, b, 0), Pass, Some(TcpEstablished)),
            ],
        ]),
    ));
    rows.push(strict(
        "the responder's syn is invalid while closing",
        cat(vec![
            handshake(c, s, 0),
            vec![
                fin_from_c,
                responder_syn(11, TcpFinWait),
                send(12, tcp(s, c, ACK, b, a + 1, 0), Pass, Some(TcpCloseWait)),
                responder_syn(13, TcpCloseWait),
                send(
                    14,
                    tcp(s, c, FIN | ACK, b, a + 1, 0),
                    Pass,
                    Some(TcpLastAck),
                ),
                responder_syn(15, TcpLastAck),
                send(16, tcp(c, s, ACK, a + 1, b + 1, 0), Pass, Some(TcpTimeWait)),
                responder_syn(17, TcpTimeWait),
            ],
        ]),
    ));
    rows.push(strict(
        "the responder's syn is invalid after a reset",
        cat(vec![
            handshake(c, s, 0),
            vec![
                send(10, tcp(c, s, RST, a, 0, 0), Pass, Some(TcpClose)),
                responder_syn(11, TcpClose),
                // The initiator's SYN reopens through the rules.
                send(12, tcp(c, s, SYN, 9000, 0, 0), Pass, Some(TcpSynSent)),
            ],
        ]),
    ));
    rows.push(strict(
        "the initiator's syn on an established flow is invalid",
        cat(vec![
            handshake(c, s, 0),
            vec![
                send(
                    10,
                    tcp(c, s, SYN, 9000, 0, 0),
                    drop(DropReason::TcpInvalid),
                    Some(TcpEstablished),
                ),
                send(11, tcp(c, s, ACK, a, b, 0), Pass, Some(TcpEstablished)),
            ],
        ]),
    ));
    rows.push(strict(
        "the initiator's syn reopens a closing flow through the rules",
        cat(vec![
            handshake(c, s, 0),
            vec![
                send(10, tcp(c, s, FIN | ACK, a, b, 0), Pass, Some(TcpFinWait)),
                send(11, tcp(c, s, SYN, 9000, 0, 0), Pass, Some(TcpSynSent)),
            ],
        ]),
    ));
    rows.push(strict(
        "a syn/ack from the initiator is invalid in the handshake",
        vec![
            send(0, tcp(c, s, SYN, ISN_C, 0, 0), Pass, Some(TcpSynSent)),
            send(
                1,
                tcp(c, s, SYN | ACK, ISN_C, ISN_S + 1, 0),
                drop(DropReason::TcpInvalid),
                Some(TcpSynSent),
            ),
            send(2, tcp(s, c, SYN | ACK, ISN_S, a, 0), Pass, Some(TcpSynRecv)),
            send(
                3,
                tcp(c, s, SYN | ACK, ISN_C, b, 0),
                drop(DropReason::TcpInvalid),
                Some(TcpSynRecv),
            ),
            send(4, tcp(c, s, ACK, a, b, 0), Pass, Some(TcpEstablished)),
        ],
    ));
    rows.push(row(
        "simultaneous open: both sides send a syn, then a syn/ack",
        vec![
            send(0, tcp(c, s, SYN, ISN_C, 0, 0), Pass, Some(TcpSynSent)),
            send(1, tcp(s, c, SYN, ISN_S, 0, 0), Pass, Some(TcpSynSent)),
            send(2, tcp(c, s, SYN | ACK, ISN_C, b, 0), Pass, Some(TcpSynRecv)),
            send(3, tcp(s, c, SYN | ACK, ISN_S, a, 0), Pass, Some(TcpSynRecv)),
            send(4, tcp(c, s, ACK, a, b, 0), Pass, Some(TcpEstablished)),
        ],
    ));
    // Sequence windows (tcp_in_window). After `handshake` each side has
    // sent its ISN + 1 and advertised 65535 bytes, unscaled.
    let oow = drop(DropReason::TcpOutOfWindow);
    rows.push(row(
        "a blind rst or fin outside the window is dropped and changes nothing",
        cat(vec![
            handshake(c, s, 0),
            vec![
                send(
                    10,
                    tcp(s, c, RST, b + 100_000, 0, 0),
                    oow,
                    Some(TcpEstablished),
                ),
                send(
                    11,
                    tcp(s, c, RST, b.wrapping_sub(100_000), 0, 0),
                    oow,
                    Some(TcpEstablished),
                ),
                send(
                    12,
                    tcp(s, c, RST | ACK, b, a + 5000, 0),
                    oow,
                    Some(TcpEstablished),
                ),
                send(
                    13,
                    tcp(s, c, FIN | ACK, b + 100_000, a, 0),
                    oow,
                    Some(TcpEstablished),
                ),
                send(14, tcp(c, s, ACK, a, b, 0), Pass, Some(TcpEstablished)),
                // In the window: the connection is reset.
                send(15, tcp(s, c, RST, b + 1000, 0, 0), Pass, Some(TcpClose)),
            ],
        ]),
    ));
    rows.push(row(
        "injected data and acknowledgements of unsent data are dropped",
        cat(vec![
            handshake(c, s, 0),
            vec![
                // Past the receiver's window.
                send(
                    10,
                    tcp(s, c, PSH | ACK, b + 70_000, a, 100),
                    oow,
                    Some(TcpEstablished),
                ),
                // Acknowledging data the other side never sent.
                send(
                    11,
                    tcp(c, s, PSH | ACK, a, b + 1, 100),
                    oow,
                    Some(TcpEstablished),
                ),
                // Acknowledging data older than a window.
                send(
                    12,
                    tcp(s, c, PSH | ACK, b, a.wrapping_sub(70_000), 100),
                    oow,
                    Some(TcpEstablished),
                ),
                send(
                    13,
                    tcp(s, c, PSH | ACK, b, a, 100),
                    Pass,
                    Some(TcpEstablished),
                ),
            ],
        ]),
    ));
    rows.push(row(
        "retransmissions, keepalives, window probes and updates pass",
        cat(vec![
            handshake(c, s, 0),
            vec![
                send(
                    10,
                    tcp(c, s, PSH | ACK, a, b, 1000),
                    Pass,
                    Some(TcpEstablished),
                ),
                // The same segment again, and part of it.
                send(
                    11,
                    tcp(c, s, PSH | ACK, a, b, 1000),
                    Pass,
                    Some(TcpEstablished),
                ),
                send(
                    12,
                    tcp(c, s, PSH | ACK, a + 500, b, 500),
                    Pass,
                    Some(TcpEstablished),
                ),
                // A keepalive one below the next sequence number, bare and
                // with one byte, and its answer.
                send(
                    13,
                    tcp(c, s, ACK, a + 999, b, 0),
                    Pass,
                    Some(TcpEstablished),
                ),
                send(
                    14,
                    tcp(c, s, ACK, a + 999, b, 1),
                    Pass,
                    Some(TcpEstablished),
                ),
                send(
                    15,
                    tcp(s, c, ACK, b, a + 1000, 0),
                    Pass,
                    Some(TcpEstablished),
                ),
                // A zero window, a probe of one byte, then the update.
                send(
                    16,
                    tcp_win(s, c, ACK, b, a + 1000, 0, 0, None),
                    Pass,
                    Some(TcpEstablished),
                ),
                send(
                    17,
                    tcp(c, s, ACK, a + 1000, b, 1),
                    Pass,
                    Some(TcpEstablished),
                ),
                send(
                    18,
                    tcp_win(s, c, ACK, b, a + 1000, 0, 65535, None),
                    Pass,
                    Some(TcpEstablished),
                ),
                // A duplicate ACK, and data up to the window's edge.
                send(
                    19,
                    tcp(s, c, ACK, b, a + 1000, 0),
                    Pass,
                    Some(TcpEstablished),
                ),
                send(
                    20,
                    tcp(c, s, PSH | ACK, a + 1000 + 64_535 - 1400, b, 1400),
                    Pass,
                    Some(TcpEstablished),
                ),
            ],
        ]),
    ));
    let scaled_handshake = |responder_scale: Option<u8>| {
        vec![
            send(
                0,
                tcp_win(c, s, SYN, ISN_C, 0, 0, 64240, Some(7)),
                Pass,
                Some(TcpSynSent),
            ),
            send(
                1,
                tcp_win(s, c, SYN | ACK, ISN_S, a, 0, 65535, responder_scale),
                Pass,
                Some(TcpSynRecv),
            ),
            send(
                2,
                tcp_win(c, s, ACK, a, b, 0, 502, None),
                Pass,
                Some(TcpEstablished),
            ),
            // The responder opens its window: 1024 << 7 bytes if scaled.
            send(
                3,
                tcp_win(s, c, ACK, b, a, 0, 1024, None),
                Pass,
                Some(TcpEstablished),
            ),
        ]
    };
    rows.push(row(
        "window scaling when both syns offer it",
        cat(vec![
            scaled_handshake(Some(7)),
            vec![send(
                10,
                tcp(c, s, PSH | ACK, a + 100_000, b, 1000),
                Pass,
                Some(TcpEstablished),
            )],
        ]),
    ));
    rows.push(row(
        "window scaling applies to the initiator's window too",
        cat(vec![
            scaled_handshake(Some(7)),
            vec![
                // The initiator opens its window: 1024 << 7 bytes.
                send(
                    10,
                    tcp_win(c, s, ACK, a, b, 0, 1024, None),
                    Pass,
                    Some(TcpEstablished),
                ),
                send(
                    11,
                    tcp(s, c, PSH | ACK, b + 100_000, a, 1000),
                    Pass,
                    Some(TcpEstablished),
                ),
            ],
        ]),
    ));
    rows.push(row(
        "no window scaling when one syn does not offer it",
        cat(vec![
            scaled_handshake(None),
            vec![send(
                10,
                tcp(c, s, PSH | ACK, a + 100_000, b, 1000),
                oow,
                Some(TcpEstablished),
            )],
        ]),
    ));
    rows.push(row(
        "a pickup learns windows liberally until both sides are seen",
        vec![
            send(
                0,
                tcp(c, s, PSH | ACK, a, b, 100),
                Pass,
                Some(TcpUnconfirmed),
            ),
            // Far from anything seen: passes while only one side is known.
            send(
                1,
                tcp(c, s, PSH | ACK, a.wrapping_add(3_000_000_000), b, 100),
                Pass,
                Some(TcpUnconfirmed),
            ),
            send(2, tcp(s, c, ACK, b, a + 100, 0), Pass, Some(TcpEstablished)),
            // Both known: an acknowledgement of unsent data is dropped.
            send(
                3,
                tcp(c, s, PSH | ACK, a + 100, b + 1_000_000, 100),
                oow,
                Some(TcpEstablished),
            ),
            send(
                4,
                tcp(c, s, PSH | ACK, a + 100, b, 100),
                Pass,
                Some(TcpEstablished),
            ),
        ],
    ));
    rows.push(Row {
        name: "pickup without the reverse try",
        config: FirewallConfig {
            pickup_try_reverse: false,
            ..small_config()
        },
        rules: || TestRules::tcp_port(443),
        steps: vec![
            send(
                0,
                tcp(s, c, PSH | ACK, b, a, 100),
                drop(DropReason::RuleDenied),
                Some(Denied),
            ),
            send(
                1,
                tcp(c, s, ACK, a, b + 100, 0),
                drop(DropReason::RuleDenied),
                Some(Denied),
            ),
        ],
    });
    rows.push(Row {
        name: "a denied flow is remembered in both directions",
        config: small_config(),
        rules: || TestRules::tcp_port(443),
        steps: vec![
            send(
                0,
                tcp(c, (s.0, 22), SYN, 1, 0, 0),
                drop(DropReason::RuleDenied),
                Some(Denied),
            ),
            send(
                1,
                tcp(c, (s.0, 22), SYN, 1, 0, 0),
                drop(DropReason::RuleDenied),
                Some(Denied),
            ),
            send(
                2,
                tcp((s.0, 22), c, SYN | ACK, 1, 2, 0),
                drop(DropReason::RuleDenied),
                Some(Denied),
            ),
            send(
                3,
                udp(c, (s.0, 22)),
                drop(DropReason::RuleDenied),
                Some(Denied),
            ),
        ],
    });
    rows.push(Row {
        name: "reject answers every packet but a rst",
        config: small_config(),
        rules: || TestRules::new(vec![], FlowAction::Reject),
        steps: vec![
            send(0, tcp(c, s, SYN, 1, 0, 0), Verdict::Reject, Some(Denied)),
            send(1, tcp(c, s, SYN, 1, 0, 0), Verdict::Reject, Some(Denied)),
            send(
                2,
                tcp(c, s, RST | ACK, 2, 0, 0),
                drop(DropReason::RuleDenied),
                Some(Denied),
            ),
            send(
                3,
                tcp((c.0, 1), s, RST, 2, 0, 0),
                drop(DropReason::RuleDenied),
                None,
            ),
            send(4, udp(c, s), Verdict::Reject, Some(Denied)),
        ],
    });
    rows
}

#[test]
fn conntrack_rows() {
    for row in rows() {
        let mut fw = firewall(row.config.clone(), (row.rules)());
        run_case(row.name, &mut fw, 1_000 * SEC, &row.steps);
        let live = fw.flows(u64::MAX / 2).count() as u64;
        assert!(fw.counters().active >= live, "{}", row.name);
    }
}

/// Bring a flow to a state at t = 0 ms (relative), then check it is still
/// there just before its timeout and gone just after.
struct TimeoutRow {
    state: FlowState,
    timeout: fn(&Timeouts) -> std::time::Duration,
    /// Packets that reach `state`, the last one at `last_ms`.
    setup: Vec<InnerSummary>,
    rules: fn() -> TestRules,
}

fn timeout_rows() -> Vec<TimeoutRow> {
    let (c, s) = (c4(), s4());
    let (a, b) = (ISN_C + 1, ISN_S + 1);
    let syn = tcp(c, s, SYN, ISN_C, 0, 0);
    let synack = tcp(s, c, SYN | ACK, ISN_S, a, 0);
    let ack = tcp(c, s, ACK, a, b, 0);
    let fin_c = tcp(c, s, FIN | ACK, a, b, 0);
    let ack_s = tcp(s, c, ACK, b, a + 1, 0);
    let fin_s = tcp(s, c, FIN | ACK, b, a + 1, 0);
    let last = tcp(c, s, ACK, a + 1, b + 1, 0);
    let pass = TestRules::pass_all;
    let t = |state, timeout, setup: Vec<InnerSummary>| TimeoutRow {
        state,
        timeout,
        setup,
        rules: pass,
    };
    vec![
        t(TcpSynSent, |t| t.tcp_syn_sent, vec![syn]),
        t(TcpSynRecv, |t| t.tcp_syn_recv, vec![syn, synack]),
        t(
            TcpEstablished,
            |t| t.tcp_established,
            vec![syn, synack, ack],
        ),
        t(
            TcpFinWait,
            |t| t.tcp_fin_wait,
            vec![syn, synack, ack, fin_c],
        ),
        t(
            TcpCloseWait,
            |t| t.tcp_close_wait,
            vec![syn, synack, ack, fin_c, ack_s],
        ),
        t(
            TcpLastAck,
            |t| t.tcp_last_ack,
            vec![syn, synack, ack, fin_c, ack_s, fin_s],
        ),
        t(
            TcpTimeWait,
            |t| t.tcp_time_wait,
            vec![syn, synack, ack, fin_c, ack_s, fin_s, last],
        ),
        t(
            TcpClose,
            |t| t.tcp_close,
            vec![syn, tcp(c, s, RST, a, 0, 0)],
        ),
        t(UdpSingle, |t| t.udp_single, vec![udp(c, s)]),
        t(UdpStream, |t| t.udp_stream, vec![udp(c, s), udp(s, c)]),
        t(IcmpEcho, |t| t.icmp_echo, vec![echo(c.0, s.0, 1, true)]),
        t(Generic, |t| t.generic, vec![other(c.0, s.0, 132)]),
        t(
            TcpUnconfirmed,
            |t| t.tcp_unconfirmed,
            vec![tcp(c, s, ACK, a, b, 0)],
        ),
        TimeoutRow {
            state: Denied,
            timeout: |t| t.denied,
            setup: vec![syn],
            rules: || TestRules::new(vec![], FlowAction::Drop),
        },
    ]
}

#[test]
fn every_state_times_out() {
    let defaults = Timeouts::default();
    // Never below GWLB's idle timeouts: TCP 350 s, UDP and the rest 120 s.
    for (state, gwlb_secs, _) in GWLB_IDLE_TIMEOUTS {
        assert!(
            defaults.of(state).as_secs() >= gwlb_secs,
            "{state:?} below GWLB's idle timeout"
        );
    }
    let rows = timeout_rows();
    assert_eq!(rows.len(), FlowState::ALL.len(), "one row per state");
    for r in rows {
        let mut fw = firewall(small_config(), (r.rules)());
        let t0 = 50 * SEC;
        for p in &r.setup {
            fw.process(t0, EP, p);
        }
        let probe = r.setup[0];
        let timeout = u64::try_from((r.timeout)(&defaults).as_nanos()).unwrap();
        assert_eq!(
            state_of(&fw, t0, EP, &probe),
            Some(r.state),
            "{:?} reached",
            r.state
        );
        assert_eq!(
            state_of(&fw, t0 + timeout - 1_000_000, EP, &probe),
            Some(r.state),
            "{:?} alive just before its timeout",
            r.state
        );
        assert_eq!(
            state_of(&fw, t0 + timeout + 70_000_000, EP, &probe),
            None,
            "{:?} gone one tick after its timeout",
            r.state
        );
        // The next packet finds it expired and counts it.
        let expired = fw.counters().expired;
        fw.process(t0 + timeout + 70_000_000, EP, &probe);
        assert_eq!(fw.counters().expired, expired + 1, "{:?}", r.state);
    }
}

#[test]
fn configured_timeouts_apply() {
    let config = FirewallConfig {
        timeouts: Timeouts {
            tcp_established: std::time::Duration::from_secs(400),
            udp_single: std::time::Duration::from_secs(5),
            ..Timeouts::default()
        },
        ..small_config()
    };
    let mut fw = firewall(config, TestRules::pass_all());
    let (c, s) = (c4(), s4());
    fw.process(0, EP, &tcp(c, s, ACK, 1, 1, 0));
    fw.process(0, EP, &tcp(s, c, ACK, 1, 1, 0));
    fw.process(0, EP, &udp(c, s));
    assert_eq!(state_of(&fw, 399 * SEC, EP, &udp(c, s)), None);
    assert_eq!(
        state_of(&fw, 399 * SEC, EP, &tcp(c, s, ACK, 1, 1, 0)),
        Some(TcpEstablished)
    );
    assert_eq!(state_of(&fw, 401 * SEC, EP, &tcp(c, s, ACK, 1, 1, 0)), None);
}

#[test]
fn a_passing_packet_restarts_the_timer_and_a_dropped_one_does_not() {
    let mut fw = firewall(small_config(), TestRules::pass_all());
    let (c, s) = (c4(), s4());
    let syn = tcp(c, s, SYN, ISN_C, 0, 0);
    fw.process(0, EP, &syn);
    // An invalid SYN/ACK at 100 s does not extend SYN_SENT's 120 s.
    let bad = tcp(s, c, SYN | ACK, 1, 1, 0);
    assert_eq!(
        fw.process(100 * SEC, EP, &bad).verdict,
        drop(DropReason::TcpInvalid)
    );
    assert_eq!(state_of(&fw, 121 * SEC, EP, &syn), None);
    // A retransmitted SYN does.
    fw.process(130 * SEC, EP, &syn);
    fw.process(200 * SEC, EP, &syn);
    assert_eq!(state_of(&fw, 310 * SEC, EP, &syn), Some(TcpSynSent));
}

#[test]
fn no_rule_set_drops_everything() {
    let mut fw: tollgate_firewall::Firewall<TestRules> =
        tollgate_firewall::Firewall::new(small_config()).unwrap();
    let d = fw.process(0, EP, &tcp(c4(), s4(), SYN, 1, 0, 0));
    assert_eq!(d.verdict, drop(DropReason::NoRuleSet));
    assert!(!d.flow_created);
    assert_eq!(fw.counters().drops_for(DropReason::NoRuleSet), 1);
    assert_eq!(fw.flows(0).count(), 0);
    assert_eq!(fw.generation(), None);
}

#[test]
fn rules_decide_only_the_opening_packet() {
    let mut fw = firewall(small_config(), TestRules::tcp_port(443));
    let (c, s) = (c4(), s4());
    let d = fw.process(0, EP, &tcp(c, s, SYN, ISN_C, 0, 0));
    assert_eq!((d.verdict, d.rule, d.flow_created), (Pass, Some(0), true));
    let d = fw.process(1, EP, &tcp(s, c, SYN | ACK, ISN_S, ISN_C + 1, 0));
    assert_eq!((d.verdict, d.rule, d.flow_created), (Pass, None, false));
    fw.process(2, EP, &tcp(c, s, ACK, ISN_C + 1, ISN_S + 1, 0));
    assert_eq!(fw.rules().unwrap().evaluations(), 1);
    // A denied flow: one evaluation, then remembered.
    let d = fw.process(3, EP, &udp(c, s));
    assert_eq!(
        (d.verdict, d.rule, d.flow_created),
        (drop(DropReason::RuleDenied), None, true)
    );
    fw.process(4, EP, &udp(c, s));
    fw.process(5, EP, &udp(s, c));
    assert_eq!(fw.rules().unwrap().evaluations(), 2);
    let counters = fw.counters();
    assert_eq!(counters.created, 2);
    assert_eq!(counters.passed, 3);
    assert_eq!(counters.dropped, 3);
    assert_eq!(counters.drops_for(DropReason::RuleDenied), 3);
    assert_eq!(counters.active, 2);
}

#[test]
fn icmp_informational_messages_are_classified_per_packet() {
    let mut fw = firewall(small_config(), TestRules::pass_all());
    let mut pkt = echo(c4().0, s4().0, 1, true);
    pkt.l4 = tollgate_wire::summary::L4Summary::IcmpOther {
        icmp_type: 13,
        code: 0,
    };
    let d = fw.process(0, EP, &pkt);
    assert_eq!((d.verdict, d.flow_created), (Pass, false));
    fw.process(0, EP, &pkt);
    assert_eq!(fw.rules().unwrap().evaluations(), 2);
    assert_eq!(fw.counters().active, 0);
}

/// Where a cell of [`linux_table_cells`] starts: the segments that bring
/// a fresh flow to the state, and the next sequence numbers of the
/// initiator (c) and the responder (s) there.
fn reach(state: FlowState, c: Addr, s: Addr) -> (Vec<InnerSummary>, u32, u32) {
    let (a, b) = (ISN_C + 1, ISN_S + 1);
    let mut segs = vec![tcp(c, s, SYN, ISN_C, 0, 0)];
    let at = |segs: &mut Vec<InnerSummary>, more: &[InnerSummary]| segs.extend_from_slice(more);
    let handshake = [tcp(s, c, SYN | ACK, ISN_S, a, 0), tcp(c, s, ACK, a, b, 0)];
    let fin_c = tcp(c, s, FIN | ACK, a, b, 0);
    let ack_fin_c = tcp(s, c, ACK, b, a + 1, 0);
    let fin_s = tcp(s, c, FIN | ACK, b, a + 1, 0);
    let ack_fin_s = tcp(c, s, ACK, a + 1, b + 1, 0);
    match state {
        TcpSynSent => return (segs, a, ISN_S),
        TcpSynRecv => at(&mut segs, &handshake[..1]),
        TcpEstablished => at(&mut segs, &handshake),
        TcpFinWait => {
            at(&mut segs, &handshake);
            at(&mut segs, &[fin_c]);
            return (segs, a + 1, b);
        }
        TcpCloseWait => {
            at(&mut segs, &handshake);
            at(&mut segs, &[fin_c, ack_fin_c]);
            return (segs, a + 1, b);
        }
        TcpLastAck => {
            at(&mut segs, &handshake);
            at(&mut segs, &[fin_c, ack_fin_c, fin_s]);
            return (segs, a + 1, b + 1);
        }
        TcpTimeWait => {
            at(&mut segs, &handshake);
            at(&mut segs, &[fin_c, ack_fin_c, fin_s, ack_fin_s]);
            return (segs, a + 1, b + 1);
        }
        TcpClose => {
            at(&mut segs, &handshake);
            at(&mut segs, &[tcp(c, s, RST, a, 0, 0)]);
        }
        _ => unreachable!("not a TCP state of the table"),
    }
    (segs, a, b)
}

/// Linux's `tcp_conntracks` cell by cell: every TCP state (columns) by
/// direction and flags (rows), each cell a fresh flow brought to the state
/// and then sent one segment with in-window numbers. `None` is invalid
/// (dropped as tcp_invalid); `Some(state)` passes and leaves the flow in
/// `state`. Where this tracker deviates from Linux it says so: it is
/// stricter on SYN/ACKs from the initiator (Linux ignores them after the
/// handshake), and it follows who sent which FIN and what an ACK covers
/// where Linux moves on any FIN or ACK.
#[test]
fn linux_table_cells() {
    const NONE: u8 = 0;
    let states = [
        TcpSynSent,
        TcpSynRecv,
        TcpEstablished,
        TcpFinWait,
        TcpCloseWait,
        TcpLastAck,
        TcpTimeWait,
        TcpClose,
    ];
    // Columns: SS, SR, ES, FW, CW, LA, TW, CL.
    let iv: Option<FlowState> = None;
    let (ss, sr, es, fw_, cw, la, tw, cl) = (
        Some(TcpSynSent),
        Some(TcpSynRecv),
        Some(TcpEstablished),
        Some(TcpFinWait),
        Some(TcpCloseWait),
        Some(TcpLastAck),
        Some(TcpTimeWait),
        Some(TcpClose),
    );
    // (from the initiator, flags, expected per column)
    let table: [(bool, u8, [Option<FlowState>; 8]); 12] = [
        // Linux: sSS sIG sIG sIG sIG sIG sSS sSS. Here invalid on an
        // ESTABLISHED flow, and a closing flow reopens like a closed one
        // (a new flow in SYN_SENT, decided by the rules).
        (true, SYN, [ss, sr, iv, ss, ss, ss, ss, ss]),
        // Linux: sIV sIG...: ignored after the handshake; here invalid.
        (true, SYN | ACK, [iv, iv, iv, iv, iv, iv, iv, iv]),
        // Linux: sIV sFW sFW sLA sLA sLA sTW sCL. A FIN sent again by the
        // side that closed first moves nothing here; in LAST_ACK the
        // initiator's FIN|ACK acknowledges the responder's FIN.
        (true, FIN | ACK, [iv, fw_, fw_, fw_, cw, tw, tw, cl]),
        // Linux: sIV sES sES sCW sCW sTW sTW sCL. Here only the other
        // side's ACK of a FIN moves FIN_WAIT on.
        (true, ACK, [iv, es, es, fw_, cw, tw, tw, cl]),
        (true, RST, [cl, cl, cl, cl, cl, cl, cl, cl]),
        (true, NONE, [iv, iv, iv, iv, iv, iv, iv, iv]),
        // Linux: sS2 sIV sIV...: only a simultaneous open (the flow stays
        // SYN_SENT, marked).
        (false, SYN, [ss, iv, iv, iv, iv, iv, iv, iv]),
        // Linux: sSR sIG sIG sIG sIG sIG sIG sIG.
        (false, SYN | ACK, [sr, sr, es, fw_, cw, la, tw, cl]),
        // Linux: sIV sFW sFW sLA sLA sLA sTW sCL. Here a FIN before the
        // handshake's end leaves SYN_RECV to the initiator's ACK.
        (false, FIN | ACK, [iv, sr, fw_, la, la, la, tw, cl]),
        // Linux: sIG sSR sES sCW sCW sTW sTW sCL. In LAST_ACK the final ACK
        // must come from the side whose FIN is outstanding (here c).
        (false, ACK, [ss, sr, es, cw, cw, la, tw, cl]),
        (false, RST, [cl, cl, cl, cl, cl, cl, cl, cl]),
        (false, NONE, [iv, iv, iv, iv, iv, iv, iv, iv]),
    ];
    let mut fw = firewall(small_config(), TestRules::pass_all());
    let mut port = 20000u16;
    for (from_initiator, flags, expect) in table {
        for (col, &state) in states.iter().enumerate() {
            port += 1;
            let (c, s) = ((v4(10, 9, 0, 1), port), s4());
            let (setup, c_next, s_next) = reach(state, c, s);
            for seg in &setup {
                assert_eq!(fw.process(0, EP, seg).verdict, Pass, "{state:?}: setup");
            }
            assert_eq!(state_of(&fw, 0, EP, &setup[0]), Some(state), "setup");
            // A FIN from a side that already sent one is that FIN again.
            let c_fin = matches!(state, TcpFinWait | TcpCloseWait | TcpLastAck | TcpTimeWait);
            let s_fin = matches!(state, TcpLastAck | TcpTimeWait);
            let seg = match (from_initiator, flags) {
                (true, SYN) => tcp(c, s, SYN, 9000, 0, 0),
                (false, SYN) => tcp(s, c, SYN, ISN_S, 0, 0),
                (true, f) if f == SYN | ACK => tcp(c, s, f, ISN_C, s_next, 0),
                (false, f) if f == SYN | ACK => tcp(s, c, f, ISN_S, ISN_C + 1, 0),
                (true, RST) => tcp(c, s, RST, c_next, 0, 0),
                // A RST answering a SYN acknowledges it.
                (false, RST) if state == TcpSynSent => tcp(s, c, RST | ACK, 0, c_next, 0),
                (false, RST) => tcp(s, c, RST, s_next, 0, 0),
                // In SYN_SENT the responder's ACK is a challenge ACK.
                (false, ACK) if state == TcpSynSent => tcp(s, c, ACK, 7777, c_next, 0),
                (true, f) if f & FIN != 0 && c_fin => tcp(c, s, f, c_next - 1, s_next, 0),
                (true, f) => tcp(c, s, f, c_next, s_next, 0),
                (false, f) if f & FIN != 0 && s_fin => tcp(s, c, f, s_next - 1, c_next, 0),
                (false, f) => tcp(s, c, f, s_next, c_next, 0),
            };
            let d = fw.process(1, EP, &seg);
            let want = expect[col];
            let what = format!("{state:?}, from initiator {from_initiator}, flags {flags:#x}");
            match want {
                None => assert_eq!(d.verdict, drop(DropReason::TcpInvalid), "{what}"),
                Some(next) => {
                    assert_eq!(d.verdict, Pass, "{what}");
                    assert_eq!(state_of(&fw, 1, EP, &seg), Some(next), "{what}");
                }
            }
        }
    }
}
