//! Which worker owns a flow.
//!
//! GWLB may carry the two directions of one inner flow with different outer
//! UDP source ports (unconfirmed either way, see `shared/gwlb.md`), so RSS
//! can put them on different NIC queues, hence different workers. Rather
//! than share one table between workers (atomics or locks on every packet,
//! cache lines bouncing between cores), every flow has exactly one owning
//! worker and a private table there:
//!
//! 1. The dataplane computes [`OwnerHasher::hash`] for each received
//!    packet; the owner is `hash % workers` (or an indirection table on it).
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
//! The hash is keyed ([`OwnerHasher::new`]): one key per dataplane process,
//! drawn at start and given to every worker, so that all workers agree
//! while outsiders cannot aim many flows at one worker.

use tollgate_wire::summary::L4Summary;
use tollgate_wire::InnerSummary;

use crate::key::{FlowKey, HashKey, KeyHasher};

/// Computes which worker owns a flow. Copy it to every worker: all must
/// use the same key.
#[derive(Debug, Clone, Copy)]
pub struct OwnerHasher {
    hasher: KeyHasher,
}

impl OwnerHasher {
    pub fn new(key: HashKey) -> OwnerHasher {
        OwnerHasher {
            hasher: KeyHasher::new(key.value()),
        }
    }

    /// The owner hash of the flow `pkt` belongs to: the same for both
    /// directions, and for an ICMP error the same as for the quoted flow.
    #[inline]
    pub fn hash(&self, endpoint: u64, pkt: &InnerSummary) -> u32 {
        let key = match pkt.l4 {
            L4Summary::IcmpError { quoted, .. } => {
                FlowKey::of_quoted(endpoint, pkt.version, &quoted).0
            }
            _ => FlowKey::of_packet(endpoint, pkt).0,
        };
        self.hash_key(&key)
    }

    /// [`Self::hash`] of a flow already keyed.
    #[inline]
    pub fn hash_key(&self, key: &FlowKey) -> u32 {
        let h = self.hasher.hash(key);
        (h ^ (h >> 32)) as u32
    }
}
