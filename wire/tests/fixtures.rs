//! Every field of the scapy fixtures (see fixtures/make_fixtures.py), checksum
//! verification, and round trips: emit with setters into a poisoned buffer
//! and compare with the fixture bytes.

mod common;

use common::*;
use tollgate_wire::summary::{tcp_flags, Fragment, QuotedFlow};
use tollgate_wire::*;

const POISON: u8 = 0xAA;

// ---------- whole GWLB frames ----------

struct Expect {
    name: &'static str,
    cookie: u32,
    attachment: Option<u64>,
    version: IpVersion,
    geneve_len: usize,
    inner_len: usize,
    summary: InnerSummary,
}

fn expectations() -> Vec<Expect> {
    vec![
        Expect {
            name: "gwlb_v4_tcp_syn",
            cookie: 0xa1b2_c3d4,
            attachment: Some(ATTACHMENT_ID),
            version: IpVersion::V4,
            geneve_len: 40,
            inner_len: 52,
            summary: InnerSummary {
                version: IpVersion::V4,
                src: mapped("10.1.0.10"),
                dst: mapped("93.184.216.34"),
                protocol: 6,
                fragment: Fragment::None,
                l4: L4Summary::Tcp {
                    src_port: 40000,
                    dst_port: 443,
                    flags: tcp_flags::SYN,
                    seq: 1000,
                    ack: 0,
                    window: 64240,
                    payload_len: 0,
                    // make_fixtures.py: options MSS, SAckOK, WScale 7.
                    window_scale: Some(7),
                },
                l4_offset: 20,
                total_len: 52,
            },
        },
        Expect {
            name: "gwlb_v4_udp",
            cookie: 1,
            attachment: Some(ATTACHMENT_ID),
            version: IpVersion::V4,
            geneve_len: 40,
            inner_len: 46,
            summary: InnerSummary {
                version: IpVersion::V4,
                src: mapped("10.2.0.5"),
                dst: mapped("8.8.8.8"),
                protocol: 17,
                fragment: Fragment::None,
                l4: L4Summary::Udp {
                    src_port: 53000,
                    dst_port: 53,
                },
                l4_offset: 20,
                total_len: 46,
            },
        },
        Expect {
            name: "gwlb_v4_icmp_echo",
            cookie: 0xffff_ffff,
            attachment: Some(ATTACHMENT_ID),
            version: IpVersion::V4,
            geneve_len: 40,
            inner_len: 45,
            summary: InnerSummary {
                version: IpVersion::V4,
                src: mapped("10.1.0.10"),
                dst: mapped("1.1.1.1"),
                protocol: 1,
                fragment: Fragment::None,
                l4: L4Summary::IcmpEcho {
                    request: true,
                    ident: 0x4242,
                },
                l4_offset: 20,
                total_len: 45,
            },
        },
        Expect {
            name: "gwlb_v6_tcp_ext",
            cookie: 0x0bad_f00d,
            attachment: Some(ATTACHMENT_ID),
            version: IpVersion::V6,
            geneve_len: 48,
            inner_len: 86,
            summary: InnerSummary {
                version: IpVersion::V6,
                src: v6u("2001:db8:1::10"),
                dst: v6u("2001:db8:2::20"),
                protocol: 6,
                fragment: Fragment::None,
                l4: L4Summary::Tcp {
                    src_port: 40001,
                    dst_port: 80,
                    flags: tcp_flags::PSH | tcp_flags::ACK,
                    seq: 5000,
                    ack: 6000,
                    window: 512,
                    payload_len: 18,
                    window_scale: None,
                },
                l4_offset: 48,
                total_len: 86,
            },
        },
        Expect {
            name: "gwlb_v6_icmpv6_echo",
            cookie: 0x1234_5678,
            attachment: None,
            version: IpVersion::V6,
            geneve_len: 28,
            inner_len: 54,
            summary: InnerSummary {
                version: IpVersion::V6,
                src: v6u("2001:db8:1::10"),
                dst: v6u("2001:4860:4860::8888"),
                protocol: 58,
                fragment: Fragment::None,
                l4: L4Summary::IcmpEcho {
                    request: true,
                    ident: 0x1111,
                },
                l4_offset: 40,
                total_len: 54,
            },
        },
        Expect {
            name: "gwlb_v4_icmp_port_unreachable",
            cookie: 0xcafe,
            attachment: Some(ATTACHMENT_ID),
            version: IpVersion::V4,
            geneve_len: 40,
            inner_len: 60,
            summary: InnerSummary {
                version: IpVersion::V4,
                src: mapped("10.2.0.99"),
                dst: mapped("10.2.0.5"),
                protocol: 1,
                fragment: Fragment::None,
                l4: L4Summary::IcmpError {
                    icmp_type: 3,
                    code: 3,
                    quoted: QuotedFlow {
                        src: mapped("10.2.0.5"),
                        dst: mapped("10.2.0.99"),
                        protocol: 17,
                        src_port: 53001,
                        dst_port: 9999,
                    },
                },
                l4_offset: 20,
                total_len: 60,
            },
        },
        Expect {
            name: "gwlb_v6_icmpv6_time_exceeded",
            cookie: 0xbeef,
            attachment: Some(ATTACHMENT_ID),
            version: IpVersion::V6,
            geneve_len: 40,
            inner_len: 101,
            summary: InnerSummary {
                version: IpVersion::V6,
                src: v6u("2001:db8:ff::1"),
                dst: v6u("2001:db8:1::10"),
                protocol: 58,
                fragment: Fragment::None,
                l4: L4Summary::IcmpError {
                    icmp_type: 3,
                    code: 0,
                    quoted: QuotedFlow {
                        src: v6u("2001:db8:1::10"),
                        dst: v6u("2001:db8:2::20"),
                        protocol: 17,
                        src_port: 33434,
                        dst_port: 33435,
                    },
                },
                l4_offset: 40,
                total_len: 101,
            },
        },
    ]
}

#[test]
fn every_gwlb_fixture_has_an_expectation() {
    let names: Vec<_> = expectations().iter().map(|e| e.name).collect();
    for n in gwlb_fixtures() {
        assert!(names.contains(&n), "{n} untested");
    }
}

#[test]
fn gwlb_frames_parse_to_the_scapy_values() {
    for e in expectations() {
        let frame = fixture(e.name);
        let f = parse_gwlb_frame(&frame).unwrap_or_else(|err| panic!("{}: {err}", e.name));
        assert_eq!(f.eth_src, OUTER_ETH_SRC, "{}", e.name);
        assert_eq!(f.eth_dst, OUTER_ETH_DST);
        assert_eq!(f.outer_src, v4("10.254.1.10"));
        assert_eq!(f.outer_dst, v4("10.254.1.20"));
        assert_eq!((f.src_port, f.dst_port), (OUTER_SPORT, 6081));
        assert_eq!((f.ipv4_offset, f.udp_offset, f.geneve_offset), (14, 34, 42));
        assert_eq!(f.inner_offset, 42 + e.geneve_len, "{}", e.name);
        let t = f.tunnel;
        assert_eq!(
            t.metadata,
            GwlbMetadata {
                endpoint_id: ENDPOINT_ID,
                attachment_id: e.attachment,
                flow_cookie: e.cookie
            },
            "{}",
            e.name
        );
        assert_eq!(t.inner_version, e.version);
        assert_eq!(t.geneve_header_len, e.geneve_len);
        assert_eq!(t.inner_offset, e.geneve_len);
        assert_eq!(t.inner_len, e.inner_len, "{}", e.name);
        assert_eq!(f.inner_offset + t.inner_len, frame.len(), "{}", e.name);
        // The hot-path entry point on the UDP payload agrees.
        assert_eq!(parse_geneve_payload(&frame[42..]).unwrap(), t);
        assert_eq!(t.inner(&frame[42..]).unwrap(), &frame[f.inner_offset..]);
        let s = summarize(&frame[f.inner_offset..], t.inner_version).unwrap();
        assert_eq!(s, e.summary, "{}", e.name);
    }
}

#[test]
fn outer_headers_field_by_field_and_checksums() {
    let frame = fixture("gwlb_v4_tcp_syn");
    let eth = ethernet::Frame::new_checked(&frame[..]).unwrap();
    assert_eq!(eth.ethertype(), ethernet::EtherType::Ipv4);
    let ip = ipv4::Packet::new_checked(eth.payload()).unwrap();
    assert_eq!(ip.version(), 4);
    assert_eq!(ip.header_len(), 20);
    assert_eq!((ip.dscp(), ip.ecn()), (0, 0));
    assert_eq!(ip.total_len(), 120);
    assert_eq!(ip.ident(), 0x1234);
    assert!(ip.dont_frag() && !ip.more_frags() && !ip.is_fragment());
    assert_eq!(ip.frag_offset(), 0);
    assert_eq!(ip.ttl(), 64);
    assert_eq!(ip.protocol(), 17);
    assert_eq!(ip.checksum(), 0x1028);
    assert!(ip.verify_checksum());
    assert_eq!(checksum::ipv4_header(&frame[14..34]), 0x1028);
    let u = udp::Packet::new_checked(ip.payload()).unwrap();
    assert_eq!(
        (u.src_port(), u.dst_port(), u.len()),
        (OUTER_SPORT, 6081, 100)
    );
    assert_eq!(u.checksum(), 0xe5f4);
    assert!(u.verify_checksum_v4(ip.src_addr(), ip.dst_addr()));
    let g = geneve::Packet::new_checked(u.payload()).unwrap();
    assert_eq!(g.version(), 0);
    assert_eq!(g.opt_len(), 8);
    assert!(!g.oam() && !g.critical());
    assert_eq!(g.protocol_type(), 0x0800);
    assert_eq!(g.vni(), 0);
    assert_eq!(g.reserved(), 0);
    let opts: Vec<_> = g.options().map(Result::unwrap).collect();
    let want: [(u16, u8, &[u8]); 3] = [
        (0x0108, 1, &ENDPOINT_ID.to_be_bytes()),
        (0x0108, 2, &ATTACHMENT_ID.to_be_bytes()),
        (0x0108, 3, &0xa1b2_c3d4u32.to_be_bytes()),
    ];
    assert_eq!(opts.len(), 3);
    for (o, (class, ty, data)) in opts.iter().zip(want) {
        assert_eq!((o.class, o.option_type, o.data), (class, ty, data));
        assert!(!o.is_critical());
    }
    assert_eq!(g.payload().len(), 52);
}

#[test]
fn unknown_option_is_skipped_and_left_in_place() {
    let frame = fixture("gwlb_v6_tcp_ext");
    let g = geneve::Packet::new_checked(&frame[42..]).unwrap();
    let unknown = g
        .options()
        .map(Result::unwrap)
        .find(|o| o.class == 0xfff0)
        .unwrap();
    assert_eq!(
        (unknown.option_type, unknown.data),
        (0x7f, &[0xde, 0xad, 0xbe, 0xef][..])
    );
    // Parsing reads, never writes: the frame is unchanged by construction
    // (it is borrowed immutably); the metadata ignores the option.
    let t = parse_geneve_payload(&frame[42..]).unwrap();
    assert_eq!(t.metadata.endpoint_id, ENDPOINT_ID);
}

// ---------- inner packets, field by field ----------

#[test]
fn inner_v4_tcp_syn_fields() {
    let frame = fixture("gwlb_v4_tcp_syn");
    let ip = ipv4::Packet::new_checked(&frame[82..]).unwrap();
    assert_eq!(ip.ident(), 1);
    assert_eq!(ip.ttl(), 63);
    assert!(ip.dont_frag());
    assert!(ip.verify_checksum());
    let t = tcp::Packet::new_checked(ip.payload()).unwrap();
    assert_eq!((t.src_port(), t.dst_port()), (40000, 443));
    assert_eq!((t.seq(), t.ack()), (1000, 0));
    assert_eq!(t.header_len(), 32);
    assert_eq!(t.flags(), tcp_flags::SYN);
    assert_eq!(t.window(), 64240);
    assert_eq!(t.urgent(), 0);
    assert_eq!(t.options(), &[2, 4, 0x05, 0xb4, 4, 2, 3, 3, 7, 0, 0, 0]);
    assert!(t.payload().is_empty());
    assert_eq!(t.checksum(), 0x8d5f);
    assert!(t.verify_checksum_v4(ip.src_addr(), ip.dst_addr()));
}

#[test]
fn inner_v6_tcp_with_destination_options() {
    let frame = fixture("gwlb_v6_tcp_ext");
    let inner = &frame[42 + 48..];
    let ip = ipv6::Packet::new_checked(inner).unwrap();
    assert_eq!(ip.version(), 6);
    assert_eq!(ip.traffic_class(), 0);
    assert_eq!(ip.flow_label(), 0x12345);
    assert_eq!(ip.payload_len(), 46);
    assert_eq!(ip.next_header(), 60);
    assert_eq!(ip.hop_limit(), 64);
    assert_eq!(ip.src_addr(), v6("2001:db8:1::10"));
    assert_eq!(ip.dst_addr(), v6("2001:db8:2::20"));
    let up = ip.upper_layer().unwrap();
    assert_eq!(
        up,
        ipv6::UpperLayer {
            protocol: 6,
            offset: 48,
            fragment: None
        }
    );
    let t = tcp::Packet::new_checked(&inner[48..]).unwrap();
    assert_eq!(t.payload(), b"GET / HTTP/1.1\r\n\r\n");
    assert!(t.verify_checksum_v6(&ip.src_addr(), &ip.dst_addr()));
}

#[test]
fn inner_icmp_echo_v4_and_v6() {
    let frame = fixture("gwlb_v4_icmp_echo");
    let ip = ipv4::Packet::new_checked(&frame[82..]).unwrap();
    let m = icmpv4::Packet::new_checked(ip.payload()).unwrap();
    assert_eq!((m.msg_type(), m.code()), (8, 0));
    assert_eq!((m.echo_ident(), m.echo_seq()), (0x4242, 7));
    assert_eq!(m.payload(), b"ping-payload-0123");
    assert_eq!(m.checksum(), 0xe8c5);
    assert!(m.verify_checksum());
    assert_eq!(checksum::icmpv4(ip.payload()), 0xe8c5);

    let frame = fixture("gwlb_v6_icmpv6_echo");
    let ip = ipv6::Packet::new_checked(&frame[70..]).unwrap();
    let m = icmpv6::Packet::new_checked(ip.payload()).unwrap();
    assert_eq!((m.msg_type(), m.code()), (128, 0));
    assert_eq!((m.echo_ident(), m.echo_seq()), (0x1111, 3));
    assert_eq!(m.payload(), b"v6ping");
    assert_eq!(m.checksum(), 0xb287);
    assert!(m.verify_checksum(&ip.src_addr(), &ip.dst_addr()));
}

#[test]
fn icmp_errors_quote_the_offending_packet() {
    let frame = fixture("gwlb_v4_icmp_port_unreachable");
    let ip = ipv4::Packet::new_checked(&frame[82..]).unwrap();
    let m = icmpv4::Packet::new_checked(ip.payload()).unwrap();
    assert_eq!((m.msg_type(), m.code()), (3, icmpv4::CODE_PORT_UNREACHABLE));
    assert!(icmpv4::is_error(m.msg_type()));
    assert_eq!(m.rest_of_header(), 0);
    assert!(m.verify_checksum());
    let q = ipv4::Packet::new_checked(m.payload()).unwrap();
    assert_eq!(
        (q.src_addr(), q.dst_addr()),
        (v4("10.2.0.5"), v4("10.2.0.99"))
    );
    let qu = udp::Packet::new_checked(q.payload()).unwrap();
    assert_eq!(
        (qu.src_port(), qu.dst_port(), qu.payload()),
        (53001, 9999, &b"abcd"[..])
    );

    let frame = fixture("gwlb_v6_icmpv6_time_exceeded");
    let ip = ipv6::Packet::new_checked(&frame[82..]).unwrap();
    let m = icmpv6::Packet::new_checked(ip.payload()).unwrap();
    assert_eq!((m.msg_type(), m.code()), (3, 0));
    assert!(icmpv6::is_error(m.msg_type()));
    assert!(m.verify_checksum(&ip.src_addr(), &ip.dst_addr()));
    let q = ipv6::Packet::new_checked(m.quoted().unwrap()).unwrap();
    assert_eq!(q.hop_limit(), 1);
    assert_eq!(q.next_header(), 17);
    assert_eq!(
        (q.src_addr(), q.dst_addr()),
        (v6("2001:db8:1::10"), v6("2001:db8:2::20"))
    );
    let qu = udp::Packet::new_checked(q.payload()).unwrap();
    assert_eq!(
        (qu.src_port(), qu.dst_port(), qu.len(), qu.payload()),
        (33434, 33435, 13, &b"trace"[..])
    );
    assert_eq!(qu.checksum(), 0x6423);
    assert!(qu.verify_checksum_v6(&q.src_addr(), &q.dst_addr()));
    assert_eq!(
        checksum::udp_v6(&q.src_addr(), &q.dst_addr(), q.payload()),
        0x6423
    );
}

#[test]
fn quoted_header_cut_to_8_bytes_of_l4_still_gives_ports() {
    let frame = fixture("gwlb_v4_icmp_port_unreachable");
    let inner = &frame[82..];
    // Keep outer IP 20 + ICMP 8 + quoted IP 20 + 8 bytes of UDP; fix lengths.
    let mut cut = inner[..56].to_vec();
    cut[2..4].copy_from_slice(&56u16.to_be_bytes());
    let s = summarize(&cut, IpVersion::V4).unwrap();
    match s.l4 {
        L4Summary::IcmpError { quoted, .. } => {
            assert_eq!((quoted.src_port, quoted.dst_port), (53001, 9999))
        }
        other => panic!("{other:?}"),
    }
    // 3 bytes of quoted L4 is too few for ports.
    cut.truncate(51);
    cut[2..4].copy_from_slice(&51u16.to_be_bytes());
    assert_eq!(
        summarize(&cut, IpVersion::V4).unwrap_err(),
        Error::Truncated {
            layer: Layer::Icmpv4,
            need: 24,
            have: 23
        }
    );
}

#[test]
fn ipv4_with_options() {
    let p = fixture("ipv4_options_udp");
    let ip = ipv4::Packet::new_checked(&p[..]).unwrap();
    assert_eq!(ip.header_len(), 24);
    assert_eq!(ip.options(), &[0x94, 0x04, 0x00, 0x00]);
    assert_eq!((ip.dscp(), ip.ecn()), (0xb8 >> 2, 0));
    assert_eq!(ip.total_len(), 36);
    assert_eq!(ip.ident(), 0x0a0b);
    assert_eq!(ip.ttl(), 32);
    assert_eq!(ip.checksum(), 0xe6e2);
    assert!(ip.verify_checksum());
    let u = udp::Packet::new_checked(ip.payload()).unwrap();
    assert_eq!(u.payload(), b"opts");
    assert!(u.verify_checksum_v4(ip.src_addr(), ip.dst_addr()));
    let s = summarize(&p, IpVersion::V4).unwrap();
    assert_eq!(
        s.l4,
        L4Summary::Udp {
            src_port: 5000,
            dst_port: 5001
        }
    );
    assert_eq!(s.l4_offset, 24);
}

#[test]
fn ipv4_fragments() {
    let first = fixture("ipv4_frag_first");
    let ip = ipv4::Packet::new_checked(&first[..]).unwrap();
    assert!(ip.more_frags() && !ip.dont_frag() && ip.is_fragment());
    assert_eq!(
        (ip.frag_offset(), ip.ident(), ip.total_len()),
        (0, 0xbeef, 68)
    );
    assert!(ip.verify_checksum());
    let s = summarize(&first, IpVersion::V4).unwrap();
    assert_eq!(s.fragment, Fragment::First);
    assert_eq!(
        s.l4,
        L4Summary::Udp {
            src_port: 7000,
            dst_port: 7001
        }
    );

    let later = fixture("ipv4_frag_later");
    let ip = ipv4::Packet::new_checked(&later[..]).unwrap();
    assert!(ip.more_frags());
    assert_eq!(ip.frag_offset(), 48);
    assert_eq!(ip.payload()[0], 40); // byte 40 of the scapy payload range(100)
    let s = summarize(&later, IpVersion::V4).unwrap();
    assert_eq!(s.fragment, Fragment::Later);
    assert_eq!(s.protocol, 17);
    assert_eq!(s.l4, L4Summary::Other);
}

#[test]
fn arp_request_fields() {
    let f = fixture("arp_request");
    let eth = ethernet::Frame::new_checked(&f[..]).unwrap();
    assert_eq!(eth.dst_addr(), [0xff; 6]);
    assert_eq!(eth.ethertype(), ethernet::EtherType::Arp);
    let a = arp::Packet::new_checked(eth.payload()).unwrap();
    assert_eq!(a.operation(), arp::OP_REQUEST);
    assert_eq!(a.sender_hardware_addr(), OUTER_ETH_DST);
    assert_eq!(a.sender_protocol_addr(), v4("10.254.1.20"));
    assert_eq!(a.target_hardware_addr(), [0; 6]);
    assert_eq!(a.target_protocol_addr(), v4("10.254.1.1"));
    assert_eq!(
        (
            a.hardware_type(),
            a.protocol_type(),
            a.hardware_len(),
            a.protocol_len()
        ),
        (1, 0x0800, 6, 4)
    );
}

// ---------- round trips: emit into a poisoned buffer ----------

/// Writes Ethernet/IPv4/UDP/GENEVE with the fixture's outer values and
/// `options`, copies `inner`, fills checksums.
fn emit_gwlb(options: &[u8], protocol: u16, inner: &[u8]) -> Vec<u8> {
    let len = 42 + 8 + options.len() + inner.len();
    let mut buf = vec![POISON; len];
    let mut eth = ethernet::Frame::new_unchecked(&mut buf[..]);
    eth.set_dst_addr(OUTER_ETH_DST);
    eth.set_src_addr(OUTER_ETH_SRC);
    eth.set_ethertype(ethernet::EtherType::Ipv4);
    let mut ip = ipv4::Packet::new_unchecked(&mut buf[14..]);
    ip.set_version_and_header_len(20);
    ip.set_dscp_ecn(0, 0);
    ip.set_total_len((len - 14) as u16);
    ip.set_ident(0x1234);
    ip.set_fragment(true, false, 0);
    ip.set_ttl(64);
    ip.set_protocol(17);
    ip.set_src_addr(v4("10.254.1.10"));
    ip.set_dst_addr(v4("10.254.1.20"));
    ip.fill_checksum();
    let mut u = udp::Packet::new_unchecked(&mut buf[34..]);
    u.set_src_port(OUTER_SPORT);
    u.set_dst_port(6081);
    u.set_len((len - 34) as u16);
    let mut g = geneve::Packet::new_unchecked(&mut buf[42..]);
    g.set_version_and_opt_len(0, (options.len() / 4) as u8);
    g.set_flags(false, false);
    g.set_protocol_type(protocol);
    g.set_vni(0);
    g.set_reserved(0);
    g.options_raw_mut().copy_from_slice(options);
    g.payload_mut().copy_from_slice(inner);
    let mut u = udp::Packet::new_unchecked(&mut buf[34..]);
    u.fill_checksum_v4(v4("10.254.1.10"), v4("10.254.1.20"));
    buf
}

fn aws_options(cookie: u32, attachment: bool) -> Vec<u8> {
    let mut o = vec![POISON; 32];
    let mut n = geneve::emit_option(
        &mut o,
        gwlb::AWS_OPTION_CLASS,
        gwlb::OPTION_ENDPOINT_ID,
        &ENDPOINT_ID.to_be_bytes(),
    );
    if attachment {
        n += geneve::emit_option(
            &mut o[n..],
            0x0108,
            gwlb::OPTION_ATTACHMENT_ID,
            &ATTACHMENT_ID.to_be_bytes(),
        );
    }
    n += geneve::emit_option(
        &mut o[n..],
        0x0108,
        gwlb::OPTION_FLOW_COOKIE,
        &cookie.to_be_bytes(),
    );
    o.truncate(n);
    o
}

#[test]
fn round_trip_v4_tcp_syn_frame() {
    let want = fixture("gwlb_v4_tcp_syn");
    let mut inner = vec![POISON; 52];
    let mut ip = ipv4::Packet::new_unchecked(&mut inner[..]);
    ip.set_version_and_header_len(20);
    ip.set_dscp_ecn(0, 0);
    ip.set_total_len(52);
    ip.set_ident(1);
    ip.set_fragment(true, false, 0);
    ip.set_ttl(63);
    ip.set_protocol(6);
    ip.set_src_addr(v4("10.1.0.10"));
    ip.set_dst_addr(v4("93.184.216.34"));
    ip.fill_checksum();
    let mut t = tcp::Packet::new_unchecked(&mut inner[20..]);
    t.set_src_port(40000);
    t.set_dst_port(443);
    t.set_seq(1000);
    t.set_ack(0);
    t.set_header_len(32);
    t.set_flags(tcp_flags::SYN);
    t.set_window(64240);
    t.set_urgent(0);
    t.options_mut()
        .copy_from_slice(&[2, 4, 0x05, 0xb4, 4, 2, 3, 3, 7, 0, 0, 0]);
    t.fill_checksum_v4(v4("10.1.0.10"), v4("93.184.216.34"));
    let got = emit_gwlb(&aws_options(0xa1b2_c3d4, true), 0x0800, &inner);
    assert_eq!(got, want);
}

#[test]
fn round_trip_v6_icmpv6_echo_frame() {
    let want = fixture("gwlb_v6_icmpv6_echo");
    let mut inner = vec![POISON; 54];
    let (src, dst) = (v6("2001:db8:1::10"), v6("2001:4860:4860::8888"));
    let mut ip = ipv6::Packet::new_unchecked(&mut inner[..]);
    ip.set_version_tc_flow(0, 0);
    ip.set_payload_len(14);
    ip.set_next_header(58);
    ip.set_hop_limit(64);
    ip.set_src_addr(src);
    ip.set_dst_addr(dst);
    let mut m = icmpv6::Packet::new_unchecked(&mut inner[40..]);
    m.set_msg_type(icmpv6::msg_type::ECHO_REQUEST);
    m.set_code(0);
    m.set_echo_ident(0x1111);
    m.set_echo_seq(3);
    m.payload_mut().copy_from_slice(b"v6ping");
    m.fill_checksum(&src, &dst);
    let got = emit_gwlb(&aws_options(0x1234_5678, false), 0x86dd, &inner);
    assert_eq!(got, want);
}

#[test]
fn round_trip_icmp_port_unreachable() {
    let want = fixture("gwlb_v4_icmp_port_unreachable");
    let quoted = &want[82 + 28..];
    let mut inner = vec![POISON; 60];
    let mut ip = ipv4::Packet::new_unchecked(&mut inner[..]);
    ip.set_version_and_header_len(20);
    ip.set_dscp_ecn(0, 0);
    ip.set_total_len(60);
    ip.set_ident(10);
    ip.set_fragment(false, false, 0);
    ip.set_ttl(64);
    ip.set_protocol(1);
    ip.set_src_addr(v4("10.2.0.99"));
    ip.set_dst_addr(v4("10.2.0.5"));
    ip.fill_checksum();
    let mut m = icmpv4::Packet::new_unchecked(&mut inner[20..]);
    m.set_msg_type(icmpv4::msg_type::DEST_UNREACHABLE);
    m.set_code(icmpv4::CODE_PORT_UNREACHABLE);
    m.set_rest_of_header(0);
    m.payload_mut().copy_from_slice(quoted);
    m.fill_checksum();
    let got = emit_gwlb(&aws_options(0xcafe, true), 0x0800, &inner);
    assert_eq!(got, want);
}

#[test]
fn round_trip_ipv4_options_and_fragment() {
    let want = fixture("ipv4_options_udp");
    let mut p = vec![POISON; 36];
    let mut ip = ipv4::Packet::new_unchecked(&mut p[..]);
    ip.set_version_and_header_len(24);
    ip.set_dscp_ecn(0xb8 >> 2, 0);
    ip.set_total_len(36);
    ip.set_ident(0x0a0b);
    ip.set_fragment(false, false, 0);
    ip.set_ttl(32);
    ip.set_protocol(17);
    ip.set_src_addr(v4("10.1.0.10"));
    ip.set_dst_addr(v4("10.1.0.20"));
    ip.options_mut().copy_from_slice(&[0x94, 4, 0, 0]);
    ip.fill_checksum();
    let mut u = udp::Packet::new_unchecked(&mut p[24..]);
    u.set_src_port(5000);
    u.set_dst_port(5001);
    u.set_len(12);
    u.payload_mut().copy_from_slice(b"opts");
    u.fill_checksum_v4(v4("10.1.0.10"), v4("10.1.0.20"));
    assert_eq!(p, want);

    let want = fixture("ipv4_frag_later");
    let mut p = vec![POISON; 68];
    let mut ip = ipv4::Packet::new_unchecked(&mut p[..]);
    ip.set_version_and_header_len(20);
    ip.set_dscp_ecn(0, 0);
    ip.set_total_len(68);
    ip.set_ident(0xbeef);
    ip.set_fragment(false, true, 48);
    ip.set_ttl(64);
    ip.set_protocol(17);
    ip.set_src_addr(v4("10.1.0.10"));
    ip.set_dst_addr(v4("10.2.0.5"));
    ip.payload_mut()
        .iter_mut()
        .zip(40u8..)
        .for_each(|(b, v)| *b = v);
    ip.fill_checksum();
    assert_eq!(p, want);
}

#[test]
fn round_trip_arp_request() {
    let want = fixture("arp_request");
    let mut f = vec![POISON; 42];
    let mut eth = ethernet::Frame::new_unchecked(&mut f[..]);
    eth.set_dst_addr([0xff; 6]);
    eth.set_src_addr(OUTER_ETH_DST);
    eth.set_ethertype(ethernet::EtherType::Arp);
    let mut a = arp::Packet::new_unchecked(eth.payload_mut());
    a.set_ethernet_ipv4();
    a.set_operation(arp::OP_REQUEST);
    a.set_sender_hardware_addr(OUTER_ETH_DST);
    a.set_sender_protocol_addr(v4("10.254.1.20"));
    a.set_target_hardware_addr([0; 6]);
    a.set_target_protocol_addr(v4("10.254.1.1"));
    assert_eq!(f, want);
}

#[test]
fn hairpin_in_place_swaps_only_addresses() {
    for name in gwlb_fixtures() {
        let orig = fixture(name);
        let mut frame = orig.clone();
        gwlb::hairpin_in_place(&mut frame).unwrap();
        let mut expected = orig.clone();
        expected[0..6].copy_from_slice(&orig[6..12]);
        expected[6..12].copy_from_slice(&orig[0..6]);
        expected[26..30].copy_from_slice(&orig[30..34]);
        expected[30..34].copy_from_slice(&orig[26..30]);
        assert_eq!(frame, expected, "{name}");
        let ip = ipv4::Packet::new_checked(&frame[14..]).unwrap();
        assert!(ip.verify_checksum());
        let u = udp::Packet::new_checked(ip.payload()).unwrap();
        assert!(u.verify_checksum_v4(ip.src_addr(), ip.dst_addr()), "{name}");
        let f = parse_gwlb_frame(&frame).unwrap();
        assert_eq!(f.tunnel, parse_gwlb_frame(&orig).unwrap().tunnel);
        assert_eq!((f.src_port, f.dst_port), (OUTER_SPORT, 6081));
    }
    assert_eq!(
        gwlb::hairpin_in_place(&mut [0u8; 20]).unwrap_err().layer(),
        Layer::Ethernet
    );
    let mut arp = fixture("arp_request");
    assert_eq!(
        gwlb::hairpin_in_place(&mut arp).unwrap_err(),
        Error::Unsupported {
            layer: Layer::Ethernet,
            what: "outer ethertype",
            value: 0x0806
        }
    );
}

#[test]
fn hairpin_reply_keeps_checksums_valid() {
    let mut frame = fixture("gwlb_v6_tcp_ext");
    let mut eth = ethernet::Frame::new_checked(&mut frame[..]).unwrap();
    eth.swap_addrs();
    let mut ip = ipv4::Packet::new_checked(eth.payload_mut()).unwrap();
    ip.swap_addrs();
    assert!(ip.verify_checksum());
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    assert_eq!((src, dst), (v4("10.254.1.20"), v4("10.254.1.10")));
    let u = udp::Packet::new_checked(ip.payload()).unwrap();
    assert!(u.verify_checksum_v4(src, dst));
    let f = parse_gwlb_frame(&frame).unwrap();
    assert_eq!((f.eth_src, f.eth_dst), (OUTER_ETH_DST, OUTER_ETH_SRC));
}
