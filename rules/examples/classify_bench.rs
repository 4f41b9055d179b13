//! Classifier cost for 10, 1k and 10k random rules, against a linear scan.
//!
//! `cargo run --release -p tollgate-rules --example classify_bench`

use std::hint::black_box;
use std::time::Instant;
use tollgate_rules::{
    parse, AddrMatch, Cidr, Classifier, OnRuleChange, PortRange, Rule, RuleAction, RuleSet,
};
use tollgate_wire::summary::{ipv4_mapped, Fragment, InnerSummary, IpVersion, L4Summary};

/// xorshift64*: enough randomness for a benchmark, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn random_cidr(rng: &mut Rng, v6: bool) -> Cidr {
    if v6 {
        let len = 32 + rng.below(97) as u8;
        let addr = (0x2001_0db8u128 << 96) | (u128::from(rng.next()) << 32);
        let mask = !Cidr::host_mask(IpVersion::V6, len);
        Cidr {
            version: IpVersion::V6,
            addr: addr & mask,
            prefix_len: len,
        }
    } else {
        let len = 16 + rng.below(17) as u8;
        let addr = ipv4_mapped([10, rng.below(4) as u8, rng.next() as u8, rng.next() as u8]);
        Cidr {
            version: IpVersion::V4,
            addr: addr & !Cidr::host_mask(IpVersion::V4, len),
            prefix_len: len,
        }
    }
}

fn random_rule(rng: &mut Rng, i: usize) -> Rule {
    let v6 = rng.chance(20);
    let mut rule = Rule::any(
        format!("r{i}"),
        if rng.chance(50) {
            RuleAction::Pass
        } else {
            RuleAction::Drop
        },
    );
    // Every rule is narrow (a destination prefix of /16 or longer, mostly a
    // port), so a packet's first match lies anywhere in the list.
    rule.protocol = match rng.below(10) {
        0 => None,
        1..=7 => Some(6),
        _ => Some(17),
    };
    if rng.chance(30) {
        rule.src = AddrMatch::Cidrs(
            (0..1 + rng.below(3))
                .map(|_| random_cidr(rng, v6))
                .collect(),
        );
    }
    {
        rule.dst = AddrMatch::Cidrs(
            (0..1 + rng.below(2))
                .map(|_| random_cidr(rng, v6))
                .collect(),
        );
    }
    if rule.protocol.is_some() && rng.chance(80) {
        let lo = 1 + rng.below(65535) as u16;
        let hi = if rng.chance(70) {
            lo
        } else {
            lo.saturating_add(rng.below(2000) as u16)
        };
        rule.dst_port = Some(vec![PortRange { lo, hi }]);
    }
    if rng.chance(20) {
        rule.endpoints = vec![rng.below(8)];
    }
    rule
}

/// Packets aimed at random rules' destinations, so lookups end at all depths.
fn random_packet(rng: &mut Rng, rules: &[Rule]) -> (u64, InnerSummary) {
    let rule = &rules[rng.below(rules.len() as u64) as usize];
    let (version, dst) = match &rule.dst {
        AddrMatch::Cidrs(c) => {
            let c = *c.iter().next().expect("non-empty");
            let (lo, hi) = c.range();
            (
                c.version,
                lo + u128::from(rng.next()) % (hi - lo).saturating_add(1).max(1),
            )
        }
        AddrMatch::Any => (IpVersion::V4, ipv4_mapped([10, 0, 0, 1])),
    };
    let src = match version {
        IpVersion::V4 => ipv4_mapped([10, rng.below(4) as u8, rng.next() as u8, rng.next() as u8]),
        IpVersion::V6 => (0x2001_0db8u128 << 96) | u128::from(rng.next()),
    };
    let dst_port = match &rule.dst_port {
        Some(p) if rng.chance(80) => p[0].lo,
        _ => rng.next() as u16,
    };
    let l4 = L4Summary::Tcp {
        src_port: rng.next() as u16,
        dst_port,
        flags: 2,
        seq: 0,
        ack: 0,
        window: 0,
        payload_len: 0,
        window_scale: None,
    };
    let pkt = InnerSummary {
        version,
        src,
        dst,
        protocol: 6,
        fragment: Fragment::None,
        l4,
        l4_offset: 20,
        total_len: 40,
    };
    (rng.below(8), pkt)
}

/// The straightforward evaluator: try each rule in order.
fn linear(rules: &RuleSet, endpoint: u64, pkt: &InnerSummary) -> Option<usize> {
    let addr_ok = |a: &AddrMatch, addr: u128| match a {
        AddrMatch::Any => true,
        AddrMatch::Cidrs(c) => c
            .iter()
            .any(|c| c.version == pkt.version && c.contains(addr)),
    };
    let L4Summary::Tcp {
        src_port, dst_port, ..
    } = pkt.l4
    else {
        return None;
    };
    let port_ok = |p: &Option<Vec<PortRange>>, v: u16| {
        p.as_ref().is_none_or(|p| p.iter().any(|r| r.contains(v)))
    };
    rules.rules().iter().position(|r| {
        (r.endpoints.is_empty() || r.endpoints.contains(&endpoint))
            && (r.protocol.is_none() || r.protocol == Some(pkt.protocol))
            && r.applies_to(pkt.version)
            && addr_ok(&r.src, pkt.src)
            && addr_ok(&r.dst, pkt.dst)
            && port_ok(&r.src_port, src_port)
            && port_ok(&r.dst_port, dst_port)
    })
}

fn render(rules: &RuleSet) -> String {
    let mut out = String::from("default_action = \"drop\"\n");
    let list = |a: &AddrMatch| match a {
        AddrMatch::Any => "\"any\"".to_owned(),
        AddrMatch::Cidrs(c) => format!(
            "[{}]",
            c.iter()
                .map(|c| format!("\"{c}\""))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    for r in rules.rules() {
        out += &format!("[[rule]]\nid = \"{}\"\naction = \"{}\"\n", r.id, r.action);
        if let Some(p) = r.protocol {
            out += &format!("protocol = {p}\n");
        }
        out += &format!("src = {}\ndst = {}\n", list(&r.src), list(&r.dst));
        if let Some(p) = &r.dst_port {
            out += &format!("dst_port = \"{}-{}\"\n", p[0].lo, p[0].hi);
        }
        if let Some(e) = r.endpoints.first() {
            out += &format!("endpoint = \"{e:x}\"\n");
        }
    }
    out
}

fn main() {
    println!("rules  compile_ms  memory_KiB  parse_ms  classify_ns  linear_ns  default_hits");
    for n in [10usize, 1_000, 10_000] {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ n as u64);
        let rules: Vec<Rule> = (0..n).map(|i| random_rule(&mut rng, i)).collect();
        let set = RuleSet::from_rules(RuleAction::Drop, OnRuleChange::Keep, rules);

        let text = render(&set);
        let t = Instant::now();
        let parsed = parse(&text, "bench.toml").expect("bench rules parse");
        let parse_ms = t.elapsed().as_secs_f64() * 1e3;
        assert_eq!(parsed.rules.len(), n);

        let t = Instant::now();
        let classifier = Classifier::compile(&set);
        let compile_ms = t.elapsed().as_secs_f64() * 1e3;

        let packets: Vec<(u64, InnerSummary)> = (0..4096)
            .map(|_| random_packet(&mut rng, set.rules()))
            .collect();
        let mut defaults = 0;
        for (e, p) in &packets {
            let m = classifier.classify(*e, p);
            assert_eq!(
                m.rule.map(|r| r as usize),
                linear(&set, *e, p),
                "classifier and linear scan disagree"
            );
            defaults += usize::from(m.rule.is_none());
        }

        // Best of five: the machine is shared, the minimum is the least disturbed run.
        let rounds = 400_000 / packets.len();
        let mut classify_ns = f64::MAX;
        for _ in 0..5 {
            let t = Instant::now();
            for _ in 0..rounds {
                for (e, p) in &packets {
                    black_box(classifier.classify(black_box(*e), black_box(p)));
                }
            }
            classify_ns =
                classify_ns.min(t.elapsed().as_nanos() as f64 / (rounds * packets.len()) as f64);
        }

        let linear_rounds = (200_000 / n).clamp(1, rounds);
        let t = Instant::now();
        for _ in 0..linear_rounds {
            for (e, p) in &packets {
                black_box(linear(&set, black_box(*e), black_box(p)));
            }
        }
        let linear_ns = t.elapsed().as_nanos() as f64 / (linear_rounds * packets.len()) as f64;

        println!(
            "{n:>5}  {compile_ms:>10.2}  {:>10}  {parse_ms:>8.1}  {classify_ns:>11.1}  {linear_ns:>9.1}  {defaults:>5}/{}",
            classifier.memory_bytes() / 1024,
            packets.len()
        );
    }
}
