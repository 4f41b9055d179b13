//! Property tests (bounded: 5000 cases each): no parse entry point panics on
//! arbitrary or mutated input, accessors are safe after `new_checked`, and
//! incremental checksum updates equal full recomputation.

mod common;

use common::*;
use proptest::prelude::*;
use tollgate_wire::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 5000,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Calls every getter of every view that accepts `b`.
fn exercise_views(b: &[u8]) {
    if let Ok(f) = ethernet::Frame::new_checked(b) {
        let _ = (f.dst_addr(), f.src_addr(), f.ethertype(), f.payload().len());
    }
    if let Ok(p) = arp::Packet::new_checked(b) {
        let _ = (
            p.operation(),
            p.sender_hardware_addr(),
            p.sender_protocol_addr(),
        );
        let _ = (
            p.target_hardware_addr(),
            p.target_protocol_addr(),
            p.payload().len(),
        );
    }
    if let Ok(p) = ipv4::Packet::new_checked(b) {
        let _ = (
            p.dscp(),
            p.ecn(),
            p.ident(),
            p.dont_frag(),
            p.more_frags(),
            p.frag_offset(),
        );
        let _ = (
            p.ttl(),
            p.protocol(),
            p.checksum(),
            p.src_addr(),
            p.dst_addr(),
        );
        let _ = (p.options().len(), p.payload().len(), p.verify_checksum());
        assert!(p.header_len() + p.payload().len() == usize::from(p.total_len()));
        let mut copy = b.to_vec();
        let mut m = ipv4::Packet::new_checked(&mut copy[..]).unwrap();
        m.fill_checksum();
        assert!(m.verify_checksum());
        m.swap_addrs();
        assert!(m.verify_checksum());
    }
    if let Ok(p) = ipv6::Packet::new_checked(b) {
        let _ = (
            p.traffic_class(),
            p.flow_label(),
            p.next_header(),
            p.hop_limit(),
        );
        let _ = (p.src_addr(), p.dst_addr(), p.payload().len());
        if let Ok(u) = p.upper_layer() {
            assert!(u.offset <= p.total_len());
        }
    }
    if let Ok(p) = udp::Packet::new_checked(b) {
        let _ = (p.src_port(), p.dst_port(), p.checksum(), p.payload().len());
        let _ = p.verify_checksum_v4([1, 2, 3, 4], [5, 6, 7, 8]);
        let _ = p.verify_checksum_v6(&[1; 16], &[2; 16]);
    }
    if let Ok(p) = tcp::Packet::new_checked(b) {
        let _ = (
            p.src_port(),
            p.dst_port(),
            p.seq(),
            p.ack(),
            p.flags(),
            p.window(),
        );
        let _ = (
            p.checksum(),
            p.urgent(),
            p.options().len(),
            p.payload().len(),
        );
        let _ = p.verify_checksum_v4([1, 2, 3, 4], [5, 6, 7, 8]);
    }
    if let Ok(p) = icmpv4::Packet::new_checked(b) {
        let _ = (
            p.msg_type(),
            p.code(),
            p.echo_ident(),
            p.echo_seq(),
            p.rest_of_header(),
        );
        let _ = (p.payload().len(), p.verify_checksum());
    }
    if let Ok(p) = icmpv6::Packet::new_checked(b) {
        let _ = (
            p.msg_type(),
            p.code(),
            p.echo_ident(),
            p.echo_seq(),
            p.rest_of_header(),
        );
        let _ = (p.payload().len(), p.verify_checksum(&[0; 16], &[0; 16]));
    }
    if let Ok(p) = geneve::Packet::new_checked(b) {
        let _ = (
            p.version(),
            p.oam(),
            p.critical(),
            p.protocol_type(),
            p.vni(),
            p.reserved(),
        );
        let mut total = 0;
        for o in p.options() {
            match o {
                Ok(o) => {
                    let _ = (o.class, o.option_type, o.is_critical());
                    total += o.wire_len();
                }
                Err(e) => assert_eq!(e.layer(), Layer::Geneve),
            }
        }
        assert!(total <= p.options_len());
        assert_eq!(p.header_len() + p.payload().len(), b.len());
    }
}

fn exercise_parsers(b: &[u8]) {
    let mut copy = b.to_vec();
    if gwlb::hairpin_in_place(&mut copy).is_ok() {
        // Twice is the identity.
        gwlb::hairpin_in_place(&mut copy).unwrap();
        assert_eq!(copy, b);
    }
    if let Ok(t) = parse_geneve_payload(b) {
        assert_eq!(t.inner_offset + t.inner_len, b.len());
        let _ = summarize(t.inner(b).unwrap(), t.inner_version);
    }
    if let Ok(f) = parse_gwlb_frame(b) {
        assert!(f.inner_offset + f.tunnel.inner_len <= b.len());
    }
    for v in [IpVersion::V4, IpVersion::V6] {
        if let Ok(s) = summarize(b, v) {
            assert!(usize::from(s.total_len) <= b.len());
            assert!(s.l4_offset <= s.total_len);
        }
    }
}

fn all_fixtures() -> Vec<Vec<u8>> {
    ALL.iter().map(|(n, _)| fixture(n)).collect()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..200)) {
        exercise_views(&b);
        exercise_parsers(&b);
    }

    /// Valid prefixes with random tails reach the deeper layers.
    #[test]
    fn valid_prefix_random_tail_never_panics(
        which in 0usize..11,
        cut in 0usize..200,
        tail in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut b = all_fixtures().swap_remove(which);
        b.truncate(cut);
        b.extend_from_slice(&tail);
        exercise_parsers(&b);
        exercise_views(&b);
        for off in [14usize, 34, 42] {
            if b.len() > off {
                exercise_views(&b[off..]);
            }
        }
    }

    #[test]
    fn mutated_gwlb_frames_never_panic(
        which in 0usize..7,
        mutations in proptest::collection::vec((any::<u16>(), any::<u8>()), 1..8),
        cut in proptest::option::of(0usize..200),
    ) {
        let names: Vec<_> = gwlb_fixtures().collect();
        let mut b = fixture(names[which]);
        for (at, v) in mutations {
            let i = usize::from(at) % b.len();
            b[i] = v;
        }
        if let Some(c) = cut {
            b.truncate(c);
        }
        exercise_parsers(&b);
        if let Ok(f) = parse_gwlb_frame(&b) {
            let inner = &b[f.inner_offset..f.inner_offset + f.tunnel.inner_len];
            if let Ok(s) = summarize(inner, f.tunnel.inner_version) {
                prop_assert!(usize::from(s.total_len) <= inner.len());
            }
            exercise_views(inner);
        }
    }

    #[test]
    fn incremental_update16_equals_recompute(
        mut data in proptest::collection::vec(any::<u8>(), 4..64),
        at in 0usize..32,
        new in any::<u16>(),
    ) {
        // Checksum field at 0..2, changed field at an even offset after it.
        data.truncate(data.len() & !1);
        let at = 2 + (at * 2) % (data.len() - 2);
        data[0] = 0;
        data[1] = 0;
        let c = !checksum::sum(&data);
        let old = u16::from_be_bytes([data[at], data[at + 1]]);
        data[at..at + 2].copy_from_slice(&new.to_be_bytes());
        let full = !checksum::sum(&data);
        let inc = checksum::update16(c, old, new);
        // 0x0000 and 0xffff are the same ones-complement value; they can
        // differ only when the data sums to zero (all-zero bytes).
        if checksum::sum(&data) == 0 {
            prop_assert_eq!(inc | full, 0xffff);
        } else {
            prop_assert_eq!(inc, full);
        }
    }

    #[test]
    fn incremental_update32_equals_recompute(
        mut header in proptest::collection::vec(any::<u8>(), 20..=20),
        new_addr in any::<u32>(),
        dst in any::<bool>(),
    ) {
        header[0] = 0x45;
        let mut p = ipv4::Packet::new_unchecked(&mut header[..]);
        p.fill_checksum();
        let c = p.checksum();
        let old = u32::from_be_bytes(if dst { p.dst_addr() } else { p.src_addr() });
        if dst { p.set_dst_addr(new_addr.to_be_bytes()) } else { p.set_src_addr(new_addr.to_be_bytes()) }
        let inc = checksum::update32(c, old, new_addr);
        p.set_checksum(inc);
        prop_assert!(p.verify_checksum());
        prop_assert_eq!(inc, checksum::ipv4_header(&header));
    }

    #[test]
    fn fast_sum_equals_word_sum(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut acc: u32 = 0;
        for c in data.chunks(2) {
            let w = if c.len() == 2 { u16::from_be_bytes([c[0], c[1]]) } else { u16::from(c[0]) << 8 };
            acc += u32::from(w);
            acc = (acc & 0xffff) + (acc >> 16);
        }
        prop_assert_eq!(checksum::sum(&data), acc as u16);
    }
}
