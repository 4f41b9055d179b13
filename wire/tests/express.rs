//! `parse_express` against the layer-by-layer parse: on every frame it
//! accepts, the general views accept too and find the same values.
//! Frames: the GWLB fixtures, each header byte set to boundary values
//! (with the outer IPv4 checksum repaired, so that it does not hide the
//! other checks), and random mutations, truncations and extensions.

mod common;

use common::*;
use proptest::prelude::*;
use tollgate_wire::*;

/// What the general path finds for a frame `parse_express` would accept,
/// or `None` where any layer refuses it or it has another shape.
fn general(frame: &[u8]) -> Option<ExpressFrame> {
    let eth = ethernet::Frame::new_checked(frame).ok()?;
    if eth.ethertype() != ethernet::EtherType::Ipv4 {
        return None;
    }
    let ip = ipv4::Packet::new_checked(eth.payload()).ok()?;
    if !ip.verify_checksum() || ip.is_fragment() || ip.protocol() != ipv4::protocol::UDP {
        return None;
    }
    let udp_start = 14 + ip.header_len();
    let frame_len = 14 + usize::from(ip.total_len());
    let datagram = udp::Packet::new_checked(&frame[udp_start..frame_len]).ok()?;
    if datagram.dst_port() != gwlb::GENEVE_UDP_PORT {
        return None;
    }
    let payload_start = udp_start + 8;
    let payload_end = udp_start + usize::from(datagram.len());
    let tunnel = parse_geneve_payload(&frame[payload_start..payload_end]).ok()?;
    let inner_start = payload_start + tunnel.inner_offset;
    let inner = &frame[inner_start..inner_start + tunnel.inner_len];
    let s = summarize(inner, tunnel.inner_version).ok()?;
    Some(ExpressFrame {
        frame_len,
        inner_len: tunnel.inner_len,
        endpoint_id: tunnel.metadata.endpoint_id,
        inner: TupleV4::of_summary(&s)?,
    })
}

/// `parse_express` accepts only what the general path accepts, with the
/// same values, and the offsets it implies are the general path's.
fn agree(frame: &[u8]) -> Result<bool, TestCaseError> {
    let Some(fast) = parse_express(frame) else {
        return Ok(false);
    };
    let slow = general(frame);
    prop_assert_eq!(Some(fast), slow, "frame {:02x?}", frame);
    if fast.inner.protocol == 6 {
        let inner = &frame[express::INNER_START..express::INNER_START + fast.inner_len];
        let s = summarize(inner, IpVersion::V4).expect("accepted above");
        prop_assert_eq!(Some(express_tcp_fields(frame)), TcpFields::of_summary(&s));
    }
    let ip = ipv4::Packet::new_checked(&frame[14..]).expect("accepted above");
    prop_assert_eq!(14 + ip.header_len(), express::UDP_START);
    Ok(true)
}

fn repair_outer_checksum(frame: &mut [u8]) {
    if frame.len() >= 34 && frame[14] == 0x45 {
        frame[24] = 0;
        frame[25] = 0;
        let sum = checksum::sum(&frame[14..34]);
        frame[24..26].copy_from_slice(&(!sum).to_be_bytes());
    }
}

#[test]
fn fixtures_of_the_common_shape_are_accepted_others_are_not() {
    for name in gwlb_fixtures() {
        let frame = fixture(name);
        let expect = matches!(name, "gwlb_v4_tcp_syn" | "gwlb_v4_udp");
        assert_eq!(parse_express(&frame).is_some(), expect, "{name}");
        assert_eq!(agree(&frame).unwrap(), expect, "{name}");
    }
    let udp = parse_express(&fixture("gwlb_v4_udp")).unwrap();
    assert_eq!(udp.inner.protocol, 17);
    assert_eq!(udp.inner.tcp_flags, 0);
    let frame = fixture("gwlb_v4_tcp_syn");
    let syn = parse_express(&frame).unwrap();
    assert_eq!(syn.inner.tcp_flags, summary::tcp_flags::SYN);
    // make_fixtures.py's SYN: seq 1000, window 64240, no payload.
    assert_eq!(
        express_tcp_fields(&frame),
        TcpFields {
            seq: 1000,
            ack: 0,
            window: 64240,
            payload_len: 0,
        }
    );
}

/// Every header byte (outer, GENEVE, inner IP and L4) of the two
/// accepted fixtures set to boundary values: wherever the express parse
/// still accepts, the general parse agrees; and it refuses many.
/// An outer header with options is not the express shape even when its
/// first 20 bytes sum to a valid checksum (the test above repairs the
/// checksum only for 0x45, so it cannot tell the version/IHL check from
/// the checksum).
#[test]
fn an_outer_header_with_options_is_refused_whatever_its_checksum() {
    for name in ["gwlb_v4_udp", "gwlb_v4_tcp_syn"] {
        for version_ihl in [0x46u8, 0x4f, 0x55, 0x65] {
            let mut frame = fixture(name);
            frame[14] = version_ihl;
            frame[24] = 0;
            frame[25] = 0;
            let sum = checksum::sum(&frame[14..34]);
            frame[24..26].copy_from_slice(&(!sum).to_be_bytes());
            assert!(
                parse_express(&frame).is_none(),
                "{name} with version/IHL {version_ihl:#x}"
            );
        }
    }
}

#[test]
fn every_header_byte_at_boundary_values() {
    let (mut accepted, mut refused) = (0, 0);
    for name in ["gwlb_v4_udp", "gwlb_v4_tcp_syn"] {
        let base = fixture(name);
        let headers = (express::INNER_START + 40).min(base.len());
        for at in 0..headers {
            let orig = base[at];
            for v in [
                0,
                1,
                2,
                4,
                5,
                8,
                0x3f,
                0x40,
                0x45,
                0x7f,
                0x80,
                0xff,
                orig ^ 1,
                orig.wrapping_add(1),
                orig.wrapping_sub(1),
            ] {
                let mut frame = base.clone();
                frame[at] = v;
                repair_outer_checksum(&mut frame);
                if agree(&frame).unwrap() {
                    accepted += 1;
                } else {
                    refused += 1;
                }
            }
        }
    }
    assert!(
        accepted > 1000 && refused > 300,
        "accepted {accepted}, refused {refused}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 5000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_frames_agree(
        which in 0usize..2,
        mutations in proptest::collection::vec((0usize..130, any::<u8>()), 0..4),
        repair in any::<bool>(),
        cut in proptest::option::of(0usize..160),
        tail in proptest::collection::vec(any::<u8>(), 0..16),
    ) {
        let mut frame = fixture(["gwlb_v4_udp", "gwlb_v4_tcp_syn"][which]);
        for (at, v) in mutations {
            let i = at % frame.len();
            frame[i] = v;
        }
        if let Some(c) = cut {
            frame.truncate(c);
        }
        frame.extend_from_slice(&tail);
        if repair {
            repair_outer_checksum(&mut frame);
        }
        agree(&frame)?;
    }
}
