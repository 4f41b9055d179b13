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

/// The canonical key of a flow (see the module doc), its fields in the
/// order and at the offsets of a flow table entry's (`table::FlowEntry`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct FlowKey {
    pub addr_a: u128,
    pub addr_b: u128,
    pub endpoint: u64,
    pub port_a: u16,
    pub port_b: u16,
    pub protocol: u8,
    pub version: IpVersion,
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

/// The keyed 64-bit hash of canonical flow keys (both directions of a flow
/// have the same key, so the same hash).
///
/// NH (UMAC's hash: the sum of products of 32-bit word pairs, each word
/// offset by a secret word) over the key, then a fold, a multiply and a
/// fold to spread its bits (bijections). Over random secret words, two
/// distinct keys of one IP version collide in all 64 bits with probability
/// at most 2^-32, so senders who do not know the seed cannot aim their
/// flows at one bucket. The products are independent, so the hash is two
/// multiplies deep, not one per word: the burst pipeline waits on it.
#[derive(Clone, Copy)]
pub(crate) struct KeyHasher {
    k: [u32; 12],
}

impl std::fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyHasher { .. }")
    }
}

/// The secret a keyed hash is drawn from. [`HashKey::random`] reads the OS
/// random source, so that nobody outside can predict which flows share a
/// bucket or a worker; [`HashKey::fixed`] reproduces a layout (tests,
/// benchmarks). Its `Debug` form hides the value: keys are never logged.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HashKey(u64);

impl HashKey {
    /// A key from the OS random source (`getrandom(2)`, which waits until
    /// the kernel's pool is initialized).
    pub fn try_random() -> Result<HashKey, getrandom::Error> {
        getrandom::u64().map(HashKey)
    }

    /// [`Self::try_random`] for defaults and tests, which have no error to
    /// return; panics if the kernel offers no random source. A process that
    /// can report errors (the dataplane at start) uses `try_random`.
    pub fn random() -> HashKey {
        Self::try_random()
            .unwrap_or_else(|e| panic!("no OS random source to key the flow hashes: {e}"))
    }

    /// A key of a chosen value, to reproduce a layout.
    pub const fn fixed(value: u64) -> HashKey {
        HashKey(value)
    }

    pub(crate) const fn value(self) -> u64 {
        self.0
    }
}

impl std::fmt::Debug for HashKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HashKey(..)")
    }
}

/// The next value of the splitmix64 stream at `state`.
const fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl KeyHasher {
    /// The hasher of `seed`, its key words drawn from it by splitmix64.
    pub const fn new(seed: u64) -> KeyHasher {
        let mut k = [0u32; 12];
        let mut x = seed;
        let mut i = 0;
        while i < k.len() {
            let z = splitmix64(&mut x);
            k[i] = z as u32;
            k[i + 1] = (z >> 32) as u32;
            i += 2;
        }
        KeyHasher { k }
    }

    /// One NH term: words `a` and `b` offset by key words `i` and `i + 1`.
    #[inline(always)]
    fn term(&self, i: usize, a: u32, b: u32) -> u64 {
        u64::from(a.wrapping_add(self.k[i])) * u64::from(b.wrapping_add(self.k[i + 1]))
    }

    #[inline(always)]
    pub fn hash(&self, key: &FlowKey) -> u64 {
        let version: u32 = match key.version {
            IpVersion::V4 => 4,
            IpVersion::V6 => 6,
        };
        let ports = u32::from(key.port_a) << 16 | u32::from(key.port_b);
        let kind = u32::from(key.protocol) << 8 | version;
        let (a, b) = (key.addr_a, key.addr_b);
        let word = |x: u128, i: u32| (x >> (32 * i)) as u32;
        let mut h = self
            .term(0, key.endpoint as u32, (key.endpoint >> 32) as u32)
            .wrapping_add(self.term(2, ports, kind));
        h = match key.version {
            // IPv4 addresses are mapped: only the low word varies.
            IpVersion::V4 => h.wrapping_add(self.term(4, word(a, 0), word(b, 0))),
            IpVersion::V6 => h
                .wrapping_add(self.term(4, word(a, 0), word(a, 1)))
                .wrapping_add(self.term(6, word(a, 2), word(a, 3)))
                .wrapping_add(self.term(8, word(b, 0), word(b, 1)))
                .wrapping_add(self.term(10, word(b, 2), word(b, 3))),
        };
        // NH's low bits depend only on its words' low bits: fold the high
        // half down, then multiply and fold to spread it over all 64.
        h ^= h >> 32;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^ (h >> 29)
    }
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
            window_scale: None,
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
            window_scale: None,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn random_key(state: &mut u64, version: IpVersion) -> FlowKey {
        let addr = |state: &mut u64| match version {
            IpVersion::V4 => 0xffff_0000_0000 | u128::from(splitmix64(state) as u32),
            IpVersion::V6 => u128::from(splitmix64(state)) << 64 | u128::from(splitmix64(state)),
        };
        FlowKey {
            endpoint: splitmix64(state),
            version,
            protocol: splitmix64(state) as u8,
            addr_a: addr(state),
            port_a: splitmix64(state) as u16,
            addr_b: addr(state),
            port_b: splitmix64(state) as u16,
        }
    }

    /// Every key bit that varies for the version, flipped one at a time.
    fn flips(key: &FlowKey) -> Vec<FlowKey> {
        let addr_bits = match key.version {
            IpVersion::V4 => 32,
            IpVersion::V6 => 128,
        };
        let mut out = Vec::new();
        let mut each = |bits: u32, flip: &dyn Fn(&mut FlowKey, u32)| {
            for i in 0..bits {
                let mut k = *key;
                flip(&mut k, i);
                out.push(k);
            }
        };
        each(64, &|k, i| k.endpoint ^= 1 << i);
        each(16, &|k, i| k.port_a ^= 1 << i);
        each(16, &|k, i| k.port_b ^= 1 << i);
        each(8, &|k, i| k.protocol ^= 1 << i);
        each(addr_bits, &|k, i| k.addr_a ^= 1 << i);
        each(addr_bits, &|k, i| k.addr_b ^= 1 << i);
        out
    }

    #[test]
    fn every_key_bit_flips_each_hash_bit_about_half_the_time() {
        let hasher = KeyHasher::new(0x1234_5678_9abc_def0);
        let mut state = 7;
        for version in [IpVersion::V4, IpVersion::V6] {
            let keys: Vec<FlowKey> = (0..1000).map(|_| random_key(&mut state, version)).collect();
            let n_flips = flips(&keys[0]).len();
            // counts[flip][output bit]: how often flipping that key bit
            // flipped that hash bit.
            let mut counts = vec![[0u32; 64]; n_flips];
            for key in &keys {
                let h = hasher.hash(key);
                for (f, flipped) in flips(key).iter().enumerate() {
                    let d = h ^ hasher.hash(flipped);
                    for (bit, c) in counts[f].iter_mut().enumerate() {
                        *c += (d >> bit) as u32 & 1;
                    }
                }
            }
            let (mut lo, mut hi) = (1.0f64, 0.0f64);
            for c in &counts {
                for &n in c {
                    let p = f64::from(n) / keys.len() as f64;
                    lo = lo.min(p);
                    hi = hi.max(p);
                }
            }
            assert!(lo > 0.4 && hi < 0.6, "{version:?}: flip rates {lo}..{hi}");
        }
    }

    #[test]
    fn the_seed_changes_every_hash() {
        let mut state = 11;
        let (a, b) = (KeyHasher::new(1), KeyHasher::new(2));
        for version in [IpVersion::V4, IpVersion::V6] {
            for _ in 0..1000 {
                let key = random_key(&mut state, version);
                assert_ne!(a.hash(&key), b.hash(&key), "{key:?}");
            }
        }
    }
}
