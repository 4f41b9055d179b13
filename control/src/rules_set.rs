//! Rule text as control holds it: validated with `tollgate_rules::parse`
//! before anything is sent, so an operator sees precise errors and a bad
//! file never reaches the dataplane.

use std::path::Path;

/// A validated rule file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleText {
    pub origin: String,
    pub text: String,
    pub rules: usize,
    pub warnings: Vec<String>,
}

/// Errors from validation, one per line as `file:line: rule "id": key: message`.
pub fn validate(origin: &str, text: String) -> Result<RuleText, Vec<String>> {
    match tollgate_rules::parse(&text, origin) {
        Ok(parsed) => Ok(RuleText {
            origin: origin.to_string(),
            rules: parsed.rules.len(),
            warnings: parsed.warnings.iter().map(|w| w.to_string()).collect(),
            text,
        }),
        Err(errors) => Err(errors.0.iter().map(|e| e.to_string()).collect()),
    }
}

/// Reads and validates a rule file.
pub fn load(path: &Path) -> Result<RuleText, Vec<String>> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| vec![format!("{origin}: {e}")])?;
    validate(&origin, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_and_invalid_files() {
        let ok = validate("a.toml", "default_action = \"pass\"\n[[rule]]\nid = \"x\"\naction = \"drop\"\nprotocol = \"udp\"\n".into()).unwrap();
        assert_eq!((ok.rules, ok.origin.as_str()), (1, "a.toml"));
        let errors = validate("b.toml", "default_action = \"pass\"\n[[rule]]\nid = \"x\"\naction = \"drop\"\nsrc = \"10.1.2.3/24\"\n".into()).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("b.toml:5: rule \"x\": src"),
            "{errors:?}"
        );
        let missing = load(Path::new("/nonexistent/rules.toml")).unwrap_err();
        assert!(
            missing[0].starts_with("/nonexistent/rules.toml: "),
            "{missing:?}"
        );
    }
}
