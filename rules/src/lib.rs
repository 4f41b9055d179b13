//! Tollgate's rule language: parsing and validating the operators' TOML
//! rule file ([`parse`]), and the compiled multi-field [`Classifier`] that
//! decides the first packet of every new flow.
//!
//! The file format is documented by example in `configs/rules.example.toml` at the repository root.
//! Choices an operator may want to know:
//! - Any error rejects the whole file; all errors are reported, sorted by
//!   line, each as `file:line: rule "id": key: message`.
//! - Unknown keys are errors (with a "did you mean" hint): a typo must not
//!   silently widen a rule.
//! - A CIDR with host bits set (`10.1.2.3/24`) is an error that names the
//!   network meant; a bare address is a host (/32 or /128).
//! - `default_action` is required (no implicit security posture);
//!   `on_rule_change` defaults to `keep`; `protocol`, `src` and `dst` default
//!   to `any`.
//! - A rule applies to an IP family when both `src` and `dst` hold addresses
//!   of that family (sets may mix families); `icmp` is IPv4 only, `icmpv6`
//!   IPv6 only. A rule that can match no family is an error.
//! - Ports need protocol tcp or udp (a number 6/17 counts); `icmp_type` needs
//!   icmp or icmpv6, `icmp_code` needs `icmp_type`. Port 0 is refused.
//! - A rule one earlier rule fully covers gives a warning naming both.
//! - The file's size, values, rules, id length, set sizes, set references
//!   and prefixes and ports after expansion are bounded ([`limits`]), so any
//!   file parses in bounded time and memory; a set is shared by the rules
//!   naming it, not copied.
//!
//! ```
//! let text = r#"
//! default_action = "drop"
//! [[rule]]
//! id = "web"
//! action = "pass"
//! protocol = "tcp"
//! dst = "10.0.0.0/8"
//! dst_port = 443
//! "#;
//! use tollgate_rules::{parse, RuleAction, Classifier, Match};
//! use tollgate_wire::summary::{ipv4_mapped, Fragment, InnerSummary, IpVersion, L4Summary};
//!
//! let parsed = parse(text, "rules.toml").unwrap();
//! assert_eq!(parsed.rules.rule_ids().collect::<Vec<_>>(), ["web"]);
//! let classifier = Classifier::compile(&parsed.rules);
//! let syn = InnerSummary {
//!     version: IpVersion::V4,
//!     src: ipv4_mapped([192, 0, 2, 1]),
//!     dst: ipv4_mapped([10, 1, 2, 3]),
//!     protocol: 6,
//!     fragment: Fragment::None,
//!     l4: L4Summary::Tcp {
//!         src_port: 50000, dst_port: 443, flags: 0x02, seq: 1, ack: 0, window: 64240, payload_len: 0,
//!         window_scale: None,
//!     },
//!     l4_offset: 20,
//!     total_len: 40,
//! };
//! let endpoint = tollgate_rules::parse_endpoint_id("vpce-0123456789abcdef0").unwrap();
//! assert_eq!(classifier.classify(endpoint, &syn), Match { rule: Some(0), action: RuleAction::Pass });
//! ```

mod classifier;
mod endpoint;
mod error;
pub mod limits;
mod model;
mod parse;
mod raw;
mod shadow;
mod space;

pub use classifier::{Classifier, Match, TooLarge};
pub use endpoint::parse_endpoint_id;
pub use error::{RuleError, RuleErrors, Warning};
pub use limits::{
    MAX_ERRORS, MAX_FILE_BYTES, MAX_ID_BYTES, MAX_PORT_RANGES, MAX_PREFIXES, MAX_RULES,
    MAX_SET_PREFIXES, MAX_SET_REFERENCES, MAX_VALUES, SHADOW_CHECK_BUDGET,
};
pub use model::{AddrMatch, Cidr, CidrList, OnRuleChange, PortRange, Rule, RuleAction, RuleSet};
pub use parse::{parse, parse_cidr, Parsed};
pub use space::L4_UNKNOWN;
