//! Newtype identifiers, so a queue number is never passed where a port is meant.

use std::fmt;

/// An ethdev port number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortId(pub u16);

/// A queue number within one port (RX and TX queues share the numbering).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueueId(pub u16);

/// An EAL logical core.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LcoreId(pub u32);

/// A NUMA socket; [`SocketId::ANY`] lets DPDK choose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SocketId(pub i32);

impl LcoreId {
    /// The lcore the calling thread runs as; `None` on a thread EAL did not start.
    pub fn current() -> Option<LcoreId> {
        // SAFETY: reads the calling thread's EAL lcore id (thread-local).
        let id = unsafe { tollgate_ffi::rte_lcore_id() };
        (id < tollgate_ffi::RTE_MAX_LCORE).then_some(LcoreId(id))
    }
}

impl SocketId {
    /// `SOCKET_ID_ANY` in DPDK.
    pub const ANY: SocketId = SocketId(-1);
}

impl fmt::Display for PortId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "port {}", self.0)
    }
}

impl fmt::Display for QueueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "queue {}", self.0)
    }
}

impl fmt::Display for LcoreId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "lcore {}", self.0)
    }
}

impl fmt::Display for SocketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == SocketId::ANY {
            f.write_str("any socket")
        } else {
            write!(f, "socket {}", self.0)
        }
    }
}
