//! TCP header (RFC 9293).
//!
//! `Packet::new_checked` checks a data offset of at least 5 words whose
//! header fits the buffer. The buffer is the whole segment: the payload is
//! everything after the header, so pass exactly the IP payload.

use crate::bytes::{be16, be32, put16, put32};
use crate::checksum;
use crate::error::{need, Error, Layer};

mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const SEQ: Range<usize> = 4..8;
    pub const ACK: Range<usize> = 8..12;
    pub const DATA_OFFSET: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: Range<usize> = 14..16;
    pub const CHECKSUM: Range<usize> = 16..18;
    pub const URGENT: Range<usize> = 18..20;
    pub const OPTIONS_START: usize = 20;
}

pub const MIN_HEADER_LEN: usize = field::OPTIONS_START;

/// The largest window-scale shift count (RFC 7323).
pub const MAX_WINDOW_SCALE: u8 = 14;

/// TCP option kinds.
pub mod option {
    pub const END: u8 = 0;
    pub const NOP: u8 = 1;
    pub const WINDOW_SCALE: u8 = 3;
}

/// A view of a TCP segment.
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
        need(Layer::Tcp, MIN_HEADER_LEN, have)?;
        let p = Packet { buffer };
        let header_len = p.header_len();
        if header_len < MIN_HEADER_LEN {
            return Err(Error::malformed(Layer::Tcp, "data offset below 5 words"));
        }
        need(Layer::Tcp, header_len, have)?;
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

    pub fn seq(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::SEQ])
    }

    pub fn ack(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::ACK])
    }

    /// Header length in bytes (data offset * 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::DATA_OFFSET] >> 4) * 4
    }

    /// The flags byte (CWR..FIN, see `summary::tcp_flags`).
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    pub fn window(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::WINDOW])
    }

    pub fn checksum(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    pub fn urgent(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::URGENT])
    }

    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::OPTIONS_START..self.header_len()]
    }

    /// The shift count of the window-scale option (kind 3, length 3), if
    /// the options hold one; counts above 14 are read as 14 (RFC 7323
    /// 2.3). Options are walked as RFC 9293 lays them out and the walk
    /// stops at the end-of-list option or at a malformed length.
    pub fn window_scale(&self) -> Option<u8> {
        let mut opts = self.options();
        while let [kind, rest @ ..] = opts {
            match *kind {
                option::END => return None,
                option::NOP => opts = rest,
                kind => {
                    let len = usize::from(*rest.first()?);
                    if len < 2 || len > opts.len() {
                        return None;
                    }
                    if kind == option::WINDOW_SCALE && len == 3 {
                        return Some(opts[2].min(MAX_WINDOW_SCALE));
                    }
                    opts = &opts[len..];
                }
            }
        }
        None
    }

    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }

    pub fn verify_checksum_v4(&self, src: [u8; 4], dst: [u8; 4]) -> bool {
        checksum::tcp_v4(src, dst, self.buffer.as_ref()) == self.checksum()
    }

    pub fn verify_checksum_v6(&self, src: &[u8; 16], dst: &[u8; 16]) -> bool {
        checksum::tcp_v6(src, dst, self.buffer.as_ref()) == self.checksum()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_src_port(&mut self, p: u16) {
        put16(&mut self.buffer.as_mut()[field::SRC_PORT], p);
    }

    pub fn set_dst_port(&mut self, p: u16) {
        put16(&mut self.buffer.as_mut()[field::DST_PORT], p);
    }

    pub fn set_seq(&mut self, v: u32) {
        put32(&mut self.buffer.as_mut()[field::SEQ], v);
    }

    pub fn set_ack(&mut self, v: u32) {
        put32(&mut self.buffer.as_mut()[field::ACK], v);
    }

    /// Sets the data offset from a header length in bytes (reserved bits 0).
    pub fn set_header_len(&mut self, len: usize) {
        self.buffer.as_mut()[field::DATA_OFFSET] = ((len / 4) as u8) << 4;
    }

    pub fn set_flags(&mut self, f: u8) {
        self.buffer.as_mut()[field::FLAGS] = f;
    }

    pub fn set_window(&mut self, w: u16) {
        put16(&mut self.buffer.as_mut()[field::WINDOW], w);
    }

    pub fn set_checksum(&mut self, c: u16) {
        put16(&mut self.buffer.as_mut()[field::CHECKSUM], c);
    }

    pub fn set_urgent(&mut self, u: u16) {
        put16(&mut self.buffer.as_mut()[field::URGENT], u);
    }

    pub fn fill_checksum_v4(&mut self, src: [u8; 4], dst: [u8; 4]) {
        let c = checksum::tcp_v4(src, dst, self.buffer.as_ref());
        self.set_checksum(c);
    }

    pub fn fill_checksum_v6(&mut self, src: &[u8; 16], dst: &[u8; 16]) {
        let c = checksum::tcp_v6(src, dst, self.buffer.as_ref());
        self.set_checksum(c);
    }

    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        &mut self.buffer.as_mut()[field::OPTIONS_START..end]
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        &mut self.buffer.as_mut()[start..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_offset_checks() {
        let mut b = [0u8; 24];
        b[12] = 0x60;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.options().len(), 4);
        assert!(p.payload().is_empty());
        b[12] = 0x40;
        assert_eq!(
            Packet::new_checked(&b[..]).unwrap_err(),
            Error::malformed(Layer::Tcp, "data offset below 5 words")
        );
        b[12] = 0x70;
        assert_eq!(
            Packet::new_checked(&b[..]).unwrap_err(),
            Error::Truncated {
                layer: Layer::Tcp,
                need: 28,
                have: 24
            }
        );
    }

    /// A header with `opts` as its options (padded with zeros, which end
    /// the list).
    fn with_options(opts: &[u8]) -> Vec<u8> {
        let len = 20 + opts.len().div_ceil(4) * 4;
        let mut b = vec![0u8; len];
        b[12] = ((len / 4) as u8) << 4;
        b[20..20 + opts.len()].copy_from_slice(opts);
        b
    }

    fn scale(opts: &[u8]) -> Option<u8> {
        Packet::new_checked(with_options(opts))
            .unwrap()
            .window_scale()
    }

    #[test]
    fn window_scale_option() {
        // Linux's SYN: MSS, SACK permitted, timestamps, NOP, window scale 7.
        let linux = [
            2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
        ];
        assert_eq!(scale(&linux), Some(7));
        assert_eq!(scale(&[1, 1, 1, 3, 3, 0]), Some(0));
        // Above 14 counts as 14.
        assert_eq!(scale(&[3, 3, 200]), Some(MAX_WINDOW_SCALE));
        // None, after the end of the list, or with a wrong length.
        assert_eq!(scale(&[]), None);
        assert_eq!(scale(&[2, 4, 0x05, 0xb4]), None);
        assert_eq!(scale(&[0, 3, 3, 7]), None);
        assert_eq!(scale(&[3, 4, 7, 0]), None);
        // Malformed lengths stop the walk without reading past the header.
        assert_eq!(scale(&[2, 0, 3, 3, 7]), None);
        assert_eq!(scale(&[2, 1, 3, 3, 7]), None);
        assert_eq!(scale(&[1, 1, 1, 2, 9]), None);
        assert_eq!(scale(&[1, 1, 1, 3]), None);
        // Every byte string of up to 40 option bytes: no panic.
        for n in 0..=40usize {
            for seed in 0..64u32 {
                let opts: Vec<u8> = (0..n)
                    .map(|i| (seed.wrapping_mul(2_654_435_761).rotate_left(i as u32) % 6) as u8)
                    .collect();
                let _ = scale(&opts);
            }
        }
    }
}
