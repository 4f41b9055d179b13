//! Shared by the property tests: a model of rule files that renders to TOML,
//! the plain linear reference evaluator over that model, and generators.

#![allow(dead_code)]

use proptest::prelude::*;
use std::fmt::Write;
use tollgate_rules::{Match, RuleAction};
use tollgate_wire::summary::{
    ipv4_mapped, Fragment, InnerSummary, IpVersion, L4Summary, QuotedFlow,
};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelCidr {
    pub version: IpVersion,
    /// Mapped u128 for IPv4.
    pub addr: u128,
    pub len: u8,
}

impl ModelCidr {
    fn contains(&self, version: IpVersion, addr: u128) -> bool {
        if version != self.version {
            return false;
        }
        let width = if version == IpVersion::V4 { 32 } else { 128 };
        let host = width - u32::from(self.len);
        if host == 128 {
            return true;
        }
        (addr >> host) == (self.addr >> host)
    }

    fn render(&self) -> String {
        match self.version {
            IpVersion::V4 => format!(
                "{}/{}",
                std::net::Ipv4Addr::from(self.addr as u32),
                self.len
            ),
            IpVersion::V6 => format!("{}/{}", std::net::Ipv6Addr::from(self.addr), self.len),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum AddrItem {
    Cidr(ModelCidr),
    Set(usize),
}

#[derive(Debug, Clone)]
pub struct ModelRule {
    pub action: RuleAction,
    /// None = any; `by_name` renders 6/17/1/58 as names.
    pub protocol: Option<u8>,
    pub by_name: bool,
    pub src: Option<Vec<AddrItem>>,
    pub dst: Option<Vec<AddrItem>>,
    pub src_port: Option<Vec<(u16, u16)>>,
    pub dst_port: Option<Vec<(u16, u16)>>,
    pub icmp_type: Option<Vec<(u16, u16)>>,
    pub icmp_code: Option<Vec<(u16, u16)>>,
    pub endpoints: Vec<u64>,
}

#[derive(Debug, Clone)]
pub struct ModelFile {
    pub default_action: RuleAction,
    pub sets: Vec<Vec<ModelCidr>>,
    pub rules: Vec<ModelRule>,
}

fn render_ranges(out: &mut String, key: &str, r: &[(u16, u16)]) {
    let items: Vec<String> = r
        .iter()
        .map(|&(lo, hi)| {
            if lo == hi && lo % 2 == 0 {
                lo.to_string()
            } else {
                format!("\"{lo}-{hi}\"")
            }
        })
        .collect();
    if items.len() == 1 {
        writeln!(out, "{key} = {}", items[0]).unwrap();
    } else {
        writeln!(out, "{key} = [{}]", items.join(", ")).unwrap();
    }
}

fn render_addrs(out: &mut String, key: &str, items: &[AddrItem]) {
    let s: Vec<String> = items
        .iter()
        .map(|i| match i {
            AddrItem::Cidr(c) => format!("\"{}\"", c.render()),
            AddrItem::Set(n) => format!("\"$s{n}\""),
        })
        .collect();
    if s.len() == 1 {
        writeln!(out, "{key} = {}", s[0]).unwrap();
    } else {
        writeln!(out, "{key} = [{}]", s.join(", ")).unwrap();
    }
}

fn action_name(a: RuleAction) -> &'static str {
    match a {
        RuleAction::Pass => "pass",
        RuleAction::Drop => "drop",
        RuleAction::Reject => "reject",
    }
}

impl ModelFile {
    pub fn render(&self) -> String {
        let mut out = String::new();
        writeln!(
            out,
            "default_action = \"{}\"",
            action_name(self.default_action)
        )
        .unwrap();
        if !self.sets.is_empty() {
            out.push_str("[sets]\n");
            for (i, set) in self.sets.iter().enumerate() {
                let items: Vec<String> =
                    set.iter().map(|c| format!("\"{}\"", c.render())).collect();
                writeln!(out, "s{i} = [{}]", items.join(", ")).unwrap();
            }
        }
        for (i, r) in self.rules.iter().enumerate() {
            writeln!(
                out,
                "\n[[rule]]\nid = \"r{i}\"\naction = \"{}\"",
                action_name(r.action)
            )
            .unwrap();
            match (r.protocol, r.by_name) {
                (None, _) => out.push_str("protocol = \"any\"\n"),
                (Some(6), true) => out.push_str("protocol = \"tcp\"\n"),
                (Some(17), true) => out.push_str("protocol = \"udp\"\n"),
                (Some(1), true) => out.push_str("protocol = \"icmp\"\n"),
                (Some(58), true) => out.push_str("protocol = \"icmpv6\"\n"),
                (Some(p), _) => writeln!(out, "protocol = {p}").unwrap(),
            }
            if let Some(s) = &r.src {
                render_addrs(&mut out, "src", s);
            }
            if let Some(d) = &r.dst {
                render_addrs(&mut out, "dst", d);
            }
            for (key, v) in [
                ("src_port", &r.src_port),
                ("dst_port", &r.dst_port),
                ("icmp_type", &r.icmp_type),
                ("icmp_code", &r.icmp_code),
            ] {
                if let Some(v) = v {
                    render_ranges(&mut out, key, v);
                }
            }
            match r.endpoints.len() {
                0 => {}
                1 => writeln!(out, "endpoint = \"0x{:x}\"", r.endpoints[0]).unwrap(),
                _ => {
                    let e: Vec<String> = r
                        .endpoints
                        .iter()
                        .map(|e| format!("\"vpce-0{e:016x}\""))
                        .collect();
                    writeln!(out, "endpoint = [{}]", e.join(", ")).unwrap();
                }
            }
        }
        out
    }

    fn expand(&self, items: &Option<Vec<AddrItem>>) -> Option<Vec<ModelCidr>> {
        items.as_ref().map(|items| {
            items
                .iter()
                .flat_map(|i| match i {
                    AddrItem::Cidr(c) => vec![*c],
                    AddrItem::Set(n) => self.sets[*n].clone(),
                })
                .collect()
        })
    }

    fn addr_matches(&self, items: &Option<Vec<AddrItem>>, version: IpVersion, addr: u128) -> bool {
        match self.expand(items) {
            None => true,
            Some(cidrs) => cidrs.iter().any(|c| c.contains(version, addr)),
        }
    }

    fn has_family(&self, items: &Option<Vec<AddrItem>>, v: IpVersion) -> bool {
        match self.expand(items) {
            None => true,
            Some(c) => c.iter().any(|c| c.version == v),
        }
    }

    /// Whether the parser accepts the rule; generators repair rules that fail.
    pub fn is_valid(&self, r: &ModelRule) -> bool {
        let fam = |v| self.has_family(&r.src, v) && self.has_family(&r.dst, v);
        match r.protocol {
            Some(1) => fam(IpVersion::V4),
            Some(58) => fam(IpVersion::V6),
            _ => fam(IpVersion::V4) || fam(IpVersion::V6),
        }
    }

    /// Whether the rule can match packets of version `v` at all.
    pub fn applies_to(&self, r: &ModelRule, v: IpVersion) -> bool {
        let proto_ok = !matches!(
            (r.protocol, v),
            (Some(1), IpVersion::V6) | (Some(58), IpVersion::V4)
        );
        proto_ok && self.has_family(&r.src, v) && self.has_family(&r.dst, v)
    }

    /// The linear reference: try each rule in order, straight from the model.
    pub fn reference(&self, endpoint: u64, pkt: &InnerSummary) -> Match {
        for (i, r) in self.rules.iter().enumerate() {
            if self.rule_matches(r, endpoint, pkt) {
                return Match {
                    rule: Some(i as u32),
                    action: r.action,
                };
            }
        }
        Match {
            rule: None,
            action: self.default_action,
        }
    }

    fn rule_matches(&self, r: &ModelRule, endpoint: u64, pkt: &InnerSummary) -> bool {
        if !r.endpoints.is_empty() && !r.endpoints.contains(&endpoint) {
            return false;
        }
        if r.protocol.is_some_and(|p| p != pkt.protocol) {
            return false;
        }
        match (r.protocol, pkt.version) {
            (Some(1), IpVersion::V6) | (Some(58), IpVersion::V4) => return false,
            _ => {}
        }
        if !self.addr_matches(&r.src, pkt.version, pkt.src)
            || !self.addr_matches(&r.dst, pkt.version, pkt.dst)
        {
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
            | L4Summary::IcmpOther { icmp_type, code } => {
                Some((u16::from(icmp_type), u16::from(code)))
            }
            _ => None,
        };
        let within = |v: u16, r: &[(u16, u16)]| r.iter().any(|&(lo, hi)| lo <= v && v <= hi);
        let check = |constraint: &Option<Vec<(u16, u16)>>, value: Option<u16>| match constraint {
            None => true,
            Some(r) => value.is_some_and(|v| within(v, r)),
        };
        check(&r.src_port, ports.map(|p| p.0))
            && check(&r.dst_port, ports.map(|p| p.1))
            && check(&r.icmp_type, icmp.map(|i| i.0))
            && check(&r.icmp_code, icmp.map(|i| i.1))
    }
}

// ---- generators ----

const V4_BASES: [[u8; 4]; 5] = [
    [10, 0, 0, 0],
    [10, 1, 2, 3],
    [192, 168, 1, 1],
    [0, 0, 0, 0],
    [255, 255, 255, 255],
];
const V6_BASES: [u128; 5] = [
    0x2001_0db8_0000_0000_0000_0000_0000_0000,
    0x2001_0db8_0000_0000_0000_0000_0001_0000,
    0xfd00_0000_0000_0000_0000_0000_0000_0000,
    0,
    // An IPv4-mapped address inside IPv6: must stay apart from IPv4 rules.
    0xffff_0a00_0000,
];
pub const ENDPOINTS: [u64; 4] = [1, 2, 0x0123_4567_89ab_cdef, u64::MAX];
const PORTS: [u16; 8] = [1, 22, 53, 80, 443, 1023, 1024, 65535];

fn v4_addr() -> impl Strategy<Value = u128> {
    (0..V4_BASES.len(), 0u32..=32, any::<u32>()).prop_map(|(b, bits, r)| {
        let base = u32::from_be_bytes(V4_BASES[b]);
        let mask = if bits == 32 {
            u32::MAX
        } else {
            (1u32 << bits) - 1
        };
        ipv4_mapped((base ^ (r & mask)).to_be_bytes())
    })
}

fn v6_addr() -> impl Strategy<Value = u128> {
    (0..V6_BASES.len(), 0u32..=128, any::<u128>()).prop_map(|(b, bits, r)| {
        let mask = if bits == 128 {
            u128::MAX
        } else {
            (1u128 << bits) - 1
        };
        V6_BASES[b] ^ (r & mask)
    })
}

pub fn cidr() -> impl Strategy<Value = ModelCidr> {
    prop_oneof![
        (v4_addr(), 0u8..=32).prop_map(|(a, len)| {
            let host = 32 - u32::from(len);
            let mask = if host == 32 { 0 } else { u32::MAX << host };
            ModelCidr {
                version: IpVersion::V4,
                addr: ipv4_mapped(((a as u32) & mask).to_be_bytes()),
                len,
            }
        }),
        (v6_addr(), 0u8..=128).prop_map(|(a, len)| {
            let host = 128 - u32::from(len);
            let mask = if host == 128 { 0 } else { u128::MAX << host };
            ModelCidr {
                version: IpVersion::V6,
                addr: a & mask,
                len,
            }
        }),
    ]
}

fn value16(max: u16) -> impl Strategy<Value = u16> {
    prop_oneof![
        prop::sample::select(PORTS.to_vec()).prop_map(move |p| p.min(max).max(if max == 255 {
            0
        } else {
            1
        })),
        if max == 255 {
            (0u16..=255).boxed()
        } else {
            (1u16..=65535).boxed()
        }
    ]
}

fn ranges(max: u16) -> impl Strategy<Value = Vec<(u16, u16)>> {
    prop::collection::vec(
        (value16(max), value16(max), any::<bool>()).prop_map(|(a, b, single)| {
            if single {
                (a, a)
            } else {
                (a.min(b), a.max(b))
            }
        }),
        1..4,
    )
}

fn addr_items(n_sets: usize) -> impl Strategy<Value = Option<Vec<AddrItem>>> {
    let item = if n_sets == 0 {
        cidr().prop_map(AddrItem::Cidr).boxed()
    } else {
        prop_oneof![3 => cidr().prop_map(AddrItem::Cidr), 1 => (0..n_sets).prop_map(AddrItem::Set)]
            .boxed()
    };
    prop::option::weighted(0.6, prop::collection::vec(item, 1..4))
}

fn rule(n_sets: usize) -> impl Strategy<Value = ModelRule> {
    let action = prop::sample::select(vec![RuleAction::Pass, RuleAction::Drop, RuleAction::Reject]);
    let protocol =
        prop::option::weighted(0.8, prop::sample::select(vec![6u8, 17, 1, 58, 47, 0, 255]));
    (
        action,
        protocol,
        any::<bool>(),
        addr_items(n_sets),
        addr_items(n_sets),
        prop::option::of(ranges(65535)),
        prop::option::of(ranges(65535)),
        prop::option::of(ranges(255)),
        prop::option::of(ranges(255)),
        prop::collection::vec(prop::sample::select(ENDPOINTS.to_vec()), 0..3),
    )
        .prop_map(
            |(action, protocol, by_name, src, dst, sp, dp, it, ic, mut endpoints)| {
                let ports = matches!(protocol, Some(6) | Some(17));
                let icmp = matches!(protocol, Some(1) | Some(58));
                endpoints.sort_unstable();
                endpoints.dedup();
                ModelRule {
                    action,
                    protocol,
                    by_name,
                    src,
                    dst,
                    src_port: sp.filter(|_| ports),
                    dst_port: dp.filter(|_| ports),
                    icmp_type: it.clone().filter(|_| icmp),
                    icmp_code: ic.filter(|_| icmp && it.is_some()),
                    endpoints,
                }
            },
        )
}

pub fn model_file(max_rules: usize) -> impl Strategy<Value = ModelFile> {
    (
        prop::collection::vec(prop::collection::vec(cidr(), 1..4), 0..4),
        any::<bool>(),
    )
        .prop_flat_map(move |(sets, pass)| {
            let n = sets.len();
            prop::collection::vec(rule(n), 0..max_rules).prop_map(move |rules| {
                let mut file = ModelFile {
                    default_action: if pass {
                        RuleAction::Pass
                    } else {
                        RuleAction::Drop
                    },
                    sets: sets.clone(),
                    rules: Vec::new(),
                };
                for mut r in rules {
                    if !file.is_valid(&r) {
                        // Repair a family mismatch rather than discard the case.
                        r.src = None;
                        r.dst = None;
                    }
                    file.rules.push(r);
                }
                file
            })
        })
}

pub fn packet() -> impl Strategy<Value = (u64, InnerSummary)> {
    let endpoint = prop_oneof![prop::sample::select(ENDPOINTS.to_vec()), any::<u64>()];
    let port = || prop_oneof![prop::sample::select(PORTS.to_vec()), any::<u16>()];
    let addrs = prop_oneof![
        (Just(IpVersion::V4), v4_addr(), v4_addr()),
        (Just(IpVersion::V6), v6_addr(), v6_addr()),
    ];
    (
        endpoint,
        addrs,
        0u8..8,
        port(),
        port(),
        any::<u8>(),
        any::<u8>(),
        any::<bool>(),
    )
        .prop_map(
            |(endpoint, (version, src, dst), kind, sp, dp, t, c, flag)| {
                let icmp_proto = if version == IpVersion::V4 { 1 } else { 58 };
                let quoted = QuotedFlow {
                    src: dst,
                    dst: src,
                    protocol: 6,
                    src_port: dp,
                    dst_port: sp,
                };
                let (protocol, fragment, l4) = match kind {
                    0 => (
                        6,
                        Fragment::None,
                        L4Summary::Tcp {
                            src_port: sp,
                            dst_port: dp,
                            flags: 2,
                            seq: 0,
                            ack: 0,
                            window: 0,
                            payload_len: 0,
                            window_scale: None,
                        },
                    ),
                    1 => (
                        17,
                        if flag {
                            Fragment::First
                        } else {
                            Fragment::None
                        },
                        L4Summary::Udp {
                            src_port: sp,
                            dst_port: dp,
                        },
                    ),
                    2 => (
                        icmp_proto,
                        Fragment::None,
                        L4Summary::IcmpEcho {
                            request: flag,
                            ident: sp,
                        },
                    ),
                    3 => (
                        icmp_proto,
                        Fragment::None,
                        L4Summary::IcmpError {
                            icmp_type: t % 12,
                            code: c % 5,
                            quoted,
                        },
                    ),
                    4 => (
                        icmp_proto,
                        Fragment::None,
                        L4Summary::IcmpOther {
                            icmp_type: t,
                            code: c,
                        },
                    ),
                    5 => (if flag { 6 } else { 17 }, Fragment::Later, L4Summary::Other),
                    6 => (47, Fragment::None, L4Summary::Other),
                    _ => (t, Fragment::None, L4Summary::Other),
                };
                (
                    endpoint,
                    InnerSummary {
                        version,
                        src,
                        dst,
                        protocol,
                        fragment,
                        l4,
                        l4_offset: 0,
                        total_len: 0,
                    },
                )
            },
        )
}
