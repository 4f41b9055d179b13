//! Flow keys: one canonical key for both directions of a flow.
//!
//! A flow is (endpoint, IP version, the two (address, port) sides,
//! protocol). Ports are the TCP/UDP ports, the ICMP echo identifier on both
//! sides for echo flows, and 0 for other protocols (address pair only). The
//! side with the lower (address, port) is side A, so a packet in either
//! direction builds the same key and learns which side sent it.

use tollgate_wire::summary::{IpVersion, L4Summary, QuotedFlow};
use tollgate_wire::InnerSummary;

/// One end of a flow as the canonical key orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The lower (address, port).
    A,
    /// The higher (address, port).
    B,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
}

/// The canonical key of a flow (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub endpoint: u64,
    pub version: IpVersion,
    pub protocol: u8,
    pub addr_a: u128,
    pub port_a: u16,
    pub addr_b: u128,
    pub port_b: u16,
}

impl FlowKey {
    /// The key of a flow whose packet goes from (src, src_port) to
    /// (dst, dst_port), and which side sent that packet.
    #[inline]
    pub fn from_tuple(
        endpoint: u64,
        version: IpVersion,
        protocol: u8,
        src: (u128, u16),
        dst: (u128, u16),
    ) -> (FlowKey, Side) {
        let (a, b, sender) = if src <= dst {
            (src, dst, Side::A)
        } else {
            (dst, src, Side::B)
        };
        let key = FlowKey {
            endpoint,
            version,
            protocol,
            addr_a: a.0,
            port_a: a.1,
            addr_b: b.0,
            port_b: b.1,
        };
        (key, sender)
    }

    /// The key of the flow a packet belongs to, and its sender's side.
    /// ICMP errors belong to the flow they quote ([`FlowKey::of_quoted`]);
    /// this function keys them by address pair like other ICMP messages.
    #[inline]
    pub fn of_packet(endpoint: u64, pkt: &InnerSummary) -> (FlowKey, Side) {
        let (sport, dport) = ports_of(&pkt.l4);
        FlowKey::from_tuple(
            endpoint,
            pkt.version,
            pkt.protocol,
            (pkt.src, sport),
            (pkt.dst, dport),
        )
    }

    /// The key of the flow an ICMP error quotes, and the side that sent the
    /// quoted packet.
    #[inline]
    pub fn of_quoted(endpoint: u64, version: IpVersion, quoted: &QuotedFlow) -> (FlowKey, Side) {
        FlowKey::from_tuple(
            endpoint,
            version,
            quoted.protocol,
            (quoted.src, quoted.src_port),
            (quoted.dst, quoted.dst_port),
        )
    }

    /// The (address, port) of one side.
    pub fn side(&self, side: Side) -> (u128, u16) {
        match side {
            Side::A => (self.addr_a, self.port_a),
            Side::B => (self.addr_b, self.port_b),
        }
    }
}

/// The ports a packet contributes to its flow key.
#[inline]
fn ports_of(l4: &L4Summary) -> (u16, u16) {
    match *l4 {
        L4Summary::Tcp {
            src_port, dst_port, ..
        }
        | L4Summary::Udp { src_port, dst_port } => (src_port, dst_port),
        L4Summary::IcmpEcho { ident, .. } => (ident, ident),
        L4Summary::IcmpError { .. } | L4Summary::IcmpOther { .. } | L4Summary::Other => (0, 0),
    }
}

const MUL: u64 = 0x9e37_79b9_7f4a_7c15;

#[inline]
fn absorb(h: u64, word: u64) -> u64 {
    let x = (h ^ word).wrapping_mul(MUL);
    x ^ (x >> 29)
}

/// A 64-bit hash of the canonical key. Both directions of a flow have the
/// same key, so the same hash.
#[inline]
pub fn key_hash(key: &FlowKey, seed: u64) -> u64 {
    let version: u64 = match key.version {
        IpVersion::V4 => 4,
        IpVersion::V6 => 6,
    };
    let small = (u64::from(key.port_a) << 48)
        | (u64::from(key.port_b) << 32)
        | (u64::from(key.protocol) << 8)
        | version;
    let mut h = seed;
    h = absorb(h, key.endpoint);
    match key.version {
        // Both IPv4 addresses in one word (they are mapped: the rest of
        // each u128 is constant), so an IPv4 key costs three rounds.
        IpVersion::V4 => h = absorb(h, (key.addr_a as u64) << 32 | (key.addr_b as u32 as u64)),
        IpVersion::V6 => {
            h = absorb(h, key.addr_a as u64);
            h = absorb(h, (key.addr_a >> 64) as u64);
            h = absorb(h, key.addr_b as u64);
            h = absorb(h, (key.addr_b >> 64) as u64);
        }
    }
    h = absorb(h, small);
    // Final avalanche (murmur3 fmix64) so every output bit depends on every
    // input bit: the table takes bucket indices from both halves.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The packet the initiator would have sent to open a flow of this key and
/// kind, used to re-classify an existing flow (revalidation).
pub(crate) fn opening_summary(
    key: &FlowKey,
    initiator: Side,
    kind: FlowKind,
    template: &InnerSummary,
) -> InnerSummary {
    let (src, sport) = key.side(initiator);
    let (dst, dport) = key.side(initiator.other());
    let l4 = match kind {
        FlowKind::Tcp => L4Summary::Tcp {
            src_port: sport,
            dst_port: dport,
            flags: tollgate_wire::summary::tcp_flags::SYN,
            seq: 0,
            ack: 0,
            window: 0,
            payload_len: 0,
        },
        FlowKind::Udp => L4Summary::Udp {
            src_port: sport,
            dst_port: dport,
        },
        FlowKind::IcmpEcho => L4Summary::IcmpEcho {
            request: true,
            ident: sport,
        },
        FlowKind::Generic => L4Summary::Other,
    };
    InnerSummary {
        version: key.version,
        src,
        dst,
        protocol: key.protocol,
        fragment: tollgate_wire::summary::Fragment::None,
        l4,
        l4_offset: template.l4_offset,
        total_len: template.total_len,
    }
}

/// A packet with its direction reversed: what the receiver would send to
/// open the flow. Used by mid-stream pickup when the first packet seen is
/// the responder's.
pub(crate) fn reversed_summary(pkt: &InnerSummary) -> InnerSummary {
    let l4 = match pkt.l4 {
        L4Summary::Tcp {
            src_port, dst_port, ..
        } => L4Summary::Tcp {
            src_port: dst_port,
            dst_port: src_port,
            flags: tollgate_wire::summary::tcp_flags::SYN,
            seq: 0,
            ack: 0,
            window: 0,
            payload_len: 0,
        },
        L4Summary::Udp { src_port, dst_port } => L4Summary::Udp {
            src_port: dst_port,
            dst_port: src_port,
        },
        other => other,
    };
    InnerSummary {
        src: pkt.dst,
        dst: pkt.src,
        l4,
        ..*pkt
    }
}

/// Which tracker a flow uses, derived from the packet's L4 summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlowKind {
    Tcp,
    Udp,
    IcmpEcho,
    Generic,
}
