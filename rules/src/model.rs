//! The validated rule set: what the parser produces and the classifier compiles.
//!
//! Invariants the parser guarantees (and `RuleSet::from_rules` callers must
//! keep): port constraints only on protocol 6 (TCP) or 17 (UDP); ICMP
//! type/code constraints only on protocol 1 (ICMP) or 58 (ICMPv6); never
//! both kinds on one rule; every range has `lo <= hi`; lists are non-empty.

use std::fmt;
use std::sync::Arc;
use tollgate_wire::ipv4::protocol;
use tollgate_wire::summary::IpVersion;

/// What happens to the flow a rule (or the default) decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleAction {
    Pass,
    Drop,
    /// Drop and answer the initiator: TCP RST for TCP, ICMP unreachable otherwise.
    Reject,
}

impl fmt::Display for RuleAction {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            RuleAction::Pass => "pass",
            RuleAction::Drop => "drop",
            RuleAction::Reject => "reject",
        })
    }
}

/// What a newly loaded rule set does to flows that already exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OnRuleChange {
    /// Existing flows keep the verdict they were given.
    #[default]
    Keep,
    /// Each existing flow is re-classified at its next packet.
    Revalidate,
    /// All existing flows are dropped.
    Flush,
}

impl fmt::Display for OnRuleChange {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            OnRuleChange::Keep => "keep",
            OnRuleChange::Revalidate => "revalidate",
            OnRuleChange::Flush => "flush",
        })
    }
}

/// An address prefix. IPv4 prefixes are stored IPv4-mapped (`::ffff:a.b.c.d`)
/// like `InnerSummary` addresses, with `prefix_len` counted in the family's
/// own bits (0..=32 for IPv4, 0..=128 for IPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    pub version: IpVersion,
    /// Network address, host bits zero.
    pub addr: u128,
    pub prefix_len: u8,
}

impl Cidr {
    /// The first and last address covered, in the mapped u128 space.
    pub fn range(&self) -> (u128, u128) {
        (
            self.addr,
            self.addr | Cidr::host_mask(self.version, self.prefix_len),
        )
    }

    /// The bits below a prefix of `prefix_len` in the family's own width.
    pub fn host_mask(version: IpVersion, prefix_len: u8) -> u128 {
        let width: u32 = match version {
            IpVersion::V4 => 32,
            IpVersion::V6 => 128,
        };
        let host_bits = width.saturating_sub(u32::from(prefix_len));
        if host_bits >= 128 {
            u128::MAX
        } else {
            (1u128 << host_bits) - 1
        }
    }

    pub fn contains(&self, addr: u128) -> bool {
        let (lo, hi) = self.range();
        lo <= addr && addr <= hi
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.version {
            IpVersion::V4 => {
                let a = std::net::Ipv4Addr::from(self.addr as u32);
                write!(f, "{a}/{}", self.prefix_len)
            }
            IpVersion::V6 => {
                let a = std::net::Ipv6Addr::from(self.addr);
                write!(f, "{a}/{}", self.prefix_len)
            }
        }
    }
}

/// Source or destination addresses of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddrMatch {
    Any,
    /// May hold both families.
    Cidrs(CidrList),
}

impl AddrMatch {
    /// Whether this side can match a packet of `version` at all.
    pub fn has_family(&self, version: IpVersion) -> bool {
        match self {
            AddrMatch::Any => true,
            AddrMatch::Cidrs(c) => c.iter().any(|c| c.version == version),
        }
    }
}

/// A rule's prefixes: those written in the rule and the named sets it
/// refers to. A set is shared by every rule naming it, not copied, so a
/// large set referenced by many rules is stored once.
#[derive(Debug, Clone, Default)]
pub struct CidrList {
    parts: Vec<Arc<[Cidr]>>,
}

impl CidrList {
    /// Adds a shared set (or any list of prefixes).
    pub fn push_shared(&mut self, part: Arc<[Cidr]>) {
        if !part.is_empty() {
            self.parts.push(part);
        }
    }

    /// Every prefix, sets expanded, in the order given (repeats kept).
    pub fn iter(&self) -> impl Iterator<Item = &Cidr> + '_ {
        self.parts.iter().flat_map(|p| p.iter())
    }

    /// Prefixes counted with repeats: each set once per reference.
    pub fn len(&self) -> usize {
        self.parts.iter().map(|p| p.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }
}

impl From<Vec<Cidr>> for CidrList {
    fn from(cidrs: Vec<Cidr>) -> CidrList {
        let mut list = CidrList::default();
        list.push_shared(cidrs.into());
        list
    }
}

impl FromIterator<Cidr> for CidrList {
    fn from_iter<I: IntoIterator<Item = Cidr>>(iter: I) -> CidrList {
        CidrList::from(iter.into_iter().collect::<Vec<_>>())
    }
}

/// Equal when they list the same prefixes in the same order, however shared.
impl PartialEq for CidrList {
    fn eq(&self, other: &CidrList) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for CidrList {}

/// An inclusive range of port numbers (or ICMP types/codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortRange {
    pub lo: u16,
    pub hi: u16,
}

impl PortRange {
    pub fn contains(&self, v: u16) -> bool {
        self.lo <= v && v <= self.hi
    }
}

/// One validated rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub id: String,
    /// Line of the rule's `[[rule]]` header in its file (1-based).
    pub line: u32,
    pub action: RuleAction,
    /// `None` is "any".
    pub protocol: Option<u8>,
    pub src: AddrMatch,
    pub dst: AddrMatch,
    /// `None` is "any". TCP/UDP only.
    pub src_port: Option<Vec<PortRange>>,
    pub dst_port: Option<Vec<PortRange>>,
    /// `None` is "any". ICMP/ICMPv6 only; ranges within 0..=255.
    pub icmp_type: Option<Vec<PortRange>>,
    pub icmp_code: Option<Vec<PortRange>>,
    /// GWLB endpoint IDs; empty is "every endpoint".
    pub endpoints: Vec<u64>,
}

impl Rule {
    /// A rule matching every packet, for building rule sets in code.
    pub fn any(id: impl Into<String>, action: RuleAction) -> Rule {
        Rule {
            id: id.into(),
            line: 0,
            action,
            protocol: None,
            src: AddrMatch::Any,
            dst: AddrMatch::Any,
            src_port: None,
            dst_port: None,
            icmp_type: None,
            icmp_code: None,
            endpoints: Vec::new(),
        }
    }

    /// Whether the rule can match packets of `version`: both address sides
    /// must hold that family, and ICMP is IPv4-only, ICMPv6 IPv6-only.
    pub fn applies_to(&self, version: IpVersion) -> bool {
        let proto_ok = !matches!(
            (self.protocol, version),
            (Some(protocol::ICMP), IpVersion::V6) | (Some(protocol::ICMPV6), IpVersion::V4)
        );
        proto_ok && self.src.has_family(version) && self.dst.has_family(version)
    }
}

/// A validated, ordered rule set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSet {
    default_action: RuleAction,
    on_rule_change: OnRuleChange,
    rules: Vec<Rule>,
}

impl RuleSet {
    /// Builds a set from rules made in code. The caller keeps the invariants
    /// in the module doc; the classifier stays memory-safe without them but
    /// would then disagree with the documented semantics.
    pub fn from_rules(
        default_action: RuleAction,
        on_rule_change: OnRuleChange,
        rules: Vec<Rule>,
    ) -> RuleSet {
        RuleSet {
            default_action,
            on_rule_change,
            rules,
        }
    }

    pub fn default_action(&self) -> RuleAction {
        self.default_action
    }

    pub fn on_rule_change(&self) -> OnRuleChange {
        self.on_rule_change
    }

    /// Rule ids in file order; the position is the rule index `Match::rule` gives.
    pub fn rule_ids(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.rules.iter().map(|r| r.id.as_str())
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}
