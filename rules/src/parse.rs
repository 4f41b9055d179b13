//! Rule file (TOML) to validated [`RuleSet`], collecting every error.
//!
//! The file is first read into a span-keeping tree (see `raw`), then each
//! key is checked on its own so that one mistake does not hide the next.
//! A CIDR with host bits set (`10.1.2.3/24`) is an error, not a warning:
//! the operator meant either the host or the network, and guessing could
//! widen the rule.

use crate::endpoint::parse_endpoint_id;
use crate::error::{RuleError, RuleErrors, Warning};
use crate::limits::{
    values_exceed, MAX_ERRORS, MAX_FILE_BYTES, MAX_ID_BYTES, MAX_NAMES_IN_HINT, MAX_PORT_RANGES,
    MAX_PREFIXES, MAX_RULES, MAX_SET_PREFIXES, MAX_SET_REFERENCES, MAX_VALUES,
};
use crate::model::{AddrMatch, Cidr, CidrList, OnRuleChange, PortRange, Rule, RuleAction, RuleSet};
use crate::raw::{parse_document, RawValue};
use crate::shadow::shadow_warnings;
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Range;
use std::sync::Arc;
use tollgate_wire::ipv4::protocol;
use tollgate_wire::summary::{ipv4_mapped, IpVersion};
use toml::Spanned;

/// A parsed rule set and the warnings about it.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub rules: RuleSet,
    pub warnings: Vec<Warning>,
}

const TOP_KEYS: &[&str] = &["default_action", "on_rule_change", "sets", "rule"];
const RULE_KEYS: &[&str] = &[
    "id",
    "action",
    "protocol",
    "src",
    "dst",
    "src_port",
    "dst_port",
    "icmp_type",
    "icmp_code",
    "endpoint",
];

/// Parses and validates a rule file. `origin` names the file in messages.
pub fn parse(text: &str, origin: &str) -> Result<Parsed, RuleErrors> {
    let one_error = |line: u32, message: String| {
        Err(RuleErrors(vec![RuleError {
            origin: origin.to_owned(),
            line,
            rule_id: None,
            message,
        }]))
    };
    if text.len() > MAX_FILE_BYTES {
        let message = format!("file is {} bytes (at most {MAX_FILE_BYTES})", text.len());
        return one_error(1, message);
    }
    let mut cx = Context::new(text, origin);
    if let Some(at) = values_exceed(text, MAX_VALUES) {
        let message = format!(
            "more than {MAX_VALUES} values (keys, list items and tables) in the file (at most {MAX_VALUES})"
        );
        return one_error(cx.line_of(at), message);
    }
    let doc = match parse_document(text) {
        Ok(doc) => doc,
        Err((span, message)) => {
            let line = span.map_or(1, |s| cx.line_of(s.start));
            let message = format!("TOML syntax: {}", message.trim_end().replace('\n', "; "));
            return Err(RuleErrors(vec![RuleError {
                origin: origin.to_owned(),
                line,
                rule_id: None,
                message,
            }]));
        }
    };

    let mut default_action = None;
    let mut on_rule_change = OnRuleChange::default();
    let mut sets = Sets::default();
    let mut raw_rules = None;
    for (key, value) in &doc {
        match key.get_ref().as_str() {
            "default_action" => {
                default_action = cx.keyword(
                    value,
                    None,
                    "default_action",
                    &[("pass", RuleAction::Pass), ("drop", RuleAction::Drop)],
                )
            }
            "on_rule_change" => {
                let choices = [
                    ("keep", OnRuleChange::Keep),
                    ("revalidate", OnRuleChange::Revalidate),
                    ("flush", OnRuleChange::Flush),
                ];
                if let Some(v) = cx.keyword(value, None, "on_rule_change", &choices) {
                    on_rule_change = v;
                }
            }
            "sets" => sets = cx.sets(value),
            "rule" => raw_rules = Some(value),
            other => cx.unknown_key(key, None, other, TOP_KEYS),
        }
    }
    if default_action.is_none() && !doc.iter().any(|(k, _)| k.get_ref() == "default_action") {
        cx.error_at_line(
            1,
            None,
            "missing default_action (\"pass\" or \"drop\")".into(),
        );
    }

    let mut rules = Vec::new();
    if let Some(value) = raw_rules {
        match value.get_ref() {
            RawValue::Array(items) => {
                if items.len() > MAX_RULES {
                    let span = items[MAX_RULES].span();
                    cx.error(
                        span,
                        None,
                        format!(
                            "too many rules: {} (at most {MAX_RULES}, the stats region's limit)",
                            items.len()
                        ),
                    );
                }
                let mut first_line: HashMap<String, u32> = HashMap::new();
                for item in items {
                    if let Some(rule) = cx.rule(item, &sets, &mut first_line) {
                        rules.push(rule);
                    }
                }
            }
            other => cx.error(
                value.span(),
                None,
                format!(
                    "rule: expected [[rule]] tables, found {}",
                    other.type_name()
                ),
            ),
        }
    }

    if cx.error_count > 0 {
        // Checks run per key, not in text order; operators read top to bottom.
        cx.errors.sort_by_key(|e| e.line);
        if let Some(line) = cx.first_unlisted_line {
            let unlisted = cx.error_count - cx.errors.len();
            cx.errors.push(RuleError {
                origin: origin.to_owned(),
                line,
                rule_id: None,
                message: format!("{unlisted} more errors not listed"),
            });
        }
        return Err(RuleErrors(cx.errors));
    }
    let warnings = shadow_warnings(&rules, origin);
    let default_action = default_action.unwrap_or(RuleAction::Drop);
    Ok(Parsed {
        rules: RuleSet::from_rules(default_action, on_rule_change, rules),
        warnings,
    })
}

/// Named sets in file order; `None` marks a set with errors of its own, so
/// rules using it do not also report it as unknown.
#[derive(Default)]
struct Sets {
    names: Vec<String>,
    cidrs: HashMap<String, Option<Arc<[Cidr]>>>,
}

struct Context<'a> {
    origin: &'a str,
    line_starts: Vec<usize>,
    /// The first `MAX_ERRORS` errors found.
    errors: Vec<RuleError>,
    /// Every error found, listed or not.
    error_count: usize,
    first_unlisted_line: Option<u32>,
    /// File-wide totals for the limits (indexed by `Total`), and whether
    /// passing each was reported.
    totals: [usize; 3],
    reported: [bool; 3],
}

/// The file-wide counts that have limits.
#[derive(Clone, Copy)]
enum Total {
    SetReferences,
    Prefixes,
    PortRanges,
}

impl Total {
    /// The limit and what is counted, for the message.
    fn limit(self) -> (usize, &'static str) {
        match self {
            Total::SetReferences => (MAX_SET_REFERENCES, "set references"),
            Total::Prefixes => (MAX_PREFIXES, "prefixes (after expanding sets)"),
            Total::PortRanges => (MAX_PORT_RANGES, "ranges"),
        }
    }
}

impl<'a> Context<'a> {
    fn new(text: &'a str, origin: &'a str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Context {
            origin,
            line_starts,
            errors: Vec::new(),
            error_count: 0,
            first_unlisted_line: None,
            totals: [0; 3],
            reported: [false; 3],
        }
    }

    fn line_of(&self, offset: usize) -> u32 {
        let line = self.line_starts.partition_point(|&s| s <= offset);
        u32::try_from(line).unwrap_or(u32::MAX)
    }

    fn error(&mut self, span: Range<usize>, rule_id: Option<&str>, message: String) {
        let line = self.line_of(span.start);
        self.error_at_line(line, rule_id, message);
    }

    fn error_at_line(&mut self, line: u32, rule_id: Option<&str>, message: String) {
        self.error_count += 1;
        if self.errors.len() >= MAX_ERRORS {
            self.first_unlisted_line.get_or_insert(line);
            return;
        }
        self.errors.push(RuleError {
            origin: self.origin.to_owned(),
            line,
            rule_id: rule_id.map(str::to_owned),
            message,
        });
    }

    /// Adds `n` to a file-wide total and reports, once, the field that
    /// passes its limit.
    fn count(
        &mut self,
        which: Total,
        n: usize,
        span: Range<usize>,
        rule_id: Option<&str>,
        key: &str,
    ) {
        let (limit, what) = which.limit();
        let total = &mut self.totals[which as usize];
        *total = total.saturating_add(n);
        let total = *total;
        if total > limit && !self.reported[which as usize] {
            self.reported[which as usize] = true;
            let message =
                format!("{key}: {n} {what} bring the file's total to {total} (at most {limit})");
            self.error(span, rule_id, message);
        }
    }

    fn unknown_key(
        &mut self,
        key: &Spanned<String>,
        rule_id: Option<&str>,
        name: &str,
        known: &[&str],
    ) {
        let hint = match known.iter().find(|k| edit_distance(k, name) <= 2) {
            Some(k) => format!("did you mean \"{k}\"?"),
            None => format!("expected one of: {}", known.join(", ")),
        };
        self.error(
            key.span(),
            rule_id,
            format!("unknown key \"{name}\" ({hint})"),
        );
    }

    fn string<'v>(
        &mut self,
        value: &'v Spanned<RawValue>,
        rule_id: Option<&str>,
        key: &str,
    ) -> Option<&'v str> {
        match value.get_ref() {
            RawValue::String(s) => Some(s),
            other => {
                self.error(
                    value.span(),
                    rule_id,
                    format!("{key}: expected a string, found {}", other.type_name()),
                );
                None
            }
        }
    }

    fn keyword<T: Copy>(
        &mut self,
        value: &Spanned<RawValue>,
        rule_id: Option<&str>,
        key: &str,
        choices: &[(&str, T)],
    ) -> Option<T> {
        let s = self.string(value, rule_id, key)?;
        if let Some((_, v)) = choices.iter().find(|(name, _)| *name == s) {
            return Some(*v);
        }
        let names: Vec<String> = choices.iter().map(|(n, _)| format!("\"{n}\"")).collect();
        let expected = match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => names.join(""),
        };
        self.error(
            value.span(),
            rule_id,
            format!("{key}: expected {expected}, found \"{s}\""),
        );
        None
    }

    fn sets(&mut self, value: &Spanned<RawValue>) -> Sets {
        let mut sets = Sets::default();
        let RawValue::Table(entries) = value.get_ref() else {
            self.error(
                value.span(),
                None,
                format!(
                    "sets: expected a table, found {}",
                    value.get_ref().type_name()
                ),
            );
            return sets;
        };
        for (name, list) in entries {
            let name_str = name.get_ref();
            let context = format!("set \"{name_str}\"");
            let before = self.error_count;
            if !name_str
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                || name_str.is_empty()
            {
                self.error(
                    name.span(),
                    None,
                    format!("{context}: a set name uses only letters, digits, '_' and '-'"),
                );
            }
            let items = self.one_or_list(list, None, &context);
            if items.len() > MAX_SET_PREFIXES {
                let message = format!(
                    "{context}: {} prefixes (at most {MAX_SET_PREFIXES} in one set)",
                    items.len()
                );
                self.error(name.span(), None, message);
                sets.names.push(name_str.clone());
                sets.cidrs.insert(name_str.clone(), None);
                continue;
            }
            let mut cidrs = Vec::new();
            for item in items {
                let Some(text) = self.string(item, None, &context) else {
                    continue;
                };
                if text.starts_with('$') {
                    self.error(
                        item.span(),
                        None,
                        format!("{context}: sets cannot refer to other sets (\"{text}\")"),
                    );
                } else if text == "any" {
                    self.error(
                        item.span(),
                        None,
                        format!("{context}: \"any\" cannot be part of a set"),
                    );
                } else {
                    match parse_cidr(text) {
                        Ok(c) => cidrs.push(c),
                        Err(e) => self.error(
                            item.span(),
                            None,
                            format!("{context}: bad CIDR \"{text}\": {e}"),
                        ),
                    }
                }
            }
            let ok = self.error_count == before;
            sets.names.push(name_str.clone());
            sets.cidrs
                .insert(name_str.clone(), ok.then(|| Arc::from(cidrs)));
        }
        sets
    }

    /// A single value or a non-empty array of values.
    fn one_or_list<'v>(
        &mut self,
        value: &'v Spanned<RawValue>,
        rule_id: Option<&str>,
        key: &str,
    ) -> Vec<&'v Spanned<RawValue>> {
        match value.get_ref() {
            RawValue::Array(items) if items.is_empty() => {
                self.error(
                    value.span(),
                    rule_id,
                    format!("{key}: empty list matches nothing"),
                );
                Vec::new()
            }
            RawValue::Array(items) => items.iter().collect(),
            _ => vec![value],
        }
    }

    fn rule(
        &mut self,
        item: &Spanned<RawValue>,
        sets: &Sets,
        first_line: &mut HashMap<String, u32>,
    ) -> Option<Rule> {
        let line = self.line_of(item.span().start);
        let RawValue::Table(entries) = item.get_ref() else {
            self.error(
                item.span(),
                None,
                format!(
                    "rule: expected a table, found {}",
                    item.get_ref().type_name()
                ),
            );
            return None;
        };
        let before = self.error_count;
        let find = |name: &str| {
            entries
                .iter()
                .find(|(k, _)| k.get_ref() == name)
                .map(|(_, v)| v)
        };

        let id = match find("id") {
            None => {
                self.error_at_line(line, None, "missing id".into());
                None
            }
            Some(v) => match self.string(v, None, "id") {
                Some(s) if s.trim().is_empty() => {
                    self.error(v.span(), None, "id is empty".into());
                    None
                }
                Some(s) if s.len() > MAX_ID_BYTES => {
                    let message = format!(
                        "id: {} bytes (at most {MAX_ID_BYTES}: ids label metrics and must stay distinct there)",
                        s.len()
                    );
                    self.error(v.span(), Some(s), message);
                    None
                }
                Some(s) if s.chars().any(char::is_control) => {
                    self.error(
                        v.span(),
                        None,
                        format!("id {s:?} contains control characters"),
                    );
                    None
                }
                Some(s) => {
                    let id_line = self.line_of(v.span().start);
                    if let Some(first) = first_line.get(s) {
                        self.error(
                            v.span(),
                            Some(s),
                            format!("duplicate id (first used at line {first})"),
                        );
                    } else {
                        first_line.insert(s.to_owned(), id_line);
                    }
                    Some(s.to_owned())
                }
                None => None,
            },
        };
        let rid = id.as_deref();

        for (key, _) in entries {
            if !RULE_KEYS.contains(&key.get_ref().as_str()) {
                self.unknown_key(key, rid, key.get_ref(), RULE_KEYS);
            }
        }

        let action_choices = [
            ("pass", RuleAction::Pass),
            ("drop", RuleAction::Drop),
            ("reject", RuleAction::Reject),
        ];
        let action = match find("action") {
            Some(v) => self.keyword(v, rid, "action", &action_choices),
            None => {
                self.error_at_line(
                    line,
                    rid,
                    "missing action (\"pass\", \"drop\" or \"reject\")".into(),
                );
                None
            }
        };

        let protocol = match find("protocol") {
            Some(v) => self.protocol(v, rid),
            None => Some(None),
        };

        let src = find("src").map_or(Some(AddrMatch::Any), |v| {
            self.addresses(v, rid, "src", sets)
        });
        let dst = find("dst").map_or(Some(AddrMatch::Any), |v| {
            self.addresses(v, rid, "dst", sets)
        });

        let mut src_port = None;
        let mut dst_port = None;
        let mut icmp_type = None;
        let mut icmp_code = None;
        for (key, slot, max) in [
            ("src_port", &mut src_port, 65535),
            ("dst_port", &mut dst_port, 65535),
            ("icmp_type", &mut icmp_type, 255),
            ("icmp_code", &mut icmp_code, 255),
        ] {
            if let Some(v) = find(key) {
                *slot = Some(self.ranges(v, rid, key, max));
            }
        }

        // Cross-field checks, only when the fields themselves are valid.
        if let Some(proto) = protocol {
            let is_port_proto = matches!(proto, Some(protocol::TCP) | Some(protocol::UDP));
            let is_icmp_proto = matches!(proto, Some(protocol::ICMP) | Some(protocol::ICMPV6));
            for key in ["src_port", "dst_port"] {
                if let (Some(v), false) = (find(key), is_port_proto) {
                    let p = protocol_name(proto);
                    self.error(
                        v.span(),
                        rid,
                        format!(
                            "{key}: protocol {p} has no ports (ports need protocol tcp or udp)"
                        ),
                    );
                }
            }
            if let (Some(v), false) = (find("icmp_type"), is_icmp_proto) {
                let p = protocol_name(proto);
                let msg = format!("icmp_type: protocol {p} has no ICMP types (icmp_type needs protocol icmp or icmpv6)");
                self.error(v.span(), rid, msg);
            }
            if let (Some(v), None) = (find("icmp_code"), find("icmp_type")) {
                self.error(v.span(), rid, "icmp_code: needs icmp_type as well".into());
            }
        }
        if let (Some(Some(proto)), Some(src), Some(dst)) = (protocol, &src, &dst) {
            let span = find("dst")
                .or(find("src"))
                .map_or_else(|| item.span(), |v| v.span());
            let common: Vec<IpVersion> = [IpVersion::V4, IpVersion::V6]
                .into_iter()
                .filter(|&v| src.has_family(v) && dst.has_family(v))
                .collect();
            if common.is_empty() {
                let msg = format!(
                    "src is {} but dst is {}: the rule can never match",
                    family_name(src),
                    family_name(dst)
                );
                self.error(span, rid, msg);
            } else if proto == protocol::ICMP && !common.contains(&IpVersion::V4) {
                self.error(
                    span,
                    rid,
                    "protocol icmp is IPv4 only, but the addresses are IPv6 (use icmpv6)".into(),
                );
            } else if proto == protocol::ICMPV6 && !common.contains(&IpVersion::V6) {
                self.error(
                    span,
                    rid,
                    "protocol icmpv6 is IPv6 only, but the addresses are IPv4 (use icmp)".into(),
                );
            }
        } else if let (Some(src), Some(dst)) = (&src, &dst) {
            if ![IpVersion::V4, IpVersion::V6]
                .into_iter()
                .any(|v| src.has_family(v) && dst.has_family(v))
            {
                let span = find("dst").map_or_else(|| item.span(), |v| v.span());
                let msg = format!(
                    "src is {} but dst is {}: the rule can never match",
                    family_name(src),
                    family_name(dst)
                );
                self.error(span, rid, msg);
            }
        }

        let endpoints = match find("endpoint") {
            None => Vec::new(),
            Some(v) => {
                let mut ids = Vec::new();
                for e in self.one_or_list(v, rid, "endpoint") {
                    let Some(text) = self.string(e, rid, "endpoint") else {
                        continue;
                    };
                    match parse_endpoint_id(text) {
                        Some(id) => ids.push(id),
                        None => self.error(
                            e.span(),
                            rid,
                            format!("endpoint: bad endpoint id \"{text}\" (expected vpce-/eni- and 17 hex digits starting with 0, or 1-16 hex digits)"),
                        ),
                    }
                }
                ids
            }
        };

        if self.error_count != before {
            return None;
        }
        Some(Rule {
            id: id?,
            line,
            action: action?,
            protocol: protocol?,
            src: src?,
            dst: dst?,
            src_port: src_port.flatten(),
            dst_port: dst_port.flatten(),
            icmp_type: icmp_type.flatten(),
            icmp_code: icmp_code.flatten(),
            endpoints,
        })
    }

    /// `Some(None)` is "any"; `None` an error.
    fn protocol(&mut self, value: &Spanned<RawValue>, rid: Option<&str>) -> Option<Option<u8>> {
        let number = match value.get_ref() {
            RawValue::String(s) => match s.as_str() {
                "any" => return Some(None),
                "tcp" => return Some(Some(protocol::TCP)),
                "udp" => return Some(Some(protocol::UDP)),
                "icmp" => return Some(Some(protocol::ICMP)),
                "icmpv6" => return Some(Some(protocol::ICMPV6)),
                s => match s.parse::<i64>() {
                    Ok(n) => n,
                    Err(_) => {
                        let msg = format!(
                            "protocol: unknown protocol \"{s}\" (expected tcp, udp, icmp, icmpv6, any or a number 0-255)"
                        );
                        self.error(value.span(), rid, msg);
                        return None;
                    }
                },
            },
            RawValue::Integer(n) => *n,
            other => {
                let msg = format!(
                    "protocol: expected a name or a number, found {}",
                    other.type_name()
                );
                self.error(value.span(), rid, msg);
                return None;
            }
        };
        match u8::try_from(number) {
            Ok(n) => Some(Some(n)),
            Err(_) => {
                self.error(
                    value.span(),
                    rid,
                    format!("protocol: {number} is out of range 0-255"),
                );
                None
            }
        }
    }

    fn addresses(
        &mut self,
        value: &Spanned<RawValue>,
        rid: Option<&str>,
        key: &str,
        sets: &Sets,
    ) -> Option<AddrMatch> {
        if let RawValue::String(s) = value.get_ref() {
            if s == "any" {
                return Some(AddrMatch::Any);
            }
        }
        let before = self.error_count;
        let mut cidrs = Vec::new();
        let mut list = CidrList::default();
        let mut references = 0;
        for item in self.one_or_list(value, rid, key) {
            let Some(text) = self.string(item, rid, key) else {
                continue;
            };
            if text == "any" {
                self.error(
                    item.span(),
                    rid,
                    format!("{key}: \"any\" cannot be part of a list"),
                );
            } else if let Some(name) = text.strip_prefix('$') {
                references += 1;
                match sets.cidrs.get(name) {
                    Some(Some(members)) => list.push_shared(Arc::clone(members)),
                    Some(None) => {} // the set's own errors are reported already
                    None => {
                        let defined = match sets.names.len() {
                            0 => "no sets defined".to_owned(),
                            n if n > MAX_NAMES_IN_HINT => format!(
                                "sets defined: {} and {} more",
                                sets.names[..MAX_NAMES_IN_HINT].join(", "),
                                n - MAX_NAMES_IN_HINT
                            ),
                            _ => format!("sets defined: {}", sets.names.join(", ")),
                        };
                        self.error(
                            item.span(),
                            rid,
                            format!("{key}: unknown set \"{text}\" ({defined})"),
                        );
                    }
                }
            } else {
                match parse_cidr(text) {
                    Ok(c) => cidrs.push(c),
                    Err(e) => {
                        self.error(item.span(), rid, format!("{key}: bad CIDR \"{text}\": {e}"))
                    }
                }
            }
        }
        list.push_shared(cidrs.into());
        if references > 0 {
            self.count(Total::SetReferences, references, value.span(), rid, key);
        }
        self.count(Total::Prefixes, list.len(), value.span(), rid, key);
        (self.error_count == before && !list.is_empty()).then_some(AddrMatch::Cidrs(list))
    }

    /// Numbers, `"n"` or `"lo-hi"` strings, or a list of them; ports start at 1.
    fn ranges(
        &mut self,
        value: &Spanned<RawValue>,
        rid: Option<&str>,
        key: &str,
        max: u16,
    ) -> Option<Vec<PortRange>> {
        let min: i64 = if max == 65535 { 1 } else { 0 };
        let what = if max == 65535 { "port" } else { "value" };
        let before = self.error_count;
        let mut out = Vec::new();
        for item in self.one_or_list(value, rid, key) {
            let bounds = match item.get_ref() {
                RawValue::Integer(n) => Some((*n, *n)),
                RawValue::String(s) => {
                    let parsed = match s.split_once('-') {
                        Some((a, b)) => a
                            .trim()
                            .parse::<i64>()
                            .ok()
                            .zip(b.trim().parse::<i64>().ok()),
                        None => s.trim().parse::<i64>().ok().map(|n| (n, n)),
                    };
                    if parsed.is_none() {
                        self.error(
                            item.span(),
                            rid,
                            format!(
                                "{key}: bad {what} \"{s}\" (expected a number or \"low-high\")"
                            ),
                        );
                    }
                    parsed
                }
                other => {
                    let msg = format!(
                        "{key}: expected a number or \"low-high\", found {}",
                        other.type_name()
                    );
                    self.error(item.span(), rid, msg);
                    None
                }
            };
            let Some((lo, hi)) = bounds else { continue };
            let mut bad = false;
            for n in [lo, hi] {
                if n < min || n > i64::from(max) {
                    let msg = if n == 0 && min == 1 {
                        format!("{key}: port 0 is not a valid port (use 1-65535)")
                    } else {
                        format!("{key}: {what} {n} is out of range {min}-{max}")
                    };
                    self.error(item.span(), rid, msg);
                    bad = true;
                    break;
                }
            }
            if bad {
                continue;
            }
            if lo > hi {
                self.error(
                    item.span(),
                    rid,
                    format!("{key}: reversed range \"{lo}-{hi}\" (start must not exceed end)"),
                );
                continue;
            }
            // Both bounds were checked against `max`, a u16.
            out.push(PortRange {
                lo: lo as u16,
                hi: hi as u16,
            });
        }
        self.count(Total::PortRanges, out.len(), value.span(), rid, key);
        (self.error_count == before && !out.is_empty()).then_some(out)
    }
}

fn protocol_name(p: Option<u8>) -> String {
    match p {
        None => "any".into(),
        Some(protocol::TCP) => "tcp".into(),
        Some(protocol::UDP) => "udp".into(),
        Some(protocol::ICMP) => "icmp".into(),
        Some(protocol::ICMPV6) => "icmpv6".into(),
        Some(n) => n.to_string(),
    }
}

fn family_name(a: &AddrMatch) -> &'static str {
    match (a.has_family(IpVersion::V4), a.has_family(IpVersion::V6)) {
        (true, false) => "IPv4 only",
        (false, true) => "IPv6 only",
        _ => "IPv4 and IPv6",
    }
}

/// `addr` or `addr/len`, IPv4 or IPv6, host bits zero.
pub fn parse_cidr(text: &str) -> Result<Cidr, String> {
    let (addr_text, len_text) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (text, None),
    };
    let (version, addr, width) = if let Ok(a) = addr_text.parse::<Ipv4Addr>() {
        (IpVersion::V4, ipv4_mapped(a.octets()), 32u8)
    } else if let Ok(a) = addr_text.parse::<Ipv6Addr>() {
        (IpVersion::V6, u128::from(a), 128u8)
    } else {
        return Err(format!("\"{addr_text}\" is not an IPv4 or IPv6 address"));
    };
    let prefix_len = match len_text {
        None => width,
        Some(l) => match l.parse::<u8>() {
            Ok(n) if n <= width => n,
            Ok(n) => return Err(format!("prefix length {n} exceeds {width}")),
            Err(_) => return Err(format!("prefix length \"{l}\" is not a number 0-{width}")),
        },
    };
    let network = Cidr {
        version,
        addr: addr & !Cidr::host_mask(version, prefix_len),
        prefix_len,
    };
    if network.addr != addr {
        return Err(format!("host bits set (did you mean \"{network}\"?)"));
    }
    Ok(network)
}

/// Levenshtein distance, for "did you mean" hints on misspelt keys.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
