//! The shared-memory link between `tollgate-dataplane` and `tollgate-control`.
//!
//! The dataplane creates one segment, a sealed memfd served to allowed peers
//! through the socket `/dev/shm/tollgate-<name>` ([`Segment::create`],
//! README "Trust boundary"); control attaches ([`Segment::attach`]) and
//! reattaches when [`Segment::is_stale`] says the dataplane restarted. The
//! segment holds a versioned [header](DataplaneState), the applied rule ids,
//! port statistics (seqlock), one [`WorkerStats`] block per worker and the
//! SPSC message rings ([`Producer`], [`Consumer`]); [`message`] encodes what
//! travels on the command and reply rings, [`PacketMeta`] what precedes a
//! punted or injected packet. Forwarding never waits on control: every
//! dataplane-side operation here is wait-free.
//!
//! ```
//! use tollgate_shm::{Counter, PacketMeta, Segment, SegmentConfig};
//! # let name = format!("doc-{}", std::process::id());
//! // Dataplane: create, then hand each worker its stats block and punt producer.
//! let dataplane = Segment::create(&name, &SegmentConfig { workers: 2, ..SegmentConfig::default() })?;
//! let stats = dataplane.worker_stats(1)?;
//! let mut punt = dataplane.punt_ring_producer(1)?;
//! stats.add(Counter::RxPackets, 32);
//! let packet = [0u8; 60];
//! let meta = PacketMeta::for_packet(1, 0, &packet).expect("60 bytes fit");
//! if punt.push_parts(&[&meta.encode(), &packet]).is_ok() {
//!     stats.inc(Counter::Punted);
//! }
//!
//! // Control: attach, sum counters, drain punted packets.
//! let control = Segment::attach(&name)?;
//! assert_eq!(control.counter_total(Counter::RxPackets), 32);
//! let mut punted = control.punt_ring_consumer(1)?;
//! let mut buf = vec![0u8; punted.max_message_len()];
//! let len = punted.pop_into(&mut buf).expect("ring intact").expect("one message");
//! let (meta, packet) = PacketMeta::decode(&buf[..len]).expect("valid header");
//! assert_eq!((meta.worker, packet.len()), (1, 60));
//! assert!(!control.is_stale());
//! # Ok::<(), tollgate_shm::ShmError>(())
//! ```

mod boundary;
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

pub use boundary::{group_id, SegmentAccess};
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
