//! What the firewall says about a packet, and the counters it keeps.

use crate::state::EvictReason;

/// Why a packet was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DropReason {
    /// No rule set loaded yet: nothing is forwarded.
    NoRuleSet = 0,
    /// A rule (or the default action) denied the flow, now or earlier.
    RuleDenied,
    /// The flow was killed by a rule change with `on_rule_change = flush`.
    Flushed,
    /// A new flow was allowed but the table is full and nothing could be
    /// reclaimed.
    TableFull,
    /// A non-SYN TCP packet of an unknown flow, with mid-stream pickup off.
    MidStreamPickupOff,
    /// A TCP packet that is invalid for the flow's state (bad flag
    /// combination, a SYN/ACK or handshake ACK that acknowledges the wrong
    /// sequence number, data before the handshake finished).
    TcpInvalid,
    /// A RST in SYN_SENT that does not acknowledge the SYN (RFC 793 says to
    /// ignore it; it is how blind reset attacks look).
    TcpInvalidRst,
    /// A TCP segment outside its flow's sequence windows: data or a RST
    /// the receiver would not accept, or an acknowledgement of data never
    /// sent (how blind reset and injection attacks look).
    TcpOutOfWindow,
    /// An ICMP echo reply without a request.
    UnsolicitedEchoReply,
    /// An ICMP error quoting a packet of no allowed flow, or not sent to the
    /// quoted packet's sender.
    IcmpErrorUnrelated,
    /// A non-first fragment: without reassembly it cannot be tied to a flow.
    Fragment,
    /// The summary contradicts the flow (e.g. a UDP packet for a flow key
    /// that a TCP flow holds, possible only with a malformed summary).
    Inconsistent,
    /// A new flow was allowed, the table is full and its GWLB endpoint
    /// already holds its share (`endpoint_share`), and none of that
    /// endpoint's own flows in reach could be reclaimed.
    EndpointShare,
}

impl DropReason {
    /// Number of reasons (the length of [`FirewallCounters::drops`]).
    pub const COUNT: usize = 13;
    pub const ALL: [DropReason; DropReason::COUNT] = [
        DropReason::NoRuleSet,
        DropReason::RuleDenied,
        DropReason::Flushed,
        DropReason::TableFull,
        DropReason::MidStreamPickupOff,
        DropReason::TcpInvalid,
        DropReason::TcpInvalidRst,
        DropReason::TcpOutOfWindow,
        DropReason::UnsolicitedEchoReply,
        DropReason::IcmpErrorUnrelated,
        DropReason::Fragment,
        DropReason::Inconsistent,
        DropReason::EndpointShare,
    ];

    /// A stable snake_case name for metrics and logs.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::NoRuleSet => "no_rule_set",
            DropReason::RuleDenied => "rule_denied",
            DropReason::Flushed => "flushed",
            DropReason::TableFull => "table_full",
            DropReason::MidStreamPickupOff => "mid_stream_pickup_off",
            DropReason::TcpInvalid => "tcp_invalid",
            DropReason::TcpInvalidRst => "tcp_invalid_rst",
            DropReason::TcpOutOfWindow => "tcp_out_of_window",
            DropReason::UnsolicitedEchoReply => "unsolicited_echo_reply",
            DropReason::IcmpErrorUnrelated => "icmp_error_unrelated",
            DropReason::Fragment => "fragment",
            DropReason::Inconsistent => "inconsistent",
            DropReason::EndpointShare => "endpoint_share",
        }
    }
}

/// Why an allowed new flow was refused a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RefuseReason {
    /// The table is full and nothing in reach could be reclaimed.
    TableFull = 0,
    /// The table is full and the flow's endpoint holds its share: it may
    /// reclaim only its own flows, and none in reach could be.
    EndpointShare,
}

impl RefuseReason {
    /// Number of reasons (the length of [`FirewallCounters::refused`]).
    pub const COUNT: usize = 2;
    pub const ALL: [RefuseReason; RefuseReason::COUNT] =
        [RefuseReason::TableFull, RefuseReason::EndpointShare];

    /// The drop reason of the refused packet.
    pub fn drop_reason(self) -> DropReason {
        match self {
            RefuseReason::TableFull => DropReason::TableFull,
            RefuseReason::EndpointShare => DropReason::EndpointShare,
        }
    }
}

/// What to do with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Drop(DropReason),
    /// Drop and answer the initiator (TCP RST or ICMP unreachable).
    Reject,
}

/// The firewall's answer for one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub verdict: Verdict,
    /// The rule that decided, when rules were evaluated for this packet (a
    /// new flow, a revalidated flow, or a stateless ICMP message); `None`
    /// when the flow's state decided or the default action did.
    pub rule: Option<u32>,
    /// This packet created a flow entry (allowed or denied).
    pub flow_created: bool,
}

impl Decision {
    pub(crate) const fn drop(reason: DropReason) -> Decision {
        Decision {
            verdict: Verdict::Drop(reason),
            rule: None,
            flow_created: false,
        }
    }

    pub(crate) const PASS: Decision = Decision {
        verdict: Verdict::Pass,
        rule: None,
        flow_created: false,
    };
}

/// Counters of one firewall (one worker). Plain integers, one writer; the
/// worker copies them to its stats block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FirewallCounters {
    pub packets: u64,
    pub passed: u64,
    pub dropped: u64,
    pub rejected: u64,
    /// Drops by [`DropReason`] (index = `reason as usize`).
    pub drops: [u64; DropReason::COUNT],
    /// Flow entries created (allowed and denied).
    pub created: u64,
    /// Flows removed because they timed out.
    pub expired: u64,
    /// Live reclaimable flows removed to admit a new one, by
    /// [`EvictReason`] (index = `reason as usize`).
    pub evicted: [u64; EvictReason::COUNT],
    /// Allowed new flows refused a slot, by [`RefuseReason`] (index =
    /// `reason as usize`).
    pub refused: [u64; RefuseReason::COUNT],
    /// Flow entries in the table now (including expired ones not yet
    /// reclaimed).
    pub active: u64,
    /// Flows created from a mid-stream TCP packet.
    pub picked_up: u64,
    /// ICMP errors passed as related to a flow.
    pub related: u64,
    /// Flows re-classified after a `revalidate` rule change.
    pub revalidated: u64,
    /// Flows killed by a `flush` rule change.
    pub flushed: u64,
    /// Flows removed by the control plane (`flush_matching`).
    pub removed: u64,
    /// Packets passed by the established-flow fast path
    /// ([`crate::Firewall::pass_established`]); also counted in `passed`.
    pub fast_passed: u64,
}

impl FirewallCounters {
    #[inline]
    pub(crate) fn count(&mut self, d: &Decision) {
        self.packets += 1;
        match d.verdict {
            Verdict::Pass => self.passed += 1,
            Verdict::Reject => self.rejected += 1,
            Verdict::Drop(r) => {
                self.dropped += 1;
                self.drops[r as usize] += 1;
            }
        }
    }

    /// Drops for one reason.
    pub fn drops_for(&self, reason: DropReason) -> u64 {
        self.drops[reason as usize]
    }

    /// Live flows evicted, for any reason.
    pub fn evicted_total(&self) -> u64 {
        self.evicted.iter().sum()
    }

    /// Allowed new flows refused a slot, for any reason.
    pub fn refused_total(&self) -> u64 {
        self.refused.iter().sum()
    }
}
