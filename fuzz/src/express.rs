//! Differential: the express parse against the layered parse.
//!
//! Input: one flags byte (bit 0: repair the outer IPv4 checksum, so that
//! mutations get past it), then the frame. On every frame
//! `parse_express` accepts, the layer-by-layer views must accept it too
//! and find the same values; every frame also goes through
//! `parse_gwlb_frame` (no panic).

use tollgate_wire::{
    ethernet, gwlb, ipv4, parse_express, parse_geneve_payload, summarize, udp, ExpressFrame,
    TupleV4,
};

use crate::input::repair_outer_checksum;

pub fn run(data: &[u8]) {
    let Some((&flags, frame)) = data.split_first() else {
        return;
    };
    let mut frame = frame.to_vec();
    if flags & 1 != 0 {
        repair_outer_checksum(&mut frame);
    }
    check(&frame);
}

/// Panics if the express parse and the layered parse disagree on `frame`.
pub fn check(frame: &[u8]) {
    let _ = tollgate_wire::parse_gwlb_frame(frame);
    let layered = layered(frame);
    let Some(fast) = parse_express(frame) else {
        return;
    };
    assert_eq!(
        Some(fast),
        layered,
        "express and layered parses differ on {frame:02x?}"
    );
    let ip = ipv4::Packet::new_checked(&frame[14..]).expect("accepted by the layered parse");
    assert_eq!(14 + ip.header_len(), tollgate_wire::express::UDP_START);
}

/// What the layered views find for a frame of the express shape, or
/// `None` where a layer refuses it or it has another shape (an IPv6 or
/// non-TCP/UDP inner packet, a fragment).
pub fn layered(frame: &[u8]) -> Option<ExpressFrame> {
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
    let datagram = udp::Packet::new_checked(frame.get(udp_start..frame_len)?).ok()?;
    if datagram.dst_port() != gwlb::GENEVE_UDP_PORT {
        return None;
    }
    let payload_start = udp_start + 8;
    let payload_end = udp_start + usize::from(datagram.len());
    let tunnel = parse_geneve_payload(frame.get(payload_start..payload_end)?).ok()?;
    let inner_start = payload_start + tunnel.inner_offset;
    let inner = frame.get(inner_start..inner_start + tunnel.inner_len)?;
    let s = summarize(inner, tunnel.inner_version).ok()?;
    Some(ExpressFrame {
        frame_len,
        inner_len: tunnel.inner_len,
        endpoint_id: tunnel.metadata.endpoint_id,
        inner: TupleV4::of_summary(&s)?,
    })
}
