//! The segment header: identity, layout and the small live state.
//!
//! Every field is atomic because the other process may read it at any time.
//! Creation writes everything `Relaxed`, then `magic` with `Release`; an
//! attacher loads `magic` with `Acquire` before trusting anything else.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::layout::REGION_COUNT;

/// "TOLLGATE" read as a little-endian u64.
pub const MAGIC: u64 = u64::from_le_bytes(*b"TOLLGATE");

/// Bump when any shared structure changes shape. Counter additions are
/// caught separately by [`crate::COUNTER_SCHEMA`].
pub const LAYOUT_VERSION: u64 = 2;

/// The dataplane's life cycle as published in the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataplaneState {
    Starting,
    Running,
    Stopping,
    Stopped,
    /// A value this build does not know.
    Unknown(u64),
}

impl DataplaneState {
    fn to_raw(self) -> u64 {
        match self {
            DataplaneState::Starting => 1,
            DataplaneState::Running => 2,
            DataplaneState::Stopping => 3,
            DataplaneState::Stopped => 4,
            DataplaneState::Unknown(v) => v,
        }
    }

    fn from_raw(v: u64) -> Self {
        match v {
            1 => DataplaneState::Starting,
            2 => DataplaneState::Running,
            3 => DataplaneState::Stopping,
            4 => DataplaneState::Stopped,
            v => DataplaneState::Unknown(v),
        }
    }
}

/// Link state of the data port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct LinkStatus {
    pub up: bool,
    pub speed_mbps: u64,
}

#[repr(C, align(64))]
pub(crate) struct Header {
    pub magic: AtomicU64,
    pub layout_version: AtomicU64,
    pub counter_schema: AtomicU64,
    pub epoch: AtomicU64,
    pub created_unix_ns: AtomicU64,
    pub dataplane_pid: AtomicU64,
    pub total_size: AtomicU64,
    pub worker_count: AtomicU64,
    pub flow_capacity: AtomicU64,
    /// Command, reply, punt (each), inject ring data bytes.
    pub ring_bytes: [AtomicU64; 4],
    /// `[offset, size]` per [`crate::layout::RegionId`].
    pub regions: [[AtomicU64; 2]; REGION_COUNT],
    pub dataplane: DataplaneLive,
    pub control: ControlLive,
}

/// Written by the dataplane main lcore.
#[repr(C, align(64))]
pub(crate) struct DataplaneLive {
    pub state: AtomicU64,
    pub link_up: AtomicU64,
    pub link_speed_mbps: AtomicU64,
    pub rules_generation: AtomicU64,
    pub rules_load_time_ns: AtomicU64,
    /// The data port's IPv4 address (low 32 bits) and MAC (low 48 bits),
    /// each with bit 63 set once written: what the control plane's health
    /// responder answers as.
    pub appliance_ipv4: AtomicU64,
    pub port_mac: AtomicU64,
}

/// Written by the control plane; its own cache line.
#[repr(C, align(64))]
pub(crate) struct ControlLive {
    pub draining: AtomicU64,
}

impl Header {
    pub(crate) fn state(&self) -> DataplaneState {
        DataplaneState::from_raw(self.dataplane.state.load(Ordering::Acquire))
    }

    pub(crate) fn set_state(&self, state: DataplaneState) {
        self.dataplane
            .state
            .store(state.to_raw(), Ordering::Release);
    }
}
