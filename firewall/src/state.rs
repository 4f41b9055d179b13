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
    /// live: not yet established (SYN_SENT, SYN_RECV, one-way UDP, a TCP
    /// pickup not yet confirmed), already finished (TIME_WAIT, CLOSE), or
    /// denied. Established traffic is never reclaimed.
    pub fn is_reclaimable(self) -> bool {
        matches!(
            self,
            FlowState::TcpSynSent
                | FlowState::TcpSynRecv
                | FlowState::TcpTimeWait
                | FlowState::TcpClose
                | FlowState::TcpUnconfirmed
                | FlowState::UdpSingle
                | FlowState::Denied
        )
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
