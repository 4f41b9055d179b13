//! ARP for Ethernet/IPv4 only (RFC 826): any other hardware or protocol
//! type, or address lengths other than 6/4, is an error.
//!
//! `Packet::new_checked` validates length and types; then no accessor panics.

use crate::bytes::{array, be16, put16};
use crate::error::{need, Error, Layer};

mod field {
    use core::ops::Range;
    pub const HTYPE: Range<usize> = 0..2;
    pub const PTYPE: Range<usize> = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Range<usize> = 6..8;
    pub const SHA: Range<usize> = 8..14;
    pub const SPA: Range<usize> = 14..18;
    pub const THA: Range<usize> = 18..24;
    pub const TPA: Range<usize> = 24..28;
}

/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = field::TPA.end;

/// Operation codes.
pub const OP_REQUEST: u16 = 1;
pub const OP_REPLY: u16 = 2;

const HTYPE_ETHERNET: u16 = 1;
const PTYPE_IPV4: u16 = 0x0800;

/// A view of an Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Checks the length and that this is Ethernet/IPv4 ARP.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let b = buffer.as_ref();
        need(Layer::Arp, PACKET_LEN, b.len())?;
        let p = Packet { buffer };
        if p.hardware_type() != HTYPE_ETHERNET {
            return Err(Error::unsupported(
                Layer::Arp,
                "hardware type",
                p.hardware_type().into(),
            ));
        }
        if p.protocol_type() != PTYPE_IPV4 {
            return Err(Error::unsupported(
                Layer::Arp,
                "protocol type",
                p.protocol_type().into(),
            ));
        }
        if p.hardware_len() != 6 || p.protocol_len() != 4 {
            return Err(Error::malformed(
                Layer::Arp,
                "address lengths are not 6 and 4",
            ));
        }
        Ok(p)
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn hardware_type(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::HTYPE])
    }

    pub fn protocol_type(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::PTYPE])
    }

    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    pub fn operation(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::OPER])
    }

    pub fn sender_hardware_addr(&self) -> [u8; 6] {
        array(&self.buffer.as_ref()[field::SHA])
    }

    pub fn sender_protocol_addr(&self) -> [u8; 4] {
        array(&self.buffer.as_ref()[field::SPA])
    }

    pub fn target_hardware_addr(&self) -> [u8; 6] {
        array(&self.buffer.as_ref()[field::THA])
    }

    pub fn target_protocol_addr(&self) -> [u8; 4] {
        array(&self.buffer.as_ref()[field::TPA])
    }

    /// ARP has no payload; this is the bytes after the packet (padding).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[PACKET_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Writes the fixed Ethernet/IPv4 type and length fields.
    pub fn set_ethernet_ipv4(&mut self) {
        let b = self.buffer.as_mut();
        put16(&mut b[field::HTYPE], HTYPE_ETHERNET);
        put16(&mut b[field::PTYPE], PTYPE_IPV4);
        b[field::HLEN] = 6;
        b[field::PLEN] = 4;
    }

    pub fn set_operation(&mut self, op: u16) {
        put16(&mut self.buffer.as_mut()[field::OPER], op);
    }

    pub fn set_sender_hardware_addr(&mut self, a: [u8; 6]) {
        self.buffer.as_mut()[field::SHA].copy_from_slice(&a);
    }

    pub fn set_sender_protocol_addr(&mut self, a: [u8; 4]) {
        self.buffer.as_mut()[field::SPA].copy_from_slice(&a);
    }

    pub fn set_target_hardware_addr(&mut self, a: [u8; 6]) {
        self.buffer.as_mut()[field::THA].copy_from_slice(&a);
    }

    pub fn set_target_protocol_addr(&mut self, a: [u8; 4]) {
        self.buffer.as_mut()[field::TPA].copy_from_slice(&a);
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[PACKET_LEN..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_other_types() {
        let mut b = [0u8; 28];
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.set_ethernet_ipv4();
        p.set_operation(OP_REQUEST);
        assert!(Packet::new_checked(&b[..]).is_ok());
        b[1] = 6; // IEEE 802 hardware
        assert_eq!(
            Packet::new_checked(&b[..]).unwrap_err(),
            Error::unsupported(Layer::Arp, "hardware type", 6)
        );
        b[1] = 1;
        b[4] = 8;
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err().layer(), Layer::Arp);
        assert_eq!(
            Packet::new_checked(&b[..27]).unwrap_err(),
            Error::Truncated {
                layer: Layer::Arp,
                need: 28,
                have: 27
            }
        );
    }
}
