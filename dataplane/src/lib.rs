//! The tollgate dataplane library: a safe layer over DPDK and, above it, the
//! poll-mode workers.

pub mod dpdk;
