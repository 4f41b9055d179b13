//! The tollgate dataplane: a safe layer over DPDK (`dpdk`) and, above it,
//! the process: configuration, poll-mode workers, the main lcore's
//! housekeeping. Per-packet logic lives in the DPDK-free `tollgate-pipeline`.

pub mod app;
pub mod clock;
pub mod config;
pub mod dpdk;
pub mod flow_pages;
pub mod worker;
