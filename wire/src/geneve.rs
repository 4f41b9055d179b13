//! GENEVE header (RFC 8926) and a generic, allocation-free option walk.
//!
//! `Packet::new_checked` requires the 8-byte base header and the
//! `opt_len * 4` bytes of options; it does not check the version (a
//! different version may mean a different layout: callers decide).
//! [`Packet::options`] yields each option's class, type and data, or a
//! truncation error if an option's length runs past the option area.

use crate::bytes::{be16, put16};
use crate::error::{need, Error, Layer};

mod field {
    use core::ops::Range;
    pub const VER_OPTLEN: usize = 0;
    pub const FLAGS: usize = 1;
    pub const PROTOCOL: Range<usize> = 2..4;
    pub const VNI: Range<usize> = 4..7;
    pub const RESERVED: usize = 7;
    pub const OPTIONS_START: usize = 8;
}

/// Length of the base header.
pub const BASE_HEADER_LEN: usize = field::OPTIONS_START;
/// Length of an option's own header.
pub const OPTION_HEADER_LEN: usize = 4;

const FLAG_O: u8 = 0x80;
const FLAG_C: u8 = 0x40;
const OPTION_CRITICAL: u8 = 0x80;

/// A view of a GENEVE header and what follows it.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Checks that the base header and the option area fit the buffer.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let have = buffer.as_ref().len();
        need(Layer::Geneve, BASE_HEADER_LEN, have)?;
        let p = Packet { buffer };
        need(Layer::Geneve, p.header_len(), have)?;
        Ok(p)
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_OPTLEN] >> 6
    }

    /// Option area length in 4-byte words, as in the header.
    pub fn opt_len(&self) -> u8 {
        self.buffer.as_ref()[field::VER_OPTLEN] & 0x3f
    }

    /// Option area length in bytes.
    pub fn options_len(&self) -> usize {
        usize::from(self.opt_len()) * 4
    }

    /// Base header plus options: where the tunnelled packet starts.
    pub fn header_len(&self) -> usize {
        BASE_HEADER_LEN + self.options_len()
    }

    /// O bit: control packet.
    pub fn oam(&self) -> bool {
        self.buffer.as_ref()[field::FLAGS] & FLAG_O != 0
    }

    /// C bit: a critical option is present.
    pub fn critical(&self) -> bool {
        self.buffer.as_ref()[field::FLAGS] & FLAG_C != 0
    }

    /// Protocol type of the payload (an ethertype).
    pub fn protocol_type(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::PROTOCOL])
    }

    pub fn vni(&self) -> u32 {
        let v = &self.buffer.as_ref()[field::VNI];
        u32::from_be_bytes([0, v[0], v[1], v[2]])
    }

    pub fn reserved(&self) -> u8 {
        self.buffer.as_ref()[field::RESERVED]
    }

    /// The raw option area.
    pub fn options_raw(&self) -> &[u8] {
        &self.buffer.as_ref()[field::OPTIONS_START..self.header_len()]
    }

    /// Iterates the options in order.
    pub fn options(&self) -> Options<'_> {
        Options {
            rest: self.options_raw(),
            failed: false,
        }
    }

    /// The tunnelled packet.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets version and option length in 4-byte words (low 6 bits used).
    pub fn set_version_and_opt_len(&mut self, version: u8, opt_len_words: u8) {
        self.buffer.as_mut()[field::VER_OPTLEN] = (version << 6) | (opt_len_words & 0x3f);
    }

    /// Sets the O and C bits (the other six flag bits are reserved, 0).
    pub fn set_flags(&mut self, oam: bool, critical: bool) {
        let mut f = 0;
        if oam {
            f |= FLAG_O;
        }
        if critical {
            f |= FLAG_C;
        }
        self.buffer.as_mut()[field::FLAGS] = f;
    }

    pub fn set_protocol_type(&mut self, t: u16) {
        put16(&mut self.buffer.as_mut()[field::PROTOCOL], t);
    }

    /// Sets the 24-bit VNI (upper 8 bits of `vni` ignored).
    pub fn set_vni(&mut self, vni: u32) {
        self.buffer.as_mut()[field::VNI].copy_from_slice(&vni.to_be_bytes()[1..]);
    }

    pub fn set_reserved(&mut self, r: u8) {
        self.buffer.as_mut()[field::RESERVED] = r;
    }

    pub fn options_raw_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        &mut self.buffer.as_mut()[field::OPTIONS_START..end]
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        &mut self.buffer.as_mut()[start..]
    }
}

/// One GENEVE option, borrowed from the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeneveOption<'a> {
    pub class: u16,
    /// The type byte, critical bit included.
    pub option_type: u8,
    pub data: &'a [u8],
}

impl GeneveOption<'_> {
    /// The high bit of the type: a receiver that does not know it must drop.
    pub fn is_critical(&self) -> bool {
        self.option_type & OPTION_CRITICAL != 0
    }

    /// The encoded length: option header plus data.
    pub fn wire_len(&self) -> usize {
        OPTION_HEADER_LEN + self.data.len()
    }
}

/// Writes one option (header + data) at the start of `buf`; returns the
/// bytes written. `data.len()` must be a multiple of 4 and at most 124.
pub fn emit_option(buf: &mut [u8], class: u16, option_type: u8, data: &[u8]) -> usize {
    debug_assert!(data.len() & 3 == 0 && data.len() <= 124);
    put16(&mut buf[0..2], class);
    buf[2] = option_type;
    buf[3] = (data.len() / 4) as u8 & 0x1f;
    buf[OPTION_HEADER_LEN..OPTION_HEADER_LEN + data.len()].copy_from_slice(data);
    OPTION_HEADER_LEN + data.len()
}

/// Iterator over GENEVE options; yields one error and stops if an option
/// overruns the option area.
#[derive(Debug, Clone)]
pub struct Options<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Iterator for Options<'a> {
    type Item = Result<GeneveOption<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() || self.failed {
            return None;
        }
        let have = self.rest.len();
        if have < OPTION_HEADER_LEN {
            self.failed = true;
            return Some(Err(Error::truncated(
                Layer::Geneve,
                OPTION_HEADER_LEN,
                have,
            )));
        }
        let data_len = usize::from(self.rest[3] & 0x1f) * 4;
        let len = OPTION_HEADER_LEN + data_len;
        if have < len {
            self.failed = true;
            return Some(Err(Error::truncated(Layer::Geneve, len, have)));
        }
        let opt = GeneveOption {
            class: be16(&self.rest[0..2]),
            option_type: self.rest[2],
            data: &self.rest[OPTION_HEADER_LEN..len],
        };
        self.rest = &self.rest[len..];
        Some(Ok(opt))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_walk_and_overrun() {
        let mut b = [0u8; 8 + 12 + 4];
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.set_version_and_opt_len(0, 3);
        p.set_flags(false, true);
        p.set_protocol_type(0x0800);
        p.set_vni(0x00ab_cdef);
        let o = p.options_raw_mut();
        let n = emit_option(o, 0x0108, 0x83, &[1, 2, 3, 4]);
        emit_option(&mut o[n..], 0xffff, 0x05, &[]);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.critical() && !p.oam());
        assert_eq!(p.vni(), 0xab_cdef);
        assert_eq!(p.payload().len(), 4);
        let opts: Vec<_> = p.options().collect();
        assert_eq!(opts.len(), 2, "{opts:?}");
        let first = opts[0].unwrap();
        assert_eq!(
            (first.class, first.option_type, first.data),
            (0x0108, 0x83, &[1u8, 2, 3, 4][..])
        );
        assert!(first.is_critical());
        assert_eq!(opts[1].unwrap().data.len(), 0);
        assert_eq!(opts[1].unwrap().class, 0xffff);
        b[8 + 3] = 3; // first option claims 12 data bytes: overruns
        let p = Packet::new_checked(&b[..]).unwrap();
        let mut it = p.options();
        assert_eq!(
            it.next(),
            Some(Err(Error::Truncated {
                layer: Layer::Geneve,
                need: 16,
                have: 12
            }))
        );
        assert_eq!(it.next(), None);
    }
}
