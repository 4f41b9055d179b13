//! A small safe layer over DPDK 22.11 (`tollgate-ffi`).
//!
//! Ownership model:
//! - [`Eal`] is the process-wide environment; it is started once and its drop
//!   runs `rte_eal_cleanup`, so it must outlive every other handle here.
//! - [`Mempool`] owns a packet pool; [`Mbuf`] owns one packet and frees it on
//!   drop; [`MbufBurst`] owns up to `N` packets in a fixed array (no heap).
//! - [`Port`] configures a device; [`RxQueue`]/[`TxQueue`] are handed out once
//!   per queue pair and belong to exactly one worker (`Send`, not `Sync`).
//!
//! Every fallible DPDK call maps to [`DpdkError`], which names the operation,
//! its subject and DPDK's own error text.
//!
//! What the types enforce: one `Eal::init` per process; one [`Port`] handle
//! per port and one handle per queue pair; RX queues keep their pool alive;
//! a pool with mbufs still out is leaked rather than freed, and EAL cleanup
//! is skipped while any pool lives; mbufs are freed exactly once, including
//! those a partial `tx_burst` left in a burst.
//! A port refuses to stop or close while any of its queue handles lives, so
//! the order is: [`Eal::wait_all`] (the workers drop their queues), then
//! `Port::stop`/`close`, then pools, then `Eal`.
//!
//! Tests: `--no-huge` cannot be combined with `--in-memory` (EAL: "--legacy-mem
//! is not compatible with --in-memory"); use `--no-huge --no-shconf
//! --file-prefix=<unique>` or hugepages with `--in-memory`.

mod burst;
mod eal;
mod error;
mod events;
mod ids;
mod lcore;
mod mbuf;
mod mempool;
pub mod offload;
mod port;
mod queue;

pub use burst::{Drain, MbufBurst};
pub use eal::Eal;
pub use error::DpdkError;
pub use events::{raise_event, timers_init, timers_manage, DeviceEvent, DeviceEvents};
pub use ids::{LcoreId, PortId, QueueId, SocketId};
pub use lcore::LcoreExit;
pub use mbuf::{CksumStatus, Mbuf, MbufError, Segments};
pub use mempool::Mempool;
pub use port::{rx_offload_name, tx_offload_name, Link, Port, PortConfig, PortInfo, Xstats};
pub use queue::{RxQueue, TxQueue};
