//! The shared-memory link between `tollgate-dataplane` and `tollgate-control`.
//!
//! The dataplane creates one segment, `/dev/shm/tollgate-<name>`
//! ([`Segment::create`]); control attaches ([`Segment::attach`]) and
//! reattaches when [`Segment::is_stale`] says the dataplane restarted. The
//! segment holds a versioned [header](DataplaneState), the applied rule ids,
//! port statistics (seqlock), one [`WorkerStats`] block per worker and the
//! SPSC message rings ([`Producer`], [`Consumer`]); [`message`] encodes what
//! travels on the command and reply rings, [`PacketMeta`] what precedes a
//! punted or injected packet. Forwarding never waits on control: every
//! dataplane-side operation here is wait-free.

mod clock;
mod counter;
mod error;
mod header;
mod layout;
mod mapping;
pub mod message;
mod packet_meta;
mod port_stats;
mod ring;
mod rules_info;
mod segment;
mod seqlock;
mod worker_stats;

pub use clock::{monotonic_ns, realtime_ns};
pub use counter::{Counter, CounterDesc, MetricKind, COUNTER_SCHEMA};
pub use error::{Result, ShmError};
pub use header::{DataplaneState, LinkStatus, LAYOUT_VERSION, MAGIC};
pub use layout::{
    Layout, Region, RegionId, SegmentConfig, MAX_NAME_LEN, MAX_RING_BYTES, MAX_WORKERS,
    MIN_RING_BYTES, REGION_ALIGN,
};
pub use packet_meta::{PacketMeta, PacketMetaError, MAX_PACKET_LEN, PACKET_META_LEN};
pub use port_stats::{PortCounters, PortStatsSnapshot, MAX_XSTATS};
pub use ring::{max_message_len, Consumer, PopError, Producer, PushError};
pub use rules_info::RulesSnapshot;
pub use segment::{segment_path, Segment, SHM_DIR};
pub use seqlock::NAME_BYTES;
pub use worker_stats::{EndpointCount, EndpointSlot, WorkerStats, ENDPOINT_SLOTS, MAX_RULES};
