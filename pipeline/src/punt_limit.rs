//! A token bucket: packets punted to the control plane per second, with a
//! burst allowance, so that a flood to the appliance address cannot fill
//! the punt ring ahead of the health checks or cost the workers more than
//! a counter bump per packet.

/// Tokens are counted in nanoseconds of credit to avoid division per packet.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    ns_per_token: u64,
    depth_ns: u64,
    credit_ns: u64,
    last_ns: u64,
}

impl TokenBucket {
    /// `rate` tokens per second, at most `burst` at once (both > 0).
    pub fn new(rate: u32, burst: u32) -> TokenBucket {
        let ns_per_token = 1_000_000_000 / u64::from(rate.max(1));
        let depth_ns = ns_per_token.saturating_mul(u64::from(burst.max(1)));
        TokenBucket {
            ns_per_token,
            depth_ns,
            credit_ns: depth_ns,
            last_ns: 0,
        }
    }

    /// Takes one token at time `now_ns`; false when the bucket is empty.
    #[inline]
    pub fn take(&mut self, now_ns: u64) -> bool {
        let elapsed = now_ns.saturating_sub(self.last_ns);
        self.last_ns = self.last_ns.max(now_ns);
        self.credit_ns = self.credit_ns.saturating_add(elapsed).min(self.depth_ns);
        if self.credit_ns >= self.ns_per_token {
            self.credit_ns -= self.ns_per_token;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_rate() {
        let mut b = TokenBucket::new(1000, 10);
        let t0 = 5_000_000_000;
        let burst = (0..100).filter(|_| b.take(t0)).count();
        assert_eq!(burst, 10, "a full bucket gives its burst at once");
        assert!(!b.take(t0));
        // One second later at most `burst` more (the bucket caps credit).
        let later = (0..2000).filter(|_| b.take(t0 + 1_000_000_000)).count();
        assert_eq!(later, 10);
        // At the steady rate: 1 ms per token.
        let mut passed = 0;
        for i in 1..=1000u64 {
            if b.take(t0 + 1_000_000_000 + i * 1_000_000) {
                passed += 1;
            }
        }
        assert_eq!(passed, 1000);
    }

    #[test]
    fn clock_going_backwards_gives_no_credit() {
        let mut b = TokenBucket::new(1, 1);
        assert!(b.take(10_000_000_000));
        assert!(!b.take(9_000_000_000));
        assert!(!b.take(10_500_000_000));
        assert!(b.take(11_000_000_000));
    }
}
