//! Ethernet II frame (no 802.1Q: a VLAN tag shows as ethertype 0x8100,
//! which [`EtherType::Vlan`] names so callers can reject it precisely).
//!
//! `Frame::new_checked` requires the 14-byte header; then no accessor panics.

use crate::bytes::{array, be16, put16};
use crate::error::{need, Error, Layer};

mod field {
    use core::ops::{Range, RangeFrom};
    pub const DST: Range<usize> = 0..6;
    pub const SRC: Range<usize> = 6..12;
    pub const ETHERTYPE: Range<usize> = 12..14;
    pub const PAYLOAD: RangeFrom<usize> = 14..;
}

/// Length of the Ethernet header.
pub const HEADER_LEN: usize = field::PAYLOAD.start;

/// The ethertypes this codec knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EtherType {
    Ipv4,
    Arp,
    Ipv6,
    /// 802.1Q tag: recognised, not supported.
    Vlan,
    Unknown(u16),
}

impl EtherType {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const IPV6: u16 = 0x86dd;
    pub const VLAN: u16 = 0x8100;
}

impl From<u16> for EtherType {
    fn from(v: u16) -> Self {
        match v {
            EtherType::IPV4 => EtherType::Ipv4,
            EtherType::ARP => EtherType::Arp,
            EtherType::IPV6 => EtherType::Ipv6,
            EtherType::VLAN => EtherType::Vlan,
            other => EtherType::Unknown(other),
        }
    }
}

impl From<EtherType> for u16 {
    fn from(t: EtherType) -> u16 {
        match t {
            EtherType::Ipv4 => EtherType::IPV4,
            EtherType::Arp => EtherType::ARP,
            EtherType::Ipv6 => EtherType::IPV6,
            EtherType::Vlan => EtherType::VLAN,
            EtherType::Unknown(v) => v,
        }
    }
}

/// A view of an Ethernet II frame.
#[derive(Debug, Clone, Copy)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Wraps a buffer without checks; accessors may panic if it is short.
    pub const fn new_unchecked(buffer: T) -> Self {
        Frame { buffer }
    }

    /// Wraps a buffer holding at least an Ethernet header.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        need(Layer::Ethernet, HEADER_LEN, buffer.as_ref().len())?;
        Ok(Frame { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn dst_addr(&self) -> [u8; 6] {
        array(&self.buffer.as_ref()[field::DST])
    }

    pub fn src_addr(&self) -> [u8; 6] {
        array(&self.buffer.as_ref()[field::SRC])
    }

    /// The raw ethertype value.
    pub fn ethertype_raw(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::ETHERTYPE])
    }

    pub fn ethertype(&self) -> EtherType {
        EtherType::from(self.ethertype_raw())
    }

    /// Everything after the header (including any trailing padding).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    pub fn set_dst_addr(&mut self, addr: [u8; 6]) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&addr);
    }

    pub fn set_src_addr(&mut self, addr: [u8; 6]) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&addr);
    }

    pub fn set_ethertype(&mut self, t: EtherType) {
        put16(&mut self.buffer.as_mut()[field::ETHERTYPE], t.into());
    }

    /// Swaps source and destination MAC addresses (a hairpin reply).
    pub fn swap_addrs(&mut self) {
        let (dst, src) = (self.dst_addr(), self.src_addr());
        self.set_dst_addr(src);
        self.set_src_addr(dst);
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_buffer_is_truncated() {
        assert_eq!(
            Frame::new_checked(&[0u8; 13][..]).unwrap_err(),
            Error::Truncated {
                layer: Layer::Ethernet,
                need: 14,
                have: 13
            }
        );
    }

    #[test]
    fn swap_and_vlan() {
        let mut b = [0u8; 14];
        let mut f = Frame::new_checked(&mut b[..]).unwrap();
        f.set_dst_addr([1, 2, 3, 4, 5, 6]);
        f.set_src_addr([7, 8, 9, 10, 11, 12]);
        f.set_ethertype(EtherType::Vlan);
        f.swap_addrs();
        assert_eq!(f.dst_addr(), [7, 8, 9, 10, 11, 12]);
        assert_eq!(f.src_addr(), [1, 2, 3, 4, 5, 6]);
        assert_eq!(f.ethertype(), EtherType::Vlan);
        assert_eq!(f.ethertype_raw(), 0x8100);
        assert_eq!(EtherType::from(0x1234), EtherType::Unknown(0x1234));
    }
}
