//! Time in the flow table: 32-bit ticks of 2^26 ns (about 67 ms).
//!
//! Time is passed in (`now_ns`, any monotonic nanosecond clock) and made
//! relative to the first value seen, so a tick counter lasts 9 years of
//! uptime. An entry stores its expiry tick, rounded up: a flow lives at
//! least its full timeout and is expired within one tick after it.

pub(crate) const TICK_SHIFT: u32 = 26;
/// Nanoseconds per tick.
pub const TICK_NS: u64 = 1 << TICK_SHIFT;

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Clock {
    base: Option<u64>,
    now_rel: u64,
}

impl Clock {
    /// Record the current time; returns the current tick.
    #[inline]
    pub fn advance(&mut self, now_ns: u64) -> u32 {
        let base = *self.base.get_or_insert(now_ns);
        self.now_rel = now_ns.saturating_sub(base);
        self.now_tick()
    }

    #[inline]
    pub fn now_tick(&self) -> u32 {
        to_tick(self.now_rel >> TICK_SHIFT)
    }

    /// The expiry tick of something refreshed now with `timeout_ns`.
    #[inline]
    pub fn expiry(&self, timeout_ns: u64) -> u32 {
        to_tick(self.now_rel.saturating_add(timeout_ns).div_ceil(TICK_NS))
    }

    /// Nanoseconds from now until `tick` (0 if it has passed).
    pub fn ns_until(&self, tick: u32) -> u64 {
        (u64::from(tick) << TICK_SHIFT).saturating_sub(self.now_rel)
    }
}

#[inline]
fn to_tick(t: u64) -> u32 {
    u32::try_from(t).unwrap_or(u32::MAX)
}
