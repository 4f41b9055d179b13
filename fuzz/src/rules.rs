//! Rule-file text through parse and compile.
//!
//! Input: the text (invalid UTF-8 replaced). Checked: parsing gives
//! errors (which display) or a rule set within `MAX_RULES`; compiling
//! within a memory budget gives `TooLarge` or a classifier; the
//! classifier agrees with a first-match linear scan of the parsed rules
//! on packets at the edges of every rule's addresses, ports and ICMP
//! types (and one past them). Time is bounded by the fuzzer's timeout: an
//! input that trips it is reported as a hang.

use tollgate_rules::{AddrMatch, Classifier, Match, PortRange, Rule, RuleSet, MAX_RULES};
use tollgate_wire::ipv4::protocol as proto;
use tollgate_wire::summary::{ipv4_mapped, Fragment, InnerSummary, IpVersion, L4Summary};

/// The classifier's memory budget here: well below the dataplane's, so
/// that a run never needs more than the fuzzer's memory limit.
const MEMORY_LIMIT: usize = 64 << 20;
/// Rules probed per input (probing is quadratic in rules).
const PROBED_RULES: usize = 64;

pub fn run(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let parsed = match tollgate_rules::parse(&text, "fuzz.toml") {
        Ok(parsed) => parsed,
        Err(errors) => {
            let shown = errors.to_string();
            assert!(!shown.is_empty(), "a rejected file names its errors");
            return;
        }
    };
    let rules = &parsed.rules;
    assert!(rules.len() <= MAX_RULES, "{} rules accepted", rules.len());
    assert_eq!(rules.rule_ids().len(), rules.len());
    let Ok(classifier) = Classifier::compile_within(rules, MEMORY_LIMIT) else {
        return;
    };
    for (endpoint, pkt) in probes(rules) {
        assert_eq!(
            classifier.classify(endpoint, &pkt),
            linear(rules, endpoint, &pkt),
            "classifier and linear scan differ on endpoint {endpoint:#x}, {pkt:?}"
        );
    }
}

/// The first rule that matches, else the default: the semantics the
/// classifier compiles.
pub fn linear(rules: &RuleSet, endpoint: u64, pkt: &InnerSummary) -> Match {
    for (i, r) in rules.rules().iter().enumerate() {
        if matches(r, endpoint, pkt) {
            return Match {
                rule: Some(i as u32),
                action: r.action,
            };
        }
    }
    Match {
        rule: None,
        action: rules.default_action(),
    }
}

fn matches(r: &Rule, endpoint: u64, pkt: &InnerSummary) -> bool {
    if !r.endpoints.is_empty() && !r.endpoints.contains(&endpoint) {
        return false;
    }
    if r.protocol.is_some_and(|p| p != pkt.protocol) {
        return false;
    }
    if matches!(
        (r.protocol, pkt.version),
        (Some(proto::ICMP), IpVersion::V6) | (Some(proto::ICMPV6), IpVersion::V4)
    ) {
        return false;
    }
    let addr_ok = |m: &AddrMatch, addr: u128| match m {
        AddrMatch::Any => true,
        AddrMatch::Cidrs(c) => c
            .iter()
            .any(|c| c.version == pkt.version && c.contains(addr)),
    };
    if !addr_ok(&r.src, pkt.src) || !addr_ok(&r.dst, pkt.dst) {
        return false;
    }
    let later = pkt.fragment == Fragment::Later;
    let ports = match pkt.l4 {
        L4Summary::Tcp {
            src_port, dst_port, ..
        }
        | L4Summary::Udp { src_port, dst_port }
            if !later =>
        {
            Some((src_port, dst_port))
        }
        _ => None,
    };
    let icmp = match pkt.l4 {
        _ if later => None,
        L4Summary::IcmpEcho { request, .. } => Some(match (pkt.version, request) {
            (IpVersion::V4, true) => (8, 0),
            (IpVersion::V4, false) => (0, 0),
            (IpVersion::V6, true) => (128, 0),
            (IpVersion::V6, false) => (129, 0),
        }),
        L4Summary::IcmpError {
            icmp_type, code, ..
        }
        | L4Summary::IcmpOther { icmp_type, code } => Some((u16::from(icmp_type), u16::from(code))),
        _ => None,
    };
    let check = |ranges: &Option<Vec<PortRange>>, value: Option<u16>| match ranges {
        None => true,
        Some(r) => value.is_some_and(|v| r.iter().any(|r| r.contains(v))),
    };
    check(&r.src_port, ports.map(|p| p.0))
        && check(&r.dst_port, ports.map(|p| p.1))
        && check(&r.icmp_type, icmp.map(|i| i.0))
        && check(&r.icmp_code, icmp.map(|i| i.1))
}

/// Values at the edges of a rule's ranges, and one past each edge.
fn edges(ranges: &Option<Vec<PortRange>>, any: u16) -> Vec<u16> {
    match ranges {
        None => vec![any],
        Some(r) => r
            .iter()
            .take(2)
            .flat_map(|r| [r.lo, r.hi, r.lo.wrapping_sub(1), r.hi.wrapping_add(1)])
            .collect(),
    }
}

fn addr_edges(m: &AddrMatch, version: IpVersion) -> Vec<u128> {
    let any = match version {
        IpVersion::V4 => ipv4_mapped([192, 0, 2, 1]),
        IpVersion::V6 => 0x2001_0db8_0000_0000_0000_0000_0000_0001,
    };
    match m {
        AddrMatch::Any => vec![any],
        AddrMatch::Cidrs(c) => {
            let mut out: Vec<u128> = c
                .iter()
                .filter(|c| c.version == version)
                .take(2)
                .flat_map(|c| {
                    let (lo, hi) = c.range();
                    [lo, hi, lo.wrapping_sub(1), hi.wrapping_add(1)]
                })
                .collect();
            out.push(any);
            // IPv4 addresses are IPv4-mapped: one past an edge may leave
            // that space, where no summary of an IPv4 packet lies.
            out.retain(|&a| version == IpVersion::V6 || a >> 32 == 0xffff);
            out
        }
    }
}

fn summary(
    version: IpVersion,
    (src, dst): (u128, u128),
    protocol: u8,
    l4: L4Summary,
) -> InnerSummary {
    InnerSummary {
        version,
        src,
        dst,
        protocol,
        fragment: Fragment::None,
        l4,
        l4_offset: 20,
        total_len: 40,
    }
}

/// Packets around each of the first rules, for each endpoint it names.
fn probes(rules: &RuleSet) -> Vec<(u64, InnerSummary)> {
    let mut out = Vec::new();
    for r in rules.rules().iter().take(PROBED_RULES) {
        let endpoint = r.endpoints.first().copied().unwrap_or(7);
        for version in [IpVersion::V4, IpVersion::V6] {
            if !r.applies_to(version) {
                continue;
            }
            let srcs = addr_edges(&r.src, version);
            let dsts = addr_edges(&r.dst, version);
            let protocol = r.protocol.unwrap_or(proto::TCP);
            let mut l4s = Vec::new();
            match protocol {
                proto::TCP | proto::UDP => {
                    for sp in edges(&r.src_port, 40000) {
                        for dp in edges(&r.dst_port, 443) {
                            l4s.push(if protocol == proto::TCP {
                                L4Summary::Tcp {
                                    src_port: sp,
                                    dst_port: dp,
                                    flags: 0x02,
                                    seq: 1,
                                    ack: 0,
                                    window: 1024,
                                    window_scale: None,
                                    payload_len: 0,
                                }
                            } else {
                                L4Summary::Udp {
                                    src_port: sp,
                                    dst_port: dp,
                                }
                            });
                        }
                    }
                }
                proto::ICMP | proto::ICMPV6 => {
                    for t in edges(&r.icmp_type, 3) {
                        for c in edges(&r.icmp_code, 0) {
                            let (Ok(t), Ok(c)) = (u8::try_from(t), u8::try_from(c)) else {
                                continue;
                            };
                            l4s.push(L4Summary::IcmpOther {
                                icmp_type: t,
                                code: c,
                            });
                        }
                    }
                }
                _ => l4s.push(L4Summary::Other),
            }
            for (i, &src) in srcs.iter().enumerate() {
                for (j, &dst) in dsts.iter().enumerate() {
                    // Every address pair with the first L4, every L4 with
                    // the first pair: linear, not a cross product.
                    let l4_count = if i == 0 && j == 0 { l4s.len() } else { 1 };
                    for &l4 in l4s.iter().take(l4_count) {
                        out.push((endpoint, summary(version, (src, dst), protocol, l4)));
                    }
                }
            }
            let mut later = summary(version, (srcs[0], dsts[0]), protocol, L4Summary::Other);
            later.fragment = Fragment::Later;
            out.push((endpoint, later));
            out.push((
                endpoint.wrapping_add(1),
                summary(version, (srcs[0], dsts[0]), protocol, l4s[0]),
            ));
        }
    }
    out
}
