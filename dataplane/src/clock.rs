//! Nanoseconds from the TSC: one rdtsc and a multiply per read, no syscall.

use tollgate_ffi as ffi;

#[derive(Debug, Clone, Copy)]
pub struct TscClock {
    /// Nanoseconds per TSC tick as a 32.32 fixed-point number.
    ns_per_tick_fp: u128,
    start_tsc: u64,
    /// CLOCK_MONOTONIC at `start_tsc`, so that readings line up with other
    /// processes' monotonic clocks (heartbeats, ages).
    start_ns: u64,
}

impl TscClock {
    pub fn new(tsc_hz: u64) -> TscClock {
        // SAFETY: rte_rdtsc only reads the time-stamp counter.
        let start_tsc = unsafe { ffi::rte_rdtsc() };
        TscClock {
            ns_per_tick_fp: (1_000_000_000u128 << 32) / u128::from(tsc_hz.max(1)),
            start_tsc,
            start_ns: tollgate_shm::monotonic_ns(),
        }
    }

    #[inline]
    pub fn now_ns(&self) -> u64 {
        // SAFETY: as above.
        let tsc = unsafe { ffi::rte_rdtsc() };
        let ticks = u128::from(tsc.wrapping_sub(self.start_tsc));
        self.start_ns + ((ticks * self.ns_per_tick_fp) >> 32) as u64
    }
}
