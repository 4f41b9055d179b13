//! The TOML document as a tree that keeps every key's and value's byte span,
//! so that validation can name the line of each mistake. `toml::Value` drops
//! spans; `toml::Spanned` only keeps them one level deep, hence this tree.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::ops::Range;
use toml::Spanned;

/// A TOML value with spans on every nested key and value.
#[derive(Debug, Clone)]
pub(crate) enum RawValue {
    String(String),
    Integer(i64),
    Float,
    Boolean,
    Datetime,
    Array(Vec<Spanned<RawValue>>),
    Table(RawTable),
}

/// A table in document order.
pub(crate) type RawTable = Vec<(Spanned<String>, Spanned<RawValue>)>;

impl RawValue {
    /// The TOML type name, for "expected X, found Y" messages.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            RawValue::String(_) => "a string",
            RawValue::Integer(_) => "an integer",
            RawValue::Float => "a float",
            RawValue::Boolean => "a boolean",
            RawValue::Datetime => "a datetime",
            RawValue::Array(_) => "an array",
            RawValue::Table(_) => "a table",
        }
    }
}

/// The TOML document's root table.
pub(crate) struct RawDocument(pub(crate) RawTable);

impl<'de> Deserialize<'de> for RawDocument {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match RawValue::deserialize(d)? {
            RawValue::Table(t) => Ok(RawDocument(t)),
            other => Err(serde::de::Error::custom(format!(
                "expected a table at the top level, found {}",
                other.type_name()
            ))),
        }
    }
}

impl<'de> Deserialize<'de> for RawValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = RawValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a TOML value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<RawValue, E> {
        Ok(RawValue::Boolean)
    }
    fn visit_i64<E>(self, v: i64) -> Result<RawValue, E> {
        Ok(RawValue::Integer(v))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RawValue, E> {
        i64::try_from(v)
            .map(RawValue::Integer)
            .map_err(|_| E::custom("integer out of range"))
    }
    fn visit_f64<E>(self, _: f64) -> Result<RawValue, E> {
        Ok(RawValue::Float)
    }
    fn visit_str<E>(self, v: &str) -> Result<RawValue, E> {
        Ok(RawValue::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<RawValue, E> {
        Ok(RawValue::String(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawValue, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<RawValue>>()? {
            items.push(item);
        }
        Ok(RawValue::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawValue, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            // toml hands datetimes over as a one-entry map with a private key.
            if key.get_ref().starts_with("$__toml_private") {
                let _ = map.next_value::<serde::de::IgnoredAny>()?;
                return Ok(RawValue::Datetime);
            }
            let value = map.next_value::<Spanned<RawValue>>()?;
            entries.push((key, value));
        }
        Ok(RawValue::Table(entries))
    }
}

/// Parses `text` into the spanned tree; a syntax error comes back with its span.
pub(crate) fn parse_document(text: &str) -> Result<RawTable, (Option<Range<usize>>, String)> {
    let doc: RawDocument = toml::from_str(text).map_err(|e| (e.span(), e.message().to_owned()))?;
    Ok(doc.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_spans_of_nested_values() {
        let text = "a = 1\n[[rule]]\nid = \"x\"\nports = [1, \"2-3\"]\n";
        let doc = parse_document(text).unwrap();
        assert_eq!(doc[0].0.get_ref(), "a");
        let RawValue::Array(rules) = doc[1].1.get_ref() else {
            panic!("array")
        };
        let RawValue::Table(rule) = rules[0].get_ref() else {
            panic!("table")
        };
        assert_eq!(&text[rule[0].1.span()], "\"x\"");
        let RawValue::Array(ports) = rule[1].1.get_ref() else {
            panic!("array")
        };
        assert_eq!(&text[ports[1].span()], "\"2-3\"");
        assert_eq!(&text[rule[1].0.span()], "ports");
    }
}
