//! IPv4 header (RFC 791).
//!
//! `Packet::new_checked` checks version 4, a header length of at least 20
//! bytes within the buffer, and `header_len <= total_len <= buffer length`.
//! After that no accessor panics; [`Packet::payload`] ends at `total_len`,
//! so Ethernet padding is never mistaken for payload.

use crate::bytes::{array, be16, put16};
use crate::checksum;
use crate::error::{need, Error, Layer};

mod field {
    use core::ops::Range;
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const TOTAL_LEN: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const FLAGS_FRAG: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC: Range<usize> = 12..16;
    pub const DST: Range<usize> = 16..20;
    pub const OPTIONS_START: usize = 20;
}

/// Length of a header without options.
pub const MIN_HEADER_LEN: usize = field::OPTIONS_START;

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// IP protocol numbers, defined once for the workspace.
pub mod protocol {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const ICMPV6: u8 = 58;
}

/// A view of an IPv4 packet.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Validates version and every length (see module doc).
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let len = buffer.as_ref().len();
        need(Layer::Ipv4, MIN_HEADER_LEN, len)?;
        let p = Packet { buffer };
        if p.version() != 4 {
            return Err(Error::malformed(Layer::Ipv4, "version is not 4"));
        }
        let header_len = p.header_len();
        if header_len < MIN_HEADER_LEN {
            return Err(Error::malformed(
                Layer::Ipv4,
                "header length below 20 bytes",
            ));
        }
        need(Layer::Ipv4, header_len, len)?;
        let total_len = usize::from(p.total_len());
        if total_len < header_len {
            return Err(Error::malformed(
                Layer::Ipv4,
                "total length below header length",
            ));
        }
        need(Layer::Ipv4, total_len, len)?;
        Ok(p)
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL * 4), options included.
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    pub fn dscp(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] >> 2
    }

    pub fn ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] & 0x03
    }

    pub fn total_len(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::TOTAL_LEN])
    }

    pub fn ident(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::IDENT])
    }

    fn flags_frag(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::FLAGS_FRAG])
    }

    pub fn dont_frag(&self) -> bool {
        self.flags_frag() & FLAG_DF != 0
    }

    pub fn more_frags(&self) -> bool {
        self.flags_frag() & FLAG_MF != 0
    }

    /// Fragment offset in bytes (the field counts 8-byte units).
    pub fn frag_offset(&self) -> u16 {
        (self.flags_frag() & FRAG_OFFSET_MASK) << 3
    }

    /// True for any fragment (MF set or a non-zero offset).
    pub fn is_fragment(&self) -> bool {
        self.flags_frag() & (FLAG_MF | FRAG_OFFSET_MASK) != 0
    }

    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    pub fn checksum(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    pub fn src_addr(&self) -> [u8; 4] {
        array(&self.buffer.as_ref()[field::SRC])
    }

    pub fn dst_addr(&self) -> [u8; 4] {
        array(&self.buffer.as_ref()[field::DST])
    }

    /// The options bytes (empty when the header is 20 bytes).
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::OPTIONS_START..self.header_len()]
    }

    /// True when the header checksum is correct.
    pub fn verify_checksum(&self) -> bool {
        checksum::sum(&self.buffer.as_ref()[..self.header_len()]) == 0xffff
    }

    /// Bytes from the end of the header to `total_len`.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..usize::from(self.total_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets version 4 and the header length in bytes (a multiple of 4).
    pub fn set_version_and_header_len(&mut self, header_len: usize) {
        self.buffer.as_mut()[field::VER_IHL] = 0x40 | ((header_len / 4) as u8 & 0x0f);
    }

    pub fn set_dscp_ecn(&mut self, dscp: u8, ecn: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = (dscp << 2) | (ecn & 0x03);
    }

    pub fn set_total_len(&mut self, len: u16) {
        put16(&mut self.buffer.as_mut()[field::TOTAL_LEN], len);
    }

    pub fn set_ident(&mut self, id: u16) {
        put16(&mut self.buffer.as_mut()[field::IDENT], id);
    }

    /// Sets DF, MF and the fragment offset in bytes (a multiple of 8).
    pub fn set_fragment(&mut self, dont_frag: bool, more_frags: bool, offset_bytes: u16) {
        let mut v = (offset_bytes >> 3) & FRAG_OFFSET_MASK;
        if dont_frag {
            v |= FLAG_DF;
        }
        if more_frags {
            v |= FLAG_MF;
        }
        put16(&mut self.buffer.as_mut()[field::FLAGS_FRAG], v);
    }

    pub fn set_ttl(&mut self, ttl: u8) {
        self.buffer.as_mut()[field::TTL] = ttl;
    }

    pub fn set_protocol(&mut self, p: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = p;
    }

    pub fn set_checksum(&mut self, c: u16) {
        put16(&mut self.buffer.as_mut()[field::CHECKSUM], c);
    }

    pub fn set_src_addr(&mut self, a: [u8; 4]) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&a);
    }

    pub fn set_dst_addr(&mut self, a: [u8; 4]) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&a);
    }

    /// Computes and stores the header checksum.
    pub fn fill_checksum(&mut self) {
        let c = checksum::ipv4_header(&self.buffer.as_ref()[..self.header_len()]);
        self.set_checksum(c);
    }

    /// Swaps source and destination addresses. Checksum-neutral: the
    /// ones-complement sum does not depend on word order, so the header
    /// checksum (and any pseudo-header checksum) stays valid.
    pub fn swap_addrs(&mut self) {
        let b = self.buffer.as_mut();
        let (src, dst) = b[field::SRC.start..field::DST.end].split_at_mut(4);
        src.swap_with_slice(dst);
    }

    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        &mut self.buffer.as_mut()[field::OPTIONS_START..end]
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (start, end) = (self.header_len(), usize::from(self.total_len()));
        &mut self.buffer.as_mut()[start..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> [u8; 24] {
        let mut b = [0u8; 24];
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.set_version_and_header_len(20);
        p.set_total_len(24);
        p.set_ttl(64);
        p.set_protocol(protocol::UDP);
        p.set_src_addr([10, 0, 0, 1]);
        p.set_dst_addr([10, 0, 0, 2]);
        p.fill_checksum();
        b
    }

    #[test]
    fn length_checks() {
        let b = header();
        assert!(Packet::new_checked(&b[..]).is_ok());
        assert_eq!(
            Packet::new_checked(&b[..23]).unwrap_err(),
            Error::Truncated {
                layer: Layer::Ipv4,
                need: 24,
                have: 23
            }
        );
        let mut bad = b;
        bad[0] = 0x44;
        assert_eq!(
            Packet::new_checked(&bad[..]).unwrap_err(),
            Error::malformed(Layer::Ipv4, "header length below 20 bytes")
        );
        let mut bad = b;
        bad[3] = 19;
        assert_eq!(
            Packet::new_checked(&bad[..]).unwrap_err(),
            Error::malformed(Layer::Ipv4, "total length below header length")
        );
        let mut bad = b;
        bad[0] = 0x65;
        assert_eq!(
            Packet::new_checked(&bad[..]).unwrap_err(),
            Error::malformed(Layer::Ipv4, "version is not 4")
        );
    }

    #[test]
    fn swap_keeps_checksum_and_fragment_fields() {
        let mut b = header();
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        assert!(p.verify_checksum());
        p.swap_addrs();
        assert!(p.verify_checksum());
        assert_eq!(p.src_addr(), [10, 0, 0, 2]);
        assert_eq!(p.dst_addr(), [10, 0, 0, 1]);
        p.set_fragment(false, true, 1480);
        assert!(p.more_frags() && !p.dont_frag() && p.is_fragment());
        assert_eq!(p.frag_offset(), 1480);
        assert!(!p.verify_checksum());
        p.fill_checksum();
        assert!(p.verify_checksum());
        assert_eq!(p.payload().len(), 4);
    }
}
