//! Firewall configuration: capacity, timeouts, pickup and expiry budgets.

use std::time::Duration;

use crate::key::HashKey;
use crate::state::{FlowState, STATE_CODES};

/// Idle timeouts per state. Every packet that a state accepts restarts its
/// state's timer, as in Linux conntrack.
///
/// Defaults are Linux's (`nf_conntrack_tcp_timeout_*` etc.), except where
/// GWLB would still forward a flow Linux forgets: UDP (one way or both)
/// and ICMP echo at 120 s (GWLB's idle timeout for UDP and other
/// protocols) instead of 30 s, and ESTABLISHED at Linux's 5 days, well
/// above GWLB's TCP idle timeout (350 s default, at most 6000 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub tcp_syn_sent: Duration,
    pub tcp_syn_recv: Duration,
    pub tcp_established: Duration,
    pub tcp_fin_wait: Duration,
    pub tcp_close_wait: Duration,
    pub tcp_last_ack: Duration,
    pub tcp_time_wait: Duration,
    pub tcp_close: Duration,
    /// UDP seen one way only.
    pub udp_single: Duration,
    /// UDP seen both ways.
    pub udp_stream: Duration,
    pub icmp_echo: Duration,
    /// Other protocols (conntrack's "generic").
    pub generic: Duration,
    /// How long a denied or flushed flow is remembered after its last packet.
    pub denied: Duration,
    /// A TCP flow picked up mid-stream and not yet seen from both sides.
    /// Shorter than GWLB's TCP idle timeout on purpose: forgetting such a
    /// flow loses nothing (its next packet is picked up again), while
    /// holding it for days would let one-packet guesses fill the table.
    pub tcp_unconfirmed: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        let s = Duration::from_secs;
        Timeouts {
            tcp_syn_sent: s(120),
            tcp_syn_recv: s(60),
            tcp_established: s(432_000),
            tcp_fin_wait: s(120),
            tcp_close_wait: s(60),
            tcp_last_ack: s(30),
            tcp_time_wait: s(120),
            tcp_close: s(10),
            udp_single: s(120),
            udp_stream: s(120),
            icmp_echo: s(120),
            generic: s(600),
            denied: s(30),
            tcp_unconfirmed: s(60),
        }
    }
}

impl Timeouts {
    /// The timeout of a state.
    pub fn of(&self, state: FlowState) -> Duration {
        let mut copy = *self;
        *copy.of_mut(state)
    }

    /// The timeout of a state, to change it (a configuration names states).
    pub fn of_mut(&mut self, state: FlowState) -> &mut Duration {
        match state {
            FlowState::TcpSynSent => &mut self.tcp_syn_sent,
            FlowState::TcpSynRecv => &mut self.tcp_syn_recv,
            FlowState::TcpEstablished => &mut self.tcp_established,
            FlowState::TcpFinWait => &mut self.tcp_fin_wait,
            FlowState::TcpCloseWait => &mut self.tcp_close_wait,
            FlowState::TcpLastAck => &mut self.tcp_last_ack,
            FlowState::TcpTimeWait => &mut self.tcp_time_wait,
            FlowState::TcpClose => &mut self.tcp_close,
            FlowState::UdpSingle => &mut self.udp_single,
            FlowState::UdpStream => &mut self.udp_stream,
            FlowState::IcmpEcho => &mut self.icmp_echo,
            FlowState::Generic => &mut self.generic,
            FlowState::Denied => &mut self.denied,
            FlowState::TcpUnconfirmed => &mut self.tcp_unconfirmed,
        }
    }

    /// Nanoseconds per state code, for the per-packet path.
    pub(crate) fn table_ns(&self) -> [u64; STATE_CODES] {
        let mut out = [0u64; STATE_CODES];
        for state in FlowState::ALL {
            let ns = u64::try_from(self.of(state).as_nanos()).unwrap_or(u64::MAX);
            out[usize::from(state as u8)] = ns;
        }
        out
    }
}

/// Everything the firewall is built with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirewallConfig {
    /// Flows the table holds at most (all memory is allocated up front).
    pub capacity: u32,
    pub timeouts: Timeouts,
    /// Create a flow from a non-SYN TCP packet (GWLB moves flows between
    /// appliances on failover and rebalance, without their handshake).
    pub mid_stream_pickup: bool,
    /// When a picked-up packet's own direction is denied, also try the
    /// reverse direction as the initiator's (the first packet after a
    /// failover is as likely to be a server's reply as a client's request).
    pub pickup_try_reverse: bool,
    /// The expiry clock hand goes once around the table per lap, paced
    /// by the clock (see `sweep_pace`): an idle flow's slot is freed within
    /// its timeout plus about one lap (sooner if a packet or an insert
    /// meets it).
    pub expiry_lap: Duration,
    /// Most slots the expiry hand examines per processed packet (bounds
    /// the per-packet work when a lap's slots fall due at once).
    pub expiry_slots_per_packet: u32,
    /// Slots examined, at most, to find a reclaimable flow when the table
    /// is full.
    pub reclaim_scan_slots: u32,
    /// Percent of the capacity (1-100) a GWLB endpoint may hold and still
    /// evict other endpoints' flows when the table is full; at its share it
    /// may evict only its own (see the crate doc). Below capacity any
    /// endpoint takes free slots.
    pub endpoint_share: u8,
    /// Key of the table's hash. The default is drawn from the OS random
    /// source at each construction, so that nobody can precompute 5-tuples
    /// that collide in one bucket pair; set it to reproduce a layout.
    /// Workers need not agree on it.
    pub hash_seed: HashKey,
}

impl Default for FirewallConfig {
    fn default() -> Self {
        FirewallConfig {
            capacity: 1_000_000,
            timeouts: Timeouts::default(),
            mid_stream_pickup: true,
            pickup_try_reverse: true,
            expiry_lap: Duration::from_secs(1),
            expiry_slots_per_packet: 2,
            reclaim_scan_slots: 64,
            endpoint_share: 50,
            hash_seed: HashKey::random(),
        }
    }
}

/// A configuration the firewall cannot run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("capacity must be between 1 and {max} flows, got {got}")]
    Capacity { got: u32, max: u32 },
    #[error("timeout for {state} must be between 1 ms and {max_days} days, got {got:?}")]
    Timeout {
        state: &'static str,
        got: Duration,
        max_days: u64,
    },
    #[error("expiry_lap must be between 1 ms and {max_secs} s, got {got:?}")]
    ExpiryLap { got: Duration, max_secs: u64 },
    #[error("endpoint_share must be between 1 and 100 percent, got {got}")]
    EndpointShare { got: u8 },
    #[error(transparent)]
    Memory(#[from] crate::table::TableAllocError),
}

/// GWLB's idle timeouts (../shared/gwlb.md) in seconds, by the state that
/// carries the same traffic here, with what GWLB calls that traffic: TCP
/// 350 s by default, UDP and other protocols 120 s. A flow the appliance
/// forgets sooner than GWLB does is classified again as new, from
/// whichever side speaks next; the defaults are never shorter.
pub const GWLB_IDLE_TIMEOUTS: [(FlowState, u64, &str); 5] = [
    (FlowState::TcpEstablished, 350, "default TCP"),
    (FlowState::UdpSingle, 120, "UDP"),
    (FlowState::UdpStream, 120, "UDP"),
    (FlowState::IcmpEcho, 120, "ICMP"),
    (FlowState::Generic, 120, "other protocols'"),
];

/// The longest timeout: half the 32-bit tick range, so that expiry times
/// stay far from saturation.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60 * 60 * 24 * 365);

/// The longest expiry lap: an hour (flows idle past their timeout hold
/// their slots at most this much longer).
pub const MAX_EXPIRY_LAP: Duration = Duration::from_secs(3600);

impl FirewallConfig {
    /// Check the configuration.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let max = crate::table::MAX_CAPACITY;
        if self.capacity == 0 || self.capacity > max {
            return Err(ConfigError::Capacity {
                got: self.capacity,
                max,
            });
        }
        for state in FlowState::ALL {
            let t = self.timeouts.of(state);
            if t < Duration::from_millis(1) || t > MAX_TIMEOUT {
                return Err(ConfigError::Timeout {
                    state: state.name(),
                    got: t,
                    max_days: MAX_TIMEOUT.as_secs() / 86_400,
                });
            }
        }
        if self.expiry_lap < Duration::from_millis(1) || self.expiry_lap > MAX_EXPIRY_LAP {
            return Err(ConfigError::ExpiryLap {
                got: self.expiry_lap,
                max_secs: MAX_EXPIRY_LAP.as_secs(),
            });
        }
        if !(1..=100).contains(&self.endpoint_share) {
            return Err(ConfigError::EndpointShare {
                got: self.endpoint_share,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn of_mut_changes_exactly_the_state_it_names() {
        for (i, state) in FlowState::ALL.into_iter().enumerate() {
            let mut t = Timeouts::default();
            let set = Duration::from_millis(1_000_003 + i as u64);
            *t.of_mut(state) = set;
            for other in FlowState::ALL {
                let want = if other == state {
                    set
                } else {
                    Timeouts::default().of(other)
                };
                assert_eq!(t.of(other), want, "{state:?} set, {other:?} read");
            }
        }
    }
}
