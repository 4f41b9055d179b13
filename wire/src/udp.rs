//! UDP header (RFC 768).
//!
//! `Packet::new_checked` checks `8 <= length field <= buffer length`; the
//! payload ends at the length field.

use crate::bytes::{be16, put16};
use crate::checksum;
use crate::error::{need, Error, Layer};

mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
}

pub const HEADER_LEN: usize = field::CHECKSUM.end;

/// A view of a UDP datagram.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let have = buffer.as_ref().len();
        need(Layer::Udp, HEADER_LEN, have)?;
        let p = Packet { buffer };
        let len = usize::from(p.len());
        if len < HEADER_LEN {
            return Err(Error::malformed(Layer::Udp, "length below 8 bytes"));
        }
        need(Layer::Udp, len, have)?;
        Ok(p)
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn src_port(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::SRC_PORT])
    }

    pub fn dst_port(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::DST_PORT])
    }

    /// The length field: header plus payload.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::LENGTH])
    }

    pub fn checksum(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    fn datagram(&self) -> &[u8] {
        &self.buffer.as_ref()[..usize::from(self.len())]
    }

    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.len())]
    }

    /// True if the checksum is correct or absent (0, allowed over IPv4).
    pub fn verify_checksum_v4(&self, src: [u8; 4], dst: [u8; 4]) -> bool {
        self.checksum() == 0 || checksum::udp_v4(src, dst, self.datagram()) == self.checksum()
    }

    /// True if the checksum is correct (mandatory over IPv6).
    pub fn verify_checksum_v6(&self, src: &[u8; 16], dst: &[u8; 16]) -> bool {
        checksum::udp_v6(src, dst, self.datagram()) == self.checksum()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_src_port(&mut self, p: u16) {
        put16(&mut self.buffer.as_mut()[field::SRC_PORT], p);
    }

    pub fn set_dst_port(&mut self, p: u16) {
        put16(&mut self.buffer.as_mut()[field::DST_PORT], p);
    }

    pub fn set_len(&mut self, len: u16) {
        put16(&mut self.buffer.as_mut()[field::LENGTH], len);
    }

    pub fn set_checksum(&mut self, c: u16) {
        put16(&mut self.buffer.as_mut()[field::CHECKSUM], c);
    }

    pub fn fill_checksum_v4(&mut self, src: [u8; 4], dst: [u8; 4]) {
        let c = checksum::udp_v4(src, dst, self.datagram());
        self.set_checksum(c);
    }

    pub fn fill_checksum_v6(&mut self, src: &[u8; 16], dst: &[u8; 16]) {
        let c = checksum::udp_v6(src, dst, self.datagram());
        self.set_checksum(c);
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_field_bounds_payload() {
        let mut b = [0u8; 12];
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.set_len(10);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.payload().len(), 2);
        b[5] = 7;
        assert_eq!(
            Packet::new_checked(&b[..]).unwrap_err(),
            Error::malformed(Layer::Udp, "length below 8 bytes")
        );
        b[5] = 13;
        assert_eq!(
            Packet::new_checked(&b[..]).unwrap_err(),
            Error::Truncated {
                layer: Layer::Udp,
                need: 13,
                have: 12
            }
        );
    }
}
