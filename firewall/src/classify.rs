//! The seam between the flow table and the rule set.
//!
//! The firewall asks a classifier about the packet that opens a flow (the
//! initiator's direction) and nothing else. The trait keeps this crate free
//! of the rule language: `tollgate-pipeline`'s `RuleSnapshot` implements it
//! for the compiled rule set, the one place where the rule language's
//! enums map onto these.

use tollgate_wire::InnerSummary;

/// What a rule (or the default action) says about a new flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowAction {
    Pass,
    Drop,
    /// Drop and answer the initiator (TCP RST / ICMP unreachable).
    Reject,
}

/// The classifier's answer: the first matching rule's index, or `None`
/// when the default action decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleMatch {
    pub rule: Option<u32>,
    pub action: FlowAction,
}

/// What a new rule set does to the flows decided under older ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnRuleChange {
    /// Existing flows keep their verdict.
    #[default]
    Keep,
    /// An existing flow is re-classified (with its initiator's tuple) at its
    /// next packet.
    Revalidate,
    /// Existing flows are killed: their later packets are dropped.
    Flush,
}

/// A rule set that decides the first packet of a flow.
pub trait Classify {
    /// Classify `pkt` (always in the initiator's direction) seen on the GWLB
    /// endpoint `endpoint`.
    fn classify(&self, endpoint: u64, pkt: &InnerSummary) -> RuleMatch;
}

/// Closures classify too, which keeps tests and simple tools short.
impl<F> Classify for F
where
    F: Fn(u64, &InnerSummary) -> RuleMatch,
{
    fn classify(&self, endpoint: u64, pkt: &InnerSummary) -> RuleMatch {
        self(endpoint, pkt)
    }
}
