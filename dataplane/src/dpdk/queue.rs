//! Per-worker RX and TX queue handles.

use std::cell::Cell;
use std::marker::PhantomData;
use std::sync::Arc;

use tollgate_ffi as ffi;

use super::burst::MbufBurst;
use super::ids::{PortId, QueueId};
use super::mempool::Mempool;

/// The receive side of one queue pair. `Send` so it can move to its worker,
/// not `Sync` or `Clone`: DPDK queues are single-consumer.
#[derive(Debug)]
pub struct RxQueue {
    port: PortId,
    queue: QueueId,
    /// The pool the driver refills this queue from; kept alive while polled.
    pool: Arc<Mempool>,
    /// Tells the port a handle is alive (it refuses to stop meanwhile).
    _port_token: Arc<()>,
    _not_sync: PhantomData<Cell<()>>,
}

/// The transmit side of one queue pair; one owner, like [`RxQueue`].
#[derive(Debug)]
pub struct TxQueue {
    port: PortId,
    queue: QueueId,
    /// Tells the port a handle is alive (it refuses to stop meanwhile).
    _port_token: Arc<()>,
    _not_sync: PhantomData<Cell<()>>,
}

impl RxQueue {
    pub(crate) fn new(port: PortId, queue: QueueId, pool: Arc<Mempool>, token: Arc<()>) -> Self {
        RxQueue {
            port,
            queue,
            pool,
            _port_token: token,
            _not_sync: PhantomData,
        }
    }

    /// The pool received mbufs come from (also for building replies).
    pub fn pool(&self) -> &Arc<Mempool> {
        &self.pool
    }

    /// The port.
    pub fn port(&self) -> PortId {
        self.port
    }

    /// The queue number.
    pub fn queue(&self) -> QueueId {
        self.queue
    }

    /// Receives into the burst's free slots; returns how many arrived.
    #[inline]
    pub fn rx_burst<const N: usize>(&mut self, burst: &mut MbufBurst<N>) -> usize {
        let (slots, spare) = burst.spare_raw();
        if spare == 0 {
            return 0;
        }
        // SAFETY: the port and queue were set up and started (RxQueue is
        // only made by Port::queue_pair); `slots` has room for `spare`
        // pointers; this handle is the queue's only user.
        let n = unsafe { ffi::rte_eth_rx_burst(self.port.0, self.queue.0, slots, spare) };
        let n = usize::from(n);
        // SAFETY: rte_eth_rx_burst wrote n owned mbuf pointers into the slots.
        unsafe { burst.commit_rx(n) };
        n
    }
}

impl TxQueue {
    pub(crate) fn new(port: PortId, queue: QueueId, token: Arc<()>) -> Self {
        TxQueue {
            port,
            queue,
            _port_token: token,
            _not_sync: PhantomData,
        }
    }

    /// The port.
    pub fn port(&self) -> PortId {
        self.port
    }

    /// The queue number.
    pub fn queue(&self) -> QueueId {
        self.queue
    }

    /// Runs the driver's TX preparation (`rte_eth_tx_prepare`: fixes up
    /// checksum-offload fields, checks segment limits) over the burst before
    /// `tx_burst`. Packets the driver rejects are freed and removed, keeping
    /// order; returns how many, for a drop counter. A no-op for drivers
    /// without a prepare step.
    #[inline]
    pub fn tx_prepare<const N: usize>(&mut self, burst: &mut MbufBurst<N>) -> usize {
        let mut start = 0;
        let mut rejected = 0;
        while start < burst.len() {
            let (pkts, n) = burst.owned_raw();
            let remaining = n - start as u16;
            // SAFETY: port and queue set up; slots start..n hold owned mbufs;
            // prepare only edits the packets, ownership stays with the burst.
            let ok = unsafe {
                ffi::rte_eth_tx_prepare(self.port.0, self.queue.0, pkts.add(start), remaining)
            };
            if ok >= remaining {
                break;
            }
            // pkts[start + ok] is invalid for this driver: drop it, go on.
            let bad = start + usize::from(ok);
            burst.remove_and_free(bad);
            rejected += 1;
            start = bad;
        }
        rejected
    }

    /// Hands the burst's mbufs to the NIC, front first. The `k` it accepts
    /// (returned) now belong to DPDK; the rest stay in the burst, moved to
    /// the front, for the caller to retry or `drop_unsent`.
    #[inline]
    pub fn tx_burst<const N: usize>(&mut self, burst: &mut MbufBurst<N>) -> usize {
        let (pkts, n) = burst.owned_raw();
        if n == 0 {
            return 0;
        }
        // SAFETY: port and queue set up and started; `pkts` holds n owned
        // mbufs; the driver takes ownership of exactly the first k returned.
        let k = unsafe { ffi::rte_eth_tx_burst(self.port.0, self.queue.0, pkts, n) };
        let k = usize::from(k.min(n));
        burst.consume_front(k);
        k
    }
}
