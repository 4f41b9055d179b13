//! Bad input never panics and always gives a precise error: truncation at
//! every offset, every length field set to a range of wrong values, and the
//! specific errors of the GWLB parser.

mod common;

use common::*;
use tollgate_wire::*;

/// Parses a frame all the way to the inner summary.
fn full_parse(frame: &[u8]) -> Result<(GwlbFrame, InnerSummary), Error> {
    let f = parse_gwlb_frame(frame)?;
    let inner = &frame[f.inner_offset..f.inner_offset + f.tunnel.inner_len];
    let s = summarize(inner, f.tunnel.inner_version)?;
    Ok((f, s))
}

/// What must hold whenever a (possibly mutated) frame parses.
fn assert_consistent(frame: &[u8], f: &GwlbFrame, s: &InnerSummary) {
    let t = &f.tunnel;
    assert_eq!(f.udp_offset + 8, f.geneve_offset);
    assert_eq!(f.geneve_offset + t.geneve_header_len, f.inner_offset);
    assert!(f.inner_offset + t.inner_len <= frame.len());
    assert!(usize::from(s.total_len) <= t.inner_len);
    assert!(s.l4_offset <= s.total_len);
}

#[test]
fn gwlb_frame_truncated_at_every_offset_is_an_error() {
    for name in gwlb_fixtures() {
        let frame = fixture(name);
        assert!(full_parse(&frame).is_ok());
        for n in 0..frame.len() {
            let err = parse_gwlb_frame(&frame[..n]).unwrap_err();
            // The outer IPv4 total length covers the whole frame, so every
            // cut past the Ethernet header is an IPv4 truncation.
            let (layer, need) = if n < 14 {
                (Layer::Ethernet, 14)
            } else if n < 34 {
                (Layer::Ipv4, 20)
            } else {
                (Layer::Ipv4, frame.len() - 14)
            };
            assert_eq!(
                err,
                Error::Truncated {
                    layer,
                    need,
                    have: n.saturating_sub(if n < 14 { 0 } else { 14 })
                },
                "{name} cut at {n}"
            );
        }
    }
}

#[test]
fn geneve_payload_truncated_at_every_offset_is_an_error() {
    for name in gwlb_fixtures() {
        let frame = fixture(name);
        let payload = &frame[42..];
        let full = parse_geneve_payload(payload).unwrap();
        let min_inner = match full.inner_version {
            IpVersion::V4 => 20,
            IpVersion::V6 => 40,
        };
        for n in 0..payload.len() {
            let cut = &payload[..n];
            match parse_geneve_payload(cut) {
                Err(e) if n < full.geneve_header_len => {
                    assert!(
                        matches!(e.layer(), Layer::Geneve | Layer::GwlbOptions),
                        "{name} {n}: {e}"
                    )
                }
                Err(e) => {
                    assert!(n < full.geneve_header_len + min_inner, "{name} {n}: {e}");
                    assert_eq!(e.layer(), Layer::InnerIp);
                }
                Ok(t) => {
                    // The inner header fits but the packet is cut short.
                    let e = summarize(t.inner(cut).unwrap(), t.inner_version).unwrap_err();
                    assert_eq!(e.layer(), Layer::InnerIp, "{name} {n}: {e}");
                }
            }
        }
    }
}

#[test]
fn inner_packet_truncated_at_every_offset_is_an_error() {
    let mut bare: Vec<(Vec<u8>, IpVersion)> =
        ["ipv4_options_udp", "ipv4_frag_first", "ipv4_frag_later"]
            .iter()
            .map(|n| (fixture(n), IpVersion::V4))
            .collect();
    for name in gwlb_fixtures() {
        let frame = fixture(name);
        let f = parse_gwlb_frame(&frame).unwrap();
        bare.push((frame[f.inner_offset..].to_vec(), f.tunnel.inner_version));
    }
    for (p, v) in bare {
        assert!(summarize(&p, v).is_ok());
        for n in 0..p.len() {
            assert_eq!(
                summarize(&p[..n], v).unwrap_err().layer(),
                Layer::InnerIp,
                "cut at {n}"
            );
        }
        // The wrong family is an error, not a misparse.
        let other = if v == IpVersion::V4 {
            IpVersion::V6
        } else {
            IpVersion::V4
        };
        assert!(summarize(&p, other).is_err());
    }
}

/// Sets `width` bytes at `at` (1 or 2) to `value` under `mask` (1 byte).
fn set(frame: &mut [u8], at: usize, width: usize, mask: u8, value: u32) {
    if width == 2 {
        frame[at..at + 2].copy_from_slice(&(value as u16).to_be_bytes());
    } else {
        let v = value as u8;
        let shift = mask.trailing_zeros();
        frame[at] = (frame[at] & !mask) | ((v << shift) & mask);
    }
}

/// Every length field of a fixture: (description, offset, width, mask).
fn length_fields(frame: &[u8]) -> Vec<(String, usize, usize, u8)> {
    let f = parse_gwlb_frame(frame).unwrap();
    let mut v = vec![
        ("outer ihl".to_string(), 14, 1, 0x0f),
        ("outer total_len".to_string(), 16, 2, 0xff),
        ("udp length".to_string(), 38, 2, 0xff),
        ("geneve opt_len".to_string(), 42, 1, 0x3f),
    ];
    let mut at = 50;
    while at < f.inner_offset {
        v.push((format!("option length at {at}"), at + 3, 1, 0x1f));
        at += 4 + usize::from(frame[at + 3] & 0x1f) * 4;
    }
    let i = f.inner_offset;
    match f.tunnel.inner_version {
        IpVersion::V4 => {
            v.push(("inner ihl".to_string(), i, 1, 0x0f));
            v.push(("inner total_len".to_string(), i + 2, 2, 0xff));
            let l4 = i + usize::from(frame[i] & 0x0f) * 4;
            match frame[i + 9] {
                6 => v.push(("tcp data offset".to_string(), l4 + 12, 1, 0xf0)),
                17 => v.push(("inner udp length".to_string(), l4 + 4, 2, 0xff)),
                _ => {}
            }
        }
        IpVersion::V6 => {
            v.push(("inner payload_len".to_string(), i + 4, 2, 0xff));
            let s = summarize(&frame[i..], IpVersion::V6).unwrap();
            let l4 = i + usize::from(s.l4_offset);
            if s.l4_offset > 40 {
                v.push(("ipv6 extension header length".to_string(), i + 41, 1, 0xff));
            }
            match s.protocol {
                6 => v.push(("tcp data offset".to_string(), l4 + 12, 1, 0xf0)),
                17 => v.push(("inner udp length".to_string(), l4 + 4, 2, 0xff)),
                _ => {}
            }
        }
    }
    v
}

#[test]
fn wrong_length_fields_give_errors_or_consistent_values() {
    let mut checked = 0;
    let mut errors = 0;
    for name in gwlb_fixtures() {
        let orig = fixture(name);
        for (what, at, width, mask) in length_fields(&orig) {
            let max: u32 = if width == 2 {
                65535
            } else {
                u32::from(mask >> mask.trailing_zeros())
            };
            let values: Vec<u32> = if width == 2 {
                (0..=orig.len() as u32 + 16)
                    .chain([0x7fff, 0xfffe, 0xffff])
                    .collect()
            } else {
                (0..=max).collect()
            };
            for value in values {
                let mut frame = orig.clone();
                set(&mut frame, at, width, mask, value);
                checked += 1;
                match full_parse(&frame) {
                    Ok((f, s)) => assert_consistent(&frame, &f, &s),
                    Err(e) => {
                        errors += 1;
                        assert!(!e.to_string().is_empty(), "{name} {what}={value}");
                    }
                }
            }
        }
    }
    // Most wrong values must be caught, not silently accepted.
    assert!(errors * 2 > checked, "{errors} errors in {checked} cases");
}

#[test]
fn gwlb_parser_errors_are_precise() {
    let frame = fixture("gwlb_v4_udp");
    let payload = &frame[42..];
    let with = |at: usize, v: u8| {
        let mut p = payload.to_vec();
        p[at] = v;
        p
    };
    assert_eq!(
        parse_geneve_payload(&with(0, 0x48)).unwrap_err(),
        Error::Unsupported {
            layer: Layer::Geneve,
            what: "version",
            value: 1
        }
    );
    assert_eq!(
        parse_geneve_payload(&with(2, 0x65)).unwrap_err(),
        Error::Unsupported {
            layer: Layer::Geneve,
            what: "protocol type",
            value: 0x6500
        }
    );
    // Endpoint ID option type changed to an unknown type: missing.
    assert_eq!(
        parse_geneve_payload(&with(8 + 2, 9)).unwrap_err(),
        Error::Malformed {
            layer: Layer::GwlbOptions,
            what: "endpoint ID option missing"
        }
    );
    // Cookie option (at 8 + 12 + 12) relabelled as a second attachment ID
    // (wrong length for it).
    assert_eq!(
        parse_geneve_payload(&with(32 + 2, 2)).unwrap_err(),
        Error::Malformed {
            layer: Layer::GwlbOptions,
            what: "attachment ID option is not 8 bytes"
        }
    );
    assert_eq!(
        parse_geneve_payload(&with(32 + 2, 0x83)).unwrap_err(),
        Error::Malformed {
            layer: Layer::GwlbOptions,
            what: "flow cookie option missing"
        }
    );
    // Attachment option relabelled as endpoint ID: duplicate.
    assert_eq!(
        parse_geneve_payload(&with(20 + 2, 1)).unwrap_err(),
        Error::Malformed {
            layer: Layer::GwlbOptions,
            what: "duplicate endpoint ID option"
        }
    );
    // Inner version nibble disagrees with the protocol type.
    assert_eq!(
        parse_geneve_payload(&with(40, 0x65)).unwrap_err(),
        Error::Malformed {
            layer: Layer::InnerIp,
            what: "IP version does not match GENEVE protocol type"
        }
    );
    // Option length running past the option area.
    let e = parse_geneve_payload(&with(32 + 3, 2)).unwrap_err();
    assert_eq!(
        e,
        Error::Truncated {
            layer: Layer::GwlbOptions,
            need: 12,
            have: 8
        }
    );
    assert_eq!(
        e.to_string(),
        "gwlb options: truncated: need 12 bytes, have 8"
    );
    // The message format the dataplane logs.
    assert_eq!(
        parse_geneve_payload(&payload[..37])
            .unwrap_err()
            .to_string(),
        "geneve: truncated: need 40 bytes, have 37"
    );
}

#[test]
fn outer_layer_errors_are_precise() {
    let frame = fixture("gwlb_v4_udp");
    let with = |at: usize, v: &[u8]| {
        let mut f = frame.clone();
        f[at..at + v.len()].copy_from_slice(v);
        f
    };
    assert_eq!(
        parse_gwlb_frame(&with(12, &[0x81, 0x00])).unwrap_err(),
        Error::Unsupported {
            layer: Layer::Ethernet,
            what: "VLAN-tagged ethertype",
            value: 0x8100
        }
    );
    assert_eq!(
        parse_gwlb_frame(&with(12, &[0x86, 0xdd]))
            .unwrap_err()
            .layer(),
        Layer::Ethernet
    );
    assert_eq!(
        parse_gwlb_frame(&with(14 + 6, &[0x20, 0x00])).unwrap_err(),
        Error::Malformed {
            layer: Layer::Ipv4,
            what: "outer packet is a fragment"
        }
    );
    assert_eq!(
        parse_gwlb_frame(&with(14 + 9, &[6])).unwrap_err(),
        Error::Unsupported {
            layer: Layer::Ipv4,
            what: "outer protocol",
            value: 6
        }
    );
    assert_eq!(
        parse_gwlb_frame(&with(36, &[0x12, 0xb5])).unwrap_err(),
        Error::Unsupported {
            layer: Layer::Udp,
            what: "destination port",
            value: 4789
        }
    );
    // Ethernet padding after the IPv4 packet is ignored.
    let mut padded = frame.clone();
    padded.extend_from_slice(&[0; 6]);
    let f = parse_gwlb_frame(&padded).unwrap();
    assert_eq!(f.inner_offset + f.tunnel.inner_len, frame.len());
}

#[test]
fn unknown_critical_option_is_skipped_not_dropped() {
    let mut frame = fixture("gwlb_v6_tcp_ext");
    let before = parse_gwlb_frame(&frame).unwrap().tunnel;
    // The unknown option (class 0xfff0) sits at GENEVE offset 20: mark it
    // critical and set the C bit.
    assert_eq!(&frame[42 + 20..42 + 23], &[0xff, 0xf0, 0x7f]);
    frame[42 + 22] |= 0x80;
    frame[42 + 1] |= 0x40;
    let g = geneve::Packet::new_checked(&frame[42..]).unwrap();
    assert!(g.critical());
    assert!(g
        .options()
        .map(Result::unwrap)
        .any(|o| o.class == 0xfff0 && o.is_critical()));
    assert_eq!(parse_gwlb_frame(&frame).unwrap().tunnel, before);
}
