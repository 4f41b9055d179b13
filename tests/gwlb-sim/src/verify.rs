//! Verifier: compares a returned frame with the frame that was sent and names the first
//! differing byte and the layer it belongs to.

use serde::Serialize;

use crate::checksum;
use crate::wire::{
    ETHERTYPE_IPV4, GENEVE_BASE_LEN, GENEVE_OFFSET, GENEVE_PORT, IPV6_LEN, OUTER_IP_OFFSET,
    OUTER_UDP_OFFSET, PROTO_TCP, PROTO_UDP,
};

/// Bytes at the start of every inner L4 payload: run nonce (u16) and sequence number (u32).
pub const TAG_LEN: usize = 6;

/// Layer of a frame, for attributing a corrupted byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layer {
    Ethernet,
    OuterIpv4,
    OuterUdp,
    GeneveHeader,
    GeneveOptions,
    InnerHeaders,
    InnerPayload,
    /// Bytes past the end of the sent frame.
    Trailer,
}

impl std::fmt::Display for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Layer::Ethernet => "ethernet",
            Layer::OuterIpv4 => "outer-ipv4",
            Layer::OuterUdp => "outer-udp",
            Layer::GeneveHeader => "geneve-header",
            Layer::GeneveOptions => "geneve-options",
            Layer::InnerHeaders => "inner-headers",
            Layer::InnerPayload => "inner-payload",
            Layer::Trailer => "trailer",
        };
        f.write_str(name)
    }
}

/// The first difference between the expected and the returned frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    pub offset: usize,
    pub layer: Layer,
    pub expected: Option<u8>,
    pub got: Option<u8>,
    pub what: &'static str,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at byte {} ({})", self.what, self.offset, self.layer)?;
        if let (Some(e), Some(g)) = (self.expected, self.got) {
            write!(f, ": expected {e:#04x}, got {g:#04x}")?;
        }
        Ok(())
    }
}

/// Offsets of the layers of a well-formed GWLB frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub options_start: usize,
    pub inner_start: usize,
    pub payload_start: usize,
}

impl Layout {
    /// Parses the layer boundaries of a GENEVE frame; `None` if it is not one we can read.
    pub fn parse(frame: &[u8]) -> Option<Layout> {
        if frame.len() < GENEVE_OFFSET + GENEVE_BASE_LEN
            || u16::from_be_bytes([frame[12], frame[13]]) != ETHERTYPE_IPV4
            || frame[OUTER_IP_OFFSET] != 0x45
            || frame[OUTER_IP_OFFSET + 9] != PROTO_UDP
        {
            return None;
        }
        let options_start = GENEVE_OFFSET + GENEVE_BASE_LEN;
        let inner_start = options_start + usize::from(frame[GENEVE_OFFSET] & 0x3f) * 4;
        let inner = frame.get(inner_start..)?;
        let version = inner.first()? >> 4;
        let (ip_len, protocol) = match version {
            4 => (usize::from(inner[0] & 0x0f) * 4, *inner.get(9)?),
            6 => (IPV6_LEN, *inner.get(6)?),
            _ => return None,
        };
        let l4_len = match protocol {
            PROTO_TCP => usize::from(inner.get(ip_len + 12)? >> 4) * 4,
            _ => 8,
        };
        let payload_start = inner_start + ip_len + l4_len;
        if payload_start > frame.len() {
            return None;
        }
        Some(Layout {
            options_start,
            inner_start,
            payload_start,
        })
    }

    pub fn layer_of(&self, offset: usize) -> Layer {
        match offset {
            o if o < OUTER_IP_OFFSET => Layer::Ethernet,
            o if o < OUTER_UDP_OFFSET => Layer::OuterIpv4,
            o if o < GENEVE_OFFSET => Layer::OuterUdp,
            o if o < self.options_start => Layer::GeneveHeader,
            o if o < self.inner_start => Layer::GeneveOptions,
            o if o < self.payload_start => Layer::InnerHeaders,
            _ => Layer::InnerPayload,
        }
    }
}

/// Reads the (run nonce, sequence) tag at the start of the inner payload.
pub fn read_tag(frame: &[u8]) -> Option<(u16, u32)> {
    let layout = Layout::parse(frame)?;
    let tag = frame.get(layout.payload_start..layout.payload_start + TAG_LEN)?;
    Some((
        u16::from_be_bytes([tag[0], tag[1]]),
        u32::from_be_bytes([tag[2], tag[3], tag[4], tag[5]]),
    ))
}

/// True when a received frame looks like a GENEVE reply (IPv4, UDP, destination port 6081).
pub fn is_geneve_reply(frame: &[u8]) -> bool {
    frame.len() >= GENEVE_OFFSET + GENEVE_BASE_LEN
        && u16::from_be_bytes([frame[12], frame[13]]) == ETHERTYPE_IPV4
        && frame[OUTER_IP_OFFSET] >> 4 == 4
        && frame[OUTER_IP_OFFSET + 9] == PROTO_UDP
        && u16::from_be_bytes([frame[OUTER_UDP_OFFSET + 2], frame[OUTER_UDP_OFFSET + 3]])
            == GENEVE_PORT
}

/// Outer IPv4 identification of a frame (second match key when the tag is damaged).
pub fn outer_ip_id(frame: &[u8]) -> Option<u16> {
    let b = frame.get(OUTER_IP_OFFSET + 4..OUTER_IP_OFFSET + 6)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

/// Verifies that `returned` is exactly the hairpin of `sent`: Ethernet and outer IPv4
/// addresses swapped, outer UDP checksum zero or correct, every other byte identical.
pub fn verify_hairpin(sent: &[u8], returned: &[u8]) -> Result<(), Mismatch> {
    let expected = crate::wire::hairpin(sent);
    let layout = Layout::parse(sent);
    let layer_of = |offset: usize| match layout {
        _ if offset >= sent.len() => Layer::Trailer,
        Some(l) => l.layer_of(offset),
        None => Layer::Ethernet,
    };
    let udp_sum = OUTER_UDP_OFFSET + 6..OUTER_UDP_OFFSET + 8;
    for (offset, (&e, &g)) in expected.iter().zip(returned).enumerate() {
        if udp_sum.contains(&offset) {
            continue;
        }
        if e != g {
            return Err(Mismatch {
                offset,
                layer: layer_of(offset),
                expected: Some(e),
                got: Some(g),
                what: "byte differs",
            });
        }
    }
    if returned.len() < expected.len() {
        return Err(Mismatch {
            offset: returned.len(),
            layer: layer_of(returned.len()),
            expected: expected.get(returned.len()).copied(),
            got: None,
            what: "frame truncated",
        });
    }
    if returned.len() > expected.len() {
        return Err(Mismatch {
            offset: expected.len(),
            layer: Layer::Trailer,
            expected: None,
            got: returned.get(expected.len()).copied(),
            what: "frame longer than sent",
        });
    }
    let got_sum = &returned[udp_sum.clone()];
    if got_sum != [0, 0] && !udp_checksum_valid(returned) {
        return Err(Mismatch {
            offset: udp_sum.start,
            layer: Layer::OuterUdp,
            expected: Some(0),
            got: Some(got_sum[0]),
            what: "outer UDP checksum neither zero nor correct",
        });
    }
    Ok(())
}

/// Checks a non-zero outer UDP checksum against the pseudo header.
fn udp_checksum_valid(frame: &[u8]) -> bool {
    let ip = &frame[OUTER_IP_OFFSET..OUTER_UDP_OFFSET];
    let udp = &frame[OUTER_UDP_OFFSET..];
    let sum = checksum::pseudo_header_sum(&ip[12..16], &ip[16..20], PROTO_UDP, udp.len() as u32);
    checksum::finish(checksum::sum_words(sum, udp)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{encapsulate, hairpin, inner_packet, GeneveOption, GwlbMeta, Outer, L4};
    use std::net::{IpAddr, Ipv4Addr};

    fn sample(ipv6: bool, extra_option: bool) -> Vec<u8> {
        let (src, dst): (IpAddr, IpAddr) = if ipv6 {
            (
                "2001:db8:1::10".parse().unwrap(),
                "2001:db8:2::20".parse().unwrap(),
            )
        } else {
            ("10.1.11.10".parse().unwrap(), "10.2.11.20".parse().unwrap())
        };
        let mut payload = vec![0x12, 0x34, 0, 0, 0, 42];
        payload.extend_from_slice(&[0x5a; 30]);
        let inner = inner_packet(
            src,
            dst,
            &L4::Tcp {
                src_port: 40000,
                dst_port: 443,
                seq: 1,
                ack: 2,
                flags: 0x18,
            },
            &payload,
            9,
            3,
        )
        .unwrap();
        let mut options = GwlbMeta {
            endpoint_id: 0xabc,
            attachment_id: 7,
            flow_cookie: 99,
        }
        .options();
        if extra_option {
            options.push(GeneveOption {
                class: 0xff01,
                kind: 0x42,
                data: vec![1, 2, 3, 4],
            });
        }
        let outer = Outer {
            src_mac: [2, 0, 0, 0, 0, 0x60],
            dst_mac: [2, 0, 0, 0, 0, 1],
            src_ip: Ipv4Addr::new(10, 254, 11, 60),
            dst_ip: Ipv4Addr::new(10, 254, 11, 101),
            ip_id: 42,
            ttl: 64,
            udp_src_port: 33333,
            udp_dst_port: GENEVE_PORT,
        };
        encapsulate(&outer, &options, &inner).unwrap()
    }

    #[test]
    fn correct_hairpin_passes() {
        for ipv6 in [false, true] {
            for extra in [false, true] {
                let sent = sample(ipv6, extra);
                assert_eq!(verify_hairpin(&sent, &hairpin(&sent)), Ok(()));
                assert_eq!(read_tag(&sent), Some((0x1234, 42)));
            }
        }
    }

    #[test]
    fn unchanged_frame_is_caught_as_ethernet() {
        let sent = sample(false, false);
        let err = verify_hairpin(&sent, &sent).unwrap_err();
        // The MACs differ only in their last byte.
        assert_eq!((err.offset, err.layer), (5, Layer::Ethernet));
    }

    #[test]
    fn every_flipped_byte_is_caught_in_its_layer() {
        for extra in [false, true] {
            for ipv6 in [false, true] {
                let sent = sample(ipv6, extra);
                let options_len = if extra { 40 } else { 32 };
                let inner_start = GENEVE_OFFSET + 8 + options_len;
                let inner_headers = if ipv6 { 60 } else { 40 };
                let good = hairpin(&sent);
                for offset in 0..good.len() {
                    let mut bad = good.clone();
                    bad[offset] ^= 0x01;
                    let want = match offset {
                        0..=13 => Layer::Ethernet,
                        14..=33 => Layer::OuterIpv4,
                        34..=41 => Layer::OuterUdp,
                        42..=49 => Layer::GeneveHeader,
                        o if o < inner_start => Layer::GeneveOptions,
                        o if o < inner_start + inner_headers => Layer::InnerHeaders,
                        _ => Layer::InnerPayload,
                    };
                    let err = verify_hairpin(&sent, &bad).unwrap_err();
                    if (40..42).contains(&offset) {
                        // A flipped zero UDP checksum becomes a wrong non-zero one.
                        assert_eq!(err.layer, Layer::OuterUdp);
                        continue;
                    }
                    assert_eq!((err.offset, err.layer), (offset, want), "flip at {offset}");
                }
            }
        }
    }

    #[test]
    fn correct_outer_udp_checksum_is_accepted() {
        let sent = sample(false, true);
        let mut reply = hairpin(&sent);
        let ip = reply[14..34].to_vec();
        let udp = &reply[34..];
        let sum = checksum::transport_checksum(&ip[12..16], &ip[16..20], PROTO_UDP, udp);
        reply[40..42].copy_from_slice(&sum.to_be_bytes());
        assert_eq!(verify_hairpin(&sent, &reply), Ok(()));
    }

    #[test]
    fn truncated_and_padded_frames_are_caught() {
        let sent = sample(true, false);
        let good = hairpin(&sent);
        let err = verify_hairpin(&sent, &good[..good.len() - 3]).unwrap_err();
        assert_eq!(
            (err.offset, err.layer),
            (good.len() - 3, Layer::InnerPayload)
        );
        let err = verify_hairpin(&sent, &good[..60]).unwrap_err();
        assert_eq!(err.layer, Layer::GeneveOptions);
        let mut long = good.clone();
        long.push(0);
        let err = verify_hairpin(&sent, &long).unwrap_err();
        assert_eq!((err.offset, err.layer), (good.len(), Layer::Trailer));
    }

    #[test]
    fn reply_classification() {
        let sent = sample(false, false);
        assert!(is_geneve_reply(&hairpin(&sent)));
        let mut arp = hairpin(&sent);
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert!(!is_geneve_reply(&arp));
        assert!(!is_geneve_reply(&sent[..30]));
        assert_eq!(outer_ip_id(&sent), Some(42));
    }

    mod properties {
        use super::super::*;
        use crate::traffic::{Generator, Protocol, SizePlan, TrafficConfig};
        use crate::wire::hairpin;
        use proptest::prelude::*;
        use std::net::Ipv4Addr;

        fn frame(seed: u64, skip: usize) -> Vec<u8> {
            let mut generator = Generator::new(TrafficConfig {
                gwlb_mac: [2, 0, 0, 0, 0, 0x60],
                appliance_mac: [2, 0, 0, 0, 0, 1],
                outer_src: Ipv4Addr::new(10, 254, 11, 60),
                appliance_ip: Ipv4Addr::new(10, 254, 11, 101),
                endpoints: 3,
                flows: 5,
                sizes: SizePlan::parse("min,imix,1500").unwrap(),
                families_v6: vec![false, true],
                protocols: vec![Protocol::Tcp, Protocol::Udp, Protocol::Icmp],
                unknown_option_every: 2,
                run_nonce: 3,
                seed,
            });
            for _ in 0..skip {
                generator.next_frame().unwrap();
            }
            generator.next_frame().unwrap().frame
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]
            /// Any single damaged byte of any generated frame is caught, at its offset, in the
            /// layer the frame's own layout assigns to that offset.
            #[test]
            fn any_damage_is_caught_and_attributed(seed: u64, skip in 0usize..40, at: prop::sample::Index, bits in 1u8..=255) {
                let sent = frame(seed, skip);
                let mut reply = hairpin(&sent);
                prop_assert_eq!(verify_hairpin(&sent, &reply), Ok(()));
                let offset = at.index(reply.len());
                reply[offset] ^= bits;
                let err = verify_hairpin(&sent, &reply).unwrap_err();
                if (OUTER_UDP_OFFSET + 6..OUTER_UDP_OFFSET + 8).contains(&offset) {
                    prop_assert_eq!(err.layer, Layer::OuterUdp);
                } else {
                    prop_assert_eq!(err.offset, offset);
                    prop_assert_eq!(err.layer, Layout::parse(&sent).unwrap().layer_of(offset));
                }
            }
        }
    }
}
