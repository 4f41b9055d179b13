//! The inner packet reduced to what the firewall decides on.
//!
//! This is the contract between the codec and the firewall: `summarize`
//! (in this crate) fills it from an inner IP packet, the flow table and the
//! classifier read it. Addresses are `u128` with IPv4 held as an
//! IPv4-mapped IPv6 address (`::ffff:a.b.c.d`), so that one key type and
//! one range type serve both families.

/// IP version of the inner packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpVersion {
    V4,
    V6,
}

/// Where a packet sits in a fragmented datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fragment {
    /// Not fragmented.
    None,
    /// First fragment: the L4 header is present.
    First,
    /// A later fragment: no L4 header; `l4` is `L4Summary::Other`.
    Later,
}

/// TCP flag bits as they stand in the TCP header's flags byte.
pub mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;
}

/// The flow an ICMP or ICMPv6 error quotes (the offending packet's header,
/// as sent by the original sender, so its source is the error's destination).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotedFlow {
    pub src: u128,
    pub dst: u128,
    pub protocol: u8,
    /// Ports for TCP/UDP; for a quoted ICMP echo, the identifier in both.
    pub src_port: u16,
    pub dst_port: u16,
}

/// The transport layer, as far as the firewall needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L4Summary {
    Tcp {
        src_port: u16,
        dst_port: u16,
        /// See [`tcp_flags`].
        flags: u8,
        seq: u32,
        ack: u32,
        window: u16,
        /// TCP payload length in bytes.
        payload_len: u16,
    },
    Udp {
        src_port: u16,
        dst_port: u16,
    },
    /// ICMP echo request/reply (ICMPv4 types 8/0, ICMPv6 types 128/129).
    IcmpEcho {
        request: bool,
        ident: u16,
    },
    /// ICMP/ICMPv6 error (destination unreachable, time exceeded, parameter
    /// problem, packet too big) with the flow of the quoted packet.
    IcmpError {
        icmp_type: u8,
        code: u8,
        quoted: QuotedFlow,
    },
    /// Any other ICMP/ICMPv6 message.
    IcmpOther {
        icmp_type: u8,
        code: u8,
    },
    /// Another protocol, or a later fragment.
    Other,
}

/// An inner IP packet, summarized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InnerSummary {
    pub version: IpVersion,
    /// Source address (IPv4 mapped into IPv6, see module doc).
    pub src: u128,
    pub dst: u128,
    /// The upper-layer protocol number, after any IPv6 extension headers.
    pub protocol: u8,
    pub fragment: Fragment,
    pub l4: L4Summary,
    /// Offset of the L4 header from the start of the inner packet.
    pub l4_offset: u16,
    /// Length of the inner IP packet as its header states it.
    pub total_len: u16,
}

/// `::ffff:a.b.c.d` for an IPv4 address given as 4 bytes.
#[inline]
pub const fn ipv4_mapped(addr: [u8; 4]) -> u128 {
    0xffff_0000_0000u128 | (u32::from_be_bytes(addr) as u128)
}

/// The IPv4 address inside an IPv4-mapped address, if it is one.
#[inline]
pub const fn ipv4_unmapped(addr: u128) -> Option<[u8; 4]> {
    if addr >> 32 == 0xffff {
        Some((addr as u32).to_be_bytes())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_mapping_round_trips() {
        let a = ipv4_mapped([10, 1, 2, 3]);
        assert_eq!(a, 0x0000_0000_0000_0000_0000_ffff_0a01_0203);
        assert_eq!(ipv4_unmapped(a), Some([10, 1, 2, 3]));
        assert_eq!(ipv4_unmapped(1), None);
    }
}
