//! The time-stamp counter: cycles for the per-packet figures.

use std::time::{Duration, Instant};

#[inline]
pub fn rdtsc() -> u64 {
    // SAFETY: rdtsc only reads the time-stamp counter (x86-64 always has it).
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// TSC ticks per second, measured against the monotonic clock over `span`.
pub fn hz(span: Duration) -> u64 {
    let t0 = Instant::now();
    let c0 = rdtsc();
    while t0.elapsed() < span {
        std::hint::spin_loop();
    }
    let c1 = rdtsc();
    let secs = t0.elapsed().as_secs_f64();
    ((c1 - c0) as f64 / secs) as u64
}

#[cfg(test)]
mod tests {
    #[test]
    fn tsc_runs_forward_at_a_plausible_rate() {
        let hz = super::hz(std::time::Duration::from_millis(20));
        assert!((100_000_000..10_000_000_000).contains(&hz), "{hz} Hz");
    }
}
