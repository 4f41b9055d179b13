//! IPv6 header (RFC 8200) and its extension-header chain.
//!
//! `Packet::new_checked` checks version 6 and that the buffer holds the
//! 40-byte header plus `payload_len` bytes. A payload length of 0 is taken
//! literally (jumbograms are not supported). [`Packet::upper_layer`] walks
//! hop-by-hop, routing, fragment, destination-options and AH headers, at
//! most [`MAX_EXTENSION_HEADERS`] of them, to the upper-layer header.

use crate::bytes::{array, be16, be32, put16, put32};
use crate::error::{need, Error, Layer};

mod field {
    use core::ops::Range;
    pub const VER_TC_FLOW: Range<usize> = 0..4;
    pub const PAYLOAD_LEN: Range<usize> = 4..6;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: Range<usize> = 8..24;
    pub const DST: Range<usize> = 24..40;
}

/// Length of the fixed header.
pub const HEADER_LEN: usize = field::DST.end;

/// Longest extension-header chain walked before giving up.
pub const MAX_EXTENSION_HEADERS: usize = 8;

/// Extension header numbers.
pub mod next_header {
    pub const HOP_BY_HOP: u8 = 0;
    pub const ROUTING: u8 = 43;
    pub const FRAGMENT: u8 = 44;
    pub const AH: u8 = 51;
    pub const DEST_OPTIONS: u8 = 60;
    pub const NO_NEXT: u8 = 59;
}

/// What an IPv6 fragment header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentInfo {
    /// Offset of this fragment's data in bytes.
    pub offset: u16,
    pub more_frags: bool,
    pub ident: u32,
}

/// Where the extension-header chain ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpperLayer {
    /// The upper-layer protocol (or the next header after a non-first
    /// fragment, whose header is not in this packet).
    pub protocol: u8,
    /// Offset of the upper-layer header from the start of the IPv6 packet.
    pub offset: usize,
    /// Set when a fragment header was present.
    pub fragment: Option<FragmentInfo>,
}

/// Walks extension headers in `bytes` (which starts with the 40-byte IPv6
/// header and may be cut short, as in an ICMPv6 error's quote). Stops at the
/// first non-extension header, or after a fragment header with a non-zero
/// offset (what follows is not a header).
pub fn walk_extension_headers(first: u8, bytes: &[u8]) -> Result<UpperLayer, Error> {
    let mut protocol = first;
    let mut offset = HEADER_LEN;
    let mut fragment = None;
    for count in 0..=MAX_EXTENSION_HEADERS {
        let len = match protocol {
            next_header::HOP_BY_HOP if count != 0 => {
                return Err(Error::malformed(
                    Layer::Ipv6,
                    "hop-by-hop header is not first",
                ));
            }
            next_header::HOP_BY_HOP | next_header::ROUTING | next_header::DEST_OPTIONS => {
                need(Layer::Ipv6, offset + 2, bytes.len())?;
                (usize::from(bytes[offset + 1]) + 1) * 8
            }
            next_header::FRAGMENT => 8,
            next_header::AH => {
                need(Layer::Ipv6, offset + 2, bytes.len())?;
                (usize::from(bytes[offset + 1]) + 2) * 4
            }
            _ => {
                return Ok(UpperLayer {
                    protocol,
                    offset,
                    fragment,
                })
            }
        };
        if count == MAX_EXTENSION_HEADERS {
            break;
        }
        need(Layer::Ipv6, offset + len, bytes.len())?;
        let next = bytes[offset];
        if protocol == next_header::FRAGMENT {
            let off_flags = be16(&bytes[offset + 2..offset + 4]);
            let info = FragmentInfo {
                offset: off_flags & 0xfff8,
                more_frags: off_flags & 1 != 0,
                ident: be32(&bytes[offset + 4..offset + 8]),
            };
            fragment = Some(info);
            if info.offset != 0 {
                return Ok(UpperLayer {
                    protocol: next,
                    offset: offset + len,
                    fragment,
                });
            }
        }
        protocol = next;
        offset += len;
    }
    Err(Error::malformed(
        Layer::Ipv6,
        "more than 8 extension headers",
    ))
}

/// A view of an IPv6 packet.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Validates version and lengths (see module doc).
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let len = buffer.as_ref().len();
        need(Layer::Ipv6, HEADER_LEN, len)?;
        let p = Packet { buffer };
        if p.version() != 6 {
            return Err(Error::malformed(Layer::Ipv6, "version is not 6"));
        }
        need(Layer::Ipv6, HEADER_LEN + usize::from(p.payload_len()), len)?;
        Ok(p)
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn ver_tc_flow(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::VER_TC_FLOW])
    }

    pub fn version(&self) -> u8 {
        (self.ver_tc_flow() >> 28) as u8
    }

    pub fn traffic_class(&self) -> u8 {
        (self.ver_tc_flow() >> 20) as u8
    }

    pub fn flow_label(&self) -> u32 {
        self.ver_tc_flow() & 0x000f_ffff
    }

    pub fn payload_len(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::PAYLOAD_LEN])
    }

    /// Header length plus payload length.
    pub fn total_len(&self) -> usize {
        HEADER_LEN + usize::from(self.payload_len())
    }

    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NEXT_HEADER]
    }

    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    pub fn src_addr(&self) -> [u8; 16] {
        array(&self.buffer.as_ref()[field::SRC])
    }

    pub fn dst_addr(&self) -> [u8; 16] {
        array(&self.buffer.as_ref()[field::DST])
    }

    /// The bytes after the fixed header, up to `payload_len`
    /// (extension headers included).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.total_len()]
    }

    /// Walks the extension headers within `payload_len`.
    pub fn upper_layer(&self) -> Result<UpperLayer, Error> {
        walk_extension_headers(
            self.next_header(),
            &self.buffer.as_ref()[..self.total_len()],
        )
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets version 6, traffic class and flow label.
    pub fn set_version_tc_flow(&mut self, traffic_class: u8, flow_label: u32) {
        let v = (6 << 28) | (u32::from(traffic_class) << 20) | (flow_label & 0x000f_ffff);
        put32(&mut self.buffer.as_mut()[field::VER_TC_FLOW], v);
    }

    pub fn set_payload_len(&mut self, len: u16) {
        put16(&mut self.buffer.as_mut()[field::PAYLOAD_LEN], len);
    }

    pub fn set_next_header(&mut self, nh: u8) {
        self.buffer.as_mut()[field::NEXT_HEADER] = nh;
    }

    pub fn set_hop_limit(&mut self, h: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = h;
    }

    pub fn set_src_addr(&mut self, a: [u8; 16]) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&a);
    }

    pub fn set_dst_addr(&mut self, a: [u8; 16]) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&a);
    }

    /// Swaps source and destination (checksum-neutral, as for IPv4).
    pub fn swap_addrs(&mut self) {
        let b = self.buffer.as_mut();
        let (src, dst) = b[field::SRC.start..field::DST.end].split_at_mut(16);
        src.swap_with_slice(dst);
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = self.total_len();
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// IPv6 header + hop-by-hop (8) + fragment (8) + 8 bytes of UDP.
    fn packet(frag_offset: u16) -> [u8; 64] {
        let mut b = [0u8; 64];
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.set_version_tc_flow(0, 0x12345);
        p.set_payload_len(24);
        p.set_next_header(next_header::HOP_BY_HOP);
        b[40] = next_header::FRAGMENT;
        b[48] = 17;
        b[50..52].copy_from_slice(&(frag_offset | 1).to_be_bytes());
        b[52..56].copy_from_slice(&0xdead_beefu32.to_be_bytes());
        b
    }

    #[test]
    fn walks_to_upper_layer() {
        let b = packet(0);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.flow_label(), 0x12345);
        let u = p.upper_layer().unwrap();
        assert_eq!(u.protocol, 17);
        assert_eq!(u.offset, 56);
        assert_eq!(
            u.fragment,
            Some(FragmentInfo {
                offset: 0,
                more_frags: true,
                ident: 0xdead_beef
            })
        );
        let b = packet(1480);
        let u = Packet::new_checked(&b[..]).unwrap().upper_layer().unwrap();
        assert_eq!(u.fragment.unwrap().offset, 1480);
        assert_eq!(u.offset, 56);
    }

    #[test]
    fn bounded_chain_and_truncation() {
        let mut b = [0u8; 40 + 8 * 10];
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.set_version_tc_flow(0, 0);
        p.set_payload_len(80);
        p.set_next_header(next_header::DEST_OPTIONS);
        for i in 0..10 {
            b[40 + 8 * i] = next_header::DEST_OPTIONS;
        }
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(
            p.upper_layer().unwrap_err(),
            Error::malformed(Layer::Ipv6, "more than 8 extension headers")
        );
        // Hop-by-hop length pointing past the payload.
        let mut b = packet(0);
        b[41] = 5;
        assert_eq!(
            Packet::new_checked(&b[..])
                .unwrap()
                .upper_layer()
                .unwrap_err(),
            Error::Truncated {
                layer: Layer::Ipv6,
                need: 88,
                have: 64
            }
        );
    }
}
