//! Zero-copy packet codec for tollgate.
//!
//! # Contract
//! - Each protocol module offers a view `Packet<T: AsRef<[u8]>>` (Ethernet:
//!   `Frame`) over a borrowed or owned buffer. `new_checked` validates every
//!   length the view's accessors depend on, once; after it returns `Ok`, no
//!   getter, setter, `payload()` or `payload_mut()` can panic.
//!   `new_unchecked` skips the checks for buffers the caller has already
//!   validated (accessors may then panic on short buffers).
//! - Views never allocate and never cast bytes to structs: fields are read
//!   at named offsets (each module's private `mod field`).
//! - Bad input yields an [`Error`]: `Copy`, allocation-free, naming the
//!   [`Layer`] (for per-layer drop counters) and what was wrong. No input
//!   makes any parse entry point panic (tested with truncation at every
//!   offset, wrong length fields, and property tests over arbitrary bytes).
//! - Hot path: [`gwlb::parse_geneve_payload`] (GENEVE + AWS options) and
//!   [`summary::summarize`] (the inner packet, for the firewall).
//!   [`gwlb::parse_gwlb_frame`] composes the outer layers for tests and tools.
//! - Checksums are never verified implicitly; views offer `verify_*` and
//!   `fill_*`, and [`checksum`] offers full and incremental (RFC 1624)
//!   computation.
//! - Address swaps (`swap_addrs`) keep every checksum valid.

mod bytes;

pub mod arp;
pub mod checksum;
pub mod error;
pub mod ethernet;
pub mod geneve;
pub mod gwlb;
pub mod icmpv4;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod summary;
pub mod tcp;
pub mod udp;

pub use error::{Error, Layer};
pub use gwlb::{parse_geneve_payload, parse_gwlb_frame, GeneveTunnel, GwlbFrame, GwlbMetadata};
pub use summary::{summarize, InnerSummary, IpVersion, L4Summary};
