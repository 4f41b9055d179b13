//! Flow states and what they mean for timeouts and reclaim.

use crate::key::FlowKind;

/// The tracking state of a flow.
///
/// The TCP states follow Linux conntrack's names and meaning:
/// `FinWait` = one side sent FIN, `CloseWait` = that FIN was acknowledged
/// and the other side is still open, `LastAck` = both sides sent FIN,
/// waiting for the last ACK, `TimeWait` = closed cleanly, `Close` = reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FlowState {
    TcpSynSent = 1,
    TcpSynRecv = 2,
    TcpEstablished = 3,
    TcpFinWait = 4,
    TcpCloseWait = 5,
    TcpLastAck = 6,
    TcpTimeWait = 7,
    TcpClose = 8,
    /// UDP seen in the initiator's direction only.
    UdpSingle = 9,
    /// UDP seen in both directions.
    UdpStream = 10,
    IcmpEcho = 11,
    /// Another protocol, tracked by address pair.
    Generic = 12,
    /// A flow the rules dropped or rejected (or one killed by a flush): its
    /// packets are dropped without rule evaluation until it goes idle.
    Denied = 13,
    /// A TCP flow picked up mid-stream from an ESTABLISHED-looking segment
    /// and seen from one side only. Until the other side answers it is a
    /// guess anyone can make with one packet, so it lives under a short
    /// timeout, is evicted first, and only the other side's segment makes
    /// it ESTABLISHED.
    TcpUnconfirmed = 14,
}

/// Number of state codes, including the unused code 0 (empty slot).
pub(crate) const STATE_CODES: usize = 15;

impl FlowState {
    pub const ALL: [FlowState; 14] = [
        FlowState::TcpSynSent,
        FlowState::TcpSynRecv,
        FlowState::TcpEstablished,
        FlowState::TcpFinWait,
        FlowState::TcpCloseWait,
        FlowState::TcpLastAck,
        FlowState::TcpTimeWait,
        FlowState::TcpClose,
        FlowState::UdpSingle,
        FlowState::UdpStream,
        FlowState::IcmpEcho,
        FlowState::Generic,
        FlowState::Denied,
        FlowState::TcpUnconfirmed,
    ];

    /// The state stored as `code`, if any.
    pub(crate) fn from_code(code: u8) -> Option<FlowState> {
        FlowState::ALL
            .get(usize::from(code).wrapping_sub(1))
            .copied()
    }

    /// A flow that may be reclaimed to admit a new one while it is still
    /// live: not yet established, already closing, or denied (see
    /// [`EvictReason`]). Established traffic is never reclaimed.
    pub fn is_reclaimable(self) -> bool {
        self.evict_reason().is_some()
    }

    /// Why a live flow in this state may be evicted when the table is full,
    /// `None` if it may not; the reasons are in eviction order.
    pub fn evict_reason(self) -> Option<EvictReason> {
        match self {
            FlowState::TcpUnconfirmed => Some(EvictReason::Unconfirmed),
            FlowState::TcpSynSent | FlowState::TcpSynRecv | FlowState::UdpSingle => {
                Some(EvictReason::Embryonic)
            }
            FlowState::TcpFinWait
            | FlowState::TcpCloseWait
            | FlowState::TcpLastAck
            | FlowState::TcpTimeWait
            | FlowState::TcpClose => Some(EvictReason::Closing),
            FlowState::Denied => Some(EvictReason::Denied),
            FlowState::TcpEstablished
            | FlowState::UdpStream
            | FlowState::IcmpEcho
            | FlowState::Generic => None,
        }
    }

    /// The tracker this state belongs to (`None` for `Denied`).
    pub(crate) fn kind(self) -> Option<FlowKind> {
        match self {
            FlowState::TcpSynSent
            | FlowState::TcpSynRecv
            | FlowState::TcpEstablished
            | FlowState::TcpFinWait
            | FlowState::TcpCloseWait
            | FlowState::TcpLastAck
            | FlowState::TcpTimeWait
            | FlowState::TcpClose
            | FlowState::TcpUnconfirmed => Some(FlowKind::Tcp),
            FlowState::UdpSingle | FlowState::UdpStream => Some(FlowKind::Udp),
            FlowState::IcmpEcho => Some(FlowKind::IcmpEcho),
            FlowState::Generic => Some(FlowKind::Generic),
            FlowState::Denied => None,
        }
    }

    /// A short name for listings and metrics.
    pub fn name(self) -> &'static str {
        match self {
            FlowState::TcpSynSent => "SYN_SENT",
            FlowState::TcpSynRecv => "SYN_RECV",
            FlowState::TcpEstablished => "ESTABLISHED",
            FlowState::TcpFinWait => "FIN_WAIT",
            FlowState::TcpCloseWait => "CLOSE_WAIT",
            FlowState::TcpLastAck => "LAST_ACK",
            FlowState::TcpTimeWait => "TIME_WAIT",
            FlowState::TcpClose => "CLOSE",
            FlowState::UdpSingle => "UDP_SINGLE",
            FlowState::UdpStream => "UDP_STREAM",
            FlowState::IcmpEcho => "ICMP_ECHO",
            FlowState::Generic => "GENERIC",
            FlowState::Denied => "DENIED",
            FlowState::TcpUnconfirmed => "UNCONFIRMED",
        }
    }
}

/// Why a live flow was evicted to admit a new one, in the order a full
/// table evicts them (as Linux conntrack's early drop, which spares only
/// flows seen both ways and not closing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum EvictReason {
    /// A TCP pickup seen from one side only: one packet anyone can send.
    Unconfirmed = 0,
    /// A flow whose other side has not answered yet: SYN_SENT, SYN_RECV,
    /// one-way UDP.
    Embryonic,
    /// A TCP flow after its first FIN or RST: FIN_WAIT, CLOSE_WAIT,
    /// LAST_ACK, TIME_WAIT, CLOSE.
    Closing,
    /// A denied or flushed flow, remembered only to drop its packets
    /// without asking the rules again.
    Denied,
}

impl EvictReason {
    /// Number of reasons (the length of `FirewallCounters::evictions`).
    pub const COUNT: usize = 4;
    pub const ALL: [EvictReason; EvictReason::COUNT] = [
        EvictReason::Unconfirmed,
        EvictReason::Embryonic,
        EvictReason::Closing,
        EvictReason::Denied,
    ];

    /// A stable snake_case name for metrics.
    pub fn name(self) -> &'static str {
        match self {
            EvictReason::Unconfirmed => "unconfirmed",
            EvictReason::Embryonic => "embryonic",
            EvictReason::Closing => "closing",
            EvictReason::Denied => "denied",
        }
    }
}
