//! Errors and warnings from parsing a rule file, each pointing at a line.

use std::fmt;

/// One problem in a rule file. Displays as one line:
/// `rules.toml:14: rule "web-https": dst: unknown set "$webb" (sets defined: web, db)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// The file name (or other origin) given to `parse`.
    pub origin: String,
    /// 1-based line of the offending value.
    pub line: u32,
    /// The rule's id when the problem is inside a rule whose id is known.
    pub rule_id: Option<String>,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}:{}: ", self.origin, self.line)?;
        if let Some(id) = &self.rule_id {
            write!(f, "rule \"{id}\": ")?;
        }
        f.write_str(&self.message)
    }
}

/// Every error found in a rule file; any one of them rejects the whole set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleErrors(pub Vec<RuleError>);

impl fmt::Display for RuleErrors {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for RuleErrors {}

/// Something legal but almost certainly not what the operator meant, such
/// as a rule that can never match. Same one-line format as [`RuleError`].
pub type Warning = RuleError;
