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

/// Reads a rule file, refusing one over the rule language's size limit
/// without reading it all. Returns (origin, text).
pub fn read(path: &Path) -> Result<(String, String), String> {
    use std::io::Read;
    let origin = path.display().to_string();
    let limit = tollgate_rules::MAX_FILE_BYTES;
    let file = std::fs::File::open(path).map_err(|e| format!("{origin}: {e}"))?;
    let mut text = String::new();
    file.take(limit as u64 + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("{origin}: {e}"))?;
    if text.len() > limit {
        return Err(format!("{origin}: file is over {limit} bytes"));
    }
    Ok((origin, text))
}

/// Reads and validates a rule file.
pub fn load(path: &Path) -> Result<RuleText, Vec<String>> {
    let (origin, text) = read(path).map_err(|e| vec![e])?;
    validate(&origin, text)
}

// Rule ids label per-rule metrics through the segment's 64-byte name slots:
// the parser's limit must not let an id be cut there.
const _: () = assert!(tollgate_rules::MAX_ID_BYTES <= tollgate_shm::NAME_BYTES);

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
