//! The rule file's stated bounds. Each keeps parsing, validation, the
//! shadow check and compilation within bounded memory and time whatever
//! the file holds; passing one is an error naming the rule, the field and
//! the count (file-wide limits name the line where the count passed).

/// Largest rule file, checked before anything is parsed.
pub const MAX_FILE_BYTES: usize = 4 << 20;

/// Most TOML values (keys, list items and tables) in a file, counted by a
/// lexical scan before parsing: the TOML tree takes a few hundred bytes per
/// value, so this bounds the parser's memory where the file size does not.
pub const MAX_VALUES: usize = 1 << 19;

/// Most rules one set may hold: the shared-memory stats region has a hit
/// counter slot per rule.
pub const MAX_RULES: usize = 16384;

/// Longest rule id in bytes: ids label the per-rule metrics and the
/// shared-memory table that names them holds 64 bytes each, so a longer id
/// would be cut and two ids could give the same series.
pub const MAX_ID_BYTES: usize = 64;

/// Most prefixes in one named set.
pub const MAX_SET_PREFIXES: usize = 1 << 16;

/// Most `$set` references in the whole file.
pub const MAX_SET_REFERENCES: usize = 1 << 16;

/// Most prefixes in all rules' `src` and `dst` together, each set counted
/// once per reference: the shadow check and the classifier's compiler work
/// per prefix of each rule, so this is what bounds their time and memory.
pub const MAX_PREFIXES: usize = 1 << 18;

/// Most port and ICMP type/code ranges in all rules together.
pub const MAX_PORT_RANGES: usize = 1 << 18;

/// Most errors listed; the rest are counted in one last line.
pub const MAX_ERRORS: usize = 100;

/// Work the shadow check may do, in rule-pair comparisons plus the ranges
/// compared in full checks; past it the check stops with a warning (the
/// rule set is still valid).
pub const SHADOW_CHECK_BUDGET: u64 = 200_000_000;

/// Set names listed in an "unknown set" hint.
pub(crate) const MAX_NAMES_IN_HINT: usize = 10;

/// The position in `text` where the count of TOML values passes `limit`,
/// if it does. Counts `=`, `,`, `[` and `{` outside strings and comments: an
/// upper bound, since every value follows a `=` or is an array item (an
/// array of n items has at least n-1 commas and one `[`).
pub(crate) fn values_exceed(text: &str, limit: usize) -> Option<usize> {
    let b = text.as_bytes();
    let mut count = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            q @ (b'"' | b'\'') => {
                let multi = b.get(i + 1) == Some(&q) && b.get(i + 2) == Some(&q);
                i += if multi { 3 } else { 1 };
                while i < b.len() {
                    if q == b'"' && b[i] == b'\\' {
                        i += 2;
                        continue;
                    }
                    if !multi && b[i] == b'\n' {
                        break;
                    }
                    if b[i] == q && !multi {
                        break;
                    }
                    if b[i] == q && b.get(i + 1) == Some(&q) && b.get(i + 2) == Some(&q) {
                        // Up to two more quotes belong to the content: `""""` ends
                        // with one quote of content and the closing three.
                        let run = b[i..].iter().take(5).take_while(|&&c| c == q).count();
                        i += run - 1;
                        break;
                    }
                    i += 1;
                }
            }
            b'=' | b',' | b'[' | b'{' => {
                count += 1;
                if count > limit {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::values_exceed;

    #[test]
    fn counts_values_outside_strings_and_comments() {
        let text = "a = [1, 2, 3] # x = [,,,]\nb = \"=,[{\"\nc = '''\n,,,\n'''\nd = \"\\\",,\"\n";
        // a= [ , ,  b=  c=  d=
        assert_eq!(values_exceed(text, 7), None);
        assert_eq!(values_exceed(text, 6), Some(text.find("d =").unwrap() + 2));
        assert_eq!(values_exceed("[[rule]]\nid = 1", 2), Some(12));
        // A closing run of five quotes must not open a new string that hides the items.
        let hidden = "x = [\"\"\"a\"\"\"\"\", 1, 1, 1]";
        assert_eq!(values_exceed(hidden, 4), Some(hidden.rfind(',').unwrap()));
    }
}
