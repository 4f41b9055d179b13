//! Tollgate's rule language: parsing and validating the operators' TOML
//! rule file ([`parse`]), and the compiled multi-field [`Classifier`] that
//! decides the first packet of every new flow.
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
//! let parsed = tollgate_rules::parse(text, "rules.toml").unwrap();
//! let classifier = tollgate_rules::Classifier::compile(&parsed.rules);
//! assert_eq!(parsed.rules.rule_ids().collect::<Vec<_>>(), ["web"]);
//! # let _ = classifier;
//! ```

mod classifier;
mod endpoint;
mod error;
mod model;
mod parse;
mod raw;
mod shadow;
mod space;

pub use classifier::{Classifier, Match, TooLarge};
pub use endpoint::parse_endpoint_id;
pub use error::{RuleError, RuleErrors, Warning};
pub use model::{
    proto, Action, AddrMatch, Cidr, OnRuleChange, PortRange, Rule, RuleSet, MAX_RULES,
};
pub use parse::{parse, parse_cidr, Parsed};
pub use space::L4_UNKNOWN;
