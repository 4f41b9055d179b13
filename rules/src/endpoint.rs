//! GWLB endpoint IDs as operators write them.
//!
//! AWS prints an endpoint as `vpce-` (or `eni-`) followed by 17 hex digits,
//! a leading `0` and the 16 digits of the 64-bit value GWLB puts in the
//! GENEVE option. Raw hex (1 to 16 digits, optional `0x`) is accepted too,
//! because the mapping from the printed ID to the option is unconfirmed.

/// The 64-bit endpoint ID, or `None` when `text` is neither form.
pub fn parse_endpoint_id(text: &str) -> Option<u64> {
    let prefixed = text
        .strip_prefix("vpce-")
        .or_else(|| text.strip_prefix("eni-"));
    let digits = match prefixed {
        Some(rest) => {
            if rest.len() != 17 || !rest.starts_with('0') {
                return None;
            }
            &rest[1..]
        }
        None => {
            let raw = text.strip_prefix("0x").unwrap_or(text);
            if raw.is_empty() || raw.len() > 16 {
                return None;
            }
            raw
        }
    };
    if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(digits, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::parse_endpoint_id;

    #[test]
    fn accepts_aws_and_raw_forms() {
        assert_eq!(
            parse_endpoint_id("vpce-0123456789abcdef0"),
            Some(0x1234_5678_9abc_def0)
        );
        assert_eq!(parse_endpoint_id("eni-0ffffffffffffffff"), Some(u64::MAX));
        assert_eq!(parse_endpoint_id("0x1a"), Some(0x1a));
        assert_eq!(
            parse_endpoint_id("123456789ABCDEF0"),
            Some(0x1234_5678_9abc_def0)
        );
    }

    #[test]
    fn rejects_malformed_ids() {
        for bad in [
            "vpce-123456789abcdef0",   // 16 digits: the leading 0 is missing
            "vpce-1123456789abcdef0",  // 17 digits not starting with 0
            "vpce-0123456789abcdef01", // too long
            "vpce-0123456789abcdefg",  // not hex
            "nat-0123456789abcdef0",
            "",
            "0x",
            "12345678901234567", // 17 raw digits overflow u64
            "+1",
        ] {
            assert_eq!(parse_endpoint_id(bad), None, "{bad}");
        }
    }
}
