//! Which worker owns a flow.
//!
//! GWLB may carry the two directions of one inner flow with different outer
//! UDP source ports (unconfirmed either way, see `shared/gwlb.md`), so RSS
//! can put them on different NIC queues, hence different workers. Rather
//! than share one table between workers (atomics or locks on every packet,
//! cache lines bouncing between cores), every flow has exactly one owning
//! worker and a private table there:
//!
//! 1. The dataplane computes [`owner_hash`] for each received packet; the
//!    owner is `owner_hash % workers` (or an indirection table on it).
//! 2. A packet that arrived on another worker's queue is handed to the
//!    owner through a single-producer ring, and the owner processes it with
//!    its own [`crate::Firewall`]. RSS hashes the outer headers, so a packet
//!    lands on its owner's queue only one time in `workers`; the rest pay
//!    one ring enqueue and dequeue, which costs less than a shared table's
//!    contended cache lines on every packet, and keeps the table lock-free.
//!
//! The hash is computed on the canonical flow key (lower (address, port)
//! first, see [`crate::FlowKey`]), so both directions give the same value.
//! ICMP and ICMPv6 errors hash as the flow whose packet they quote, so they
//! reach the worker that holds that flow and can be matched as related.
//! The hash uses a fixed seed: every worker must agree on it.

use tollgate_wire::summary::L4Summary;
use tollgate_wire::InnerSummary;

use crate::key::{FlowKey, KeyHasher};

/// Fixed so that all workers (and tests) agree.
const OWNER_HASHER: KeyHasher = KeyHasher::new(0x6f77_6e65_7273_6821);

/// The owner hash of the flow `pkt` belongs to: the same for both
/// directions, and for an ICMP error the same as for the quoted flow.
#[inline]
pub fn owner_hash(endpoint: u64, pkt: &InnerSummary) -> u32 {
    let key = match pkt.l4 {
        L4Summary::IcmpError { quoted, .. } => FlowKey::of_quoted(endpoint, pkt.version, &quoted).0,
        _ => FlowKey::of_packet(endpoint, pkt).0,
    };
    owner_hash_of_key(&key)
}

/// [`owner_hash`] of a flow already keyed.
#[inline]
pub fn owner_hash_of_key(key: &FlowKey) -> u32 {
    let h = OWNER_HASHER.hash(key);
    (h ^ (h >> 32)) as u32
}
