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
//!
//! # Hot path
//! ```
//! use tollgate_wire::{parse_geneve_payload, summarize, L4Summary};
//!
//! // GENEVE (3 AWS options) carrying an IPv4 UDP packet 10.0.0.1:1000 -> 10.0.0.2:53.
//! let mut p = vec![0x08, 0x00, 0x08, 0x00, 0, 0, 0, 0];
//! p.extend_from_slice(&[0x01, 0x08, 0x01, 0x02, 0, 0, 0, 0, 0, 0, 0, 7]); // endpoint ID 7
//! p.extend_from_slice(&[0x01, 0x08, 0x02, 0x02, 0, 0, 0, 0, 0, 0, 0, 0]); // attachment ID 0
//! p.extend_from_slice(&[0x01, 0x08, 0x03, 0x01, 0xca, 0xfe, 0xf0, 0x0d]); // flow cookie
//! p.extend_from_slice(&[0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
//! p.extend_from_slice(&[0x03, 0xe8, 0, 53, 0, 8, 0, 0]);
//!
//! let tunnel = parse_geneve_payload(&p)?;
//! assert_eq!(tunnel.metadata.endpoint_id, 7);
//! assert_eq!(tunnel.metadata.flow_cookie, 0xcafe_f00d);
//! let inner = &p[tunnel.inner_offset..tunnel.inner_offset + tunnel.inner_len];
//! let summary = summarize(inner, tunnel.inner_version)?;
//! assert_eq!(summary.l4, L4Summary::Udp { src_port: 1000, dst_port: 53 });
//! # Ok::<(), tollgate_wire::Error>(())
//! ```

mod bytes;

pub mod arp;
pub mod checksum;
pub mod error;
pub mod ethernet;
pub mod express;
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
pub use express::{express_tcp_fields, parse_express, ExpressFrame, TcpFields, TupleV4};
pub use gwlb::{parse_geneve_payload, parse_gwlb_frame, GeneveTunnel, GwlbFrame, GwlbMetadata};
pub use summary::{summarize, InnerSummary, IpVersion, L4Summary};
