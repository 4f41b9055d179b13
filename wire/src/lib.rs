//! Zero-copy packet codec for tollgate.
//!
//! Each protocol is a view over a byte buffer; `new_checked` validates the
//! buffer once, after which no accessor can panic. See the module docs.

pub mod summary;

pub use summary::{InnerSummary, IpVersion, L4Summary};
