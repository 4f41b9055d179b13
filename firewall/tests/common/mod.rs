//! Test helpers: packets filled directly into `InnerSummary`, a small
//! linear rule set, and a table-driven runner.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tollgate_firewall::{
    Classify, Decision, Firewall, FirewallConfig, FlowAction, FlowKey, FlowState, OnRuleChange,
    RuleMatch, Verdict,
};
use tollgate_wire::summary::{
    ipv4_mapped, ipv4_unmapped, tcp_flags, Fragment, IpVersion, L4Summary, QuotedFlow,
};
use tollgate_wire::InnerSummary;

#[allow(unused_imports)]
pub use tcp_flags::{ACK, FIN, PSH, RST, SYN};

pub const SEC: u64 = 1_000_000_000;
pub const EP: u64 = 0x0123_4567_89ab_cdef;

pub fn v4(a: u8, b: u8, c: u8, d: u8) -> u128 {
    ipv4_mapped([a, b, c, d])
}

pub fn v6(last: u16) -> u128 {
    (0x2001_0db8_u128 << 96) | u128::from(last)
}

pub type Addr = (u128, u16);

fn version_of(a: u128) -> IpVersion {
    if ipv4_unmapped(a).is_some() {
        IpVersion::V4
    } else {
        IpVersion::V6
    }
}

fn base(src: u128, dst: u128, protocol: u8, l4: L4Summary) -> InnerSummary {
    InnerSummary {
        version: version_of(src),
        src,
        dst,
        protocol,
        fragment: Fragment::None,
        l4,
        l4_offset: 20,
        total_len: 60,
    }
}

pub fn tcp(src: Addr, dst: Addr, flags: u8, seq: u32, ack: u32, payload_len: u16) -> InnerSummary {
    base(
        src.0,
        dst.0,
        6,
        L4Summary::Tcp {
            src_port: src.1,
            dst_port: dst.1,
            flags,
            seq,
            ack,
            window: 65535,
            payload_len,
            window_scale: None,
        },
    )
}

/// [`tcp`] with the window field and a SYN's window-scale option.
#[allow(clippy::too_many_arguments)]
pub fn tcp_win(
    src: Addr,
    dst: Addr,
    flags: u8,
    seq: u32,
    ack: u32,
    payload_len: u16,
    window: u16,
    scale: Option<u8>,
) -> InnerSummary {
    let mut p = tcp(src, dst, flags, seq, ack, payload_len);
    if let L4Summary::Tcp {
        window: w,
        window_scale: ws,
        ..
    } = &mut p.l4
    {
        *w = window;
        *ws = scale;
    }
    p
}

pub fn udp(src: Addr, dst: Addr) -> InnerSummary {
    base(
        src.0,
        dst.0,
        17,
        L4Summary::Udp {
            src_port: src.1,
            dst_port: dst.1,
        },
    )
}

fn icmp_proto(a: u128) -> u8 {
    match version_of(a) {
        IpVersion::V4 => 1,
        IpVersion::V6 => 58,
    }
}

pub fn echo(src: u128, dst: u128, ident: u16, request: bool) -> InnerSummary {
    base(
        src,
        dst,
        icmp_proto(src),
        L4Summary::IcmpEcho { request, ident },
    )
}

/// An ICMP(v6) error from `from` to `to` quoting the packet `quoted`.
pub fn icmp_error(from: u128, to: u128, quoted: &InnerSummary) -> InnerSummary {
    let (src_port, dst_port) = match quoted.l4 {
        L4Summary::Tcp {
            src_port, dst_port, ..
        }
        | L4Summary::Udp { src_port, dst_port } => (src_port, dst_port),
        L4Summary::IcmpEcho { ident, .. } => (ident, ident),
        _ => (0, 0),
    };
    base(
        from,
        to,
        icmp_proto(from),
        L4Summary::IcmpError {
            icmp_type: 3,
            code: 1,
            quoted: QuotedFlow {
                src: quoted.src,
                dst: quoted.dst,
                protocol: quoted.protocol,
                src_port,
                dst_port,
            },
        },
    )
}

pub fn other(src: u128, dst: u128, protocol: u8) -> InnerSummary {
    base(src, dst, protocol, L4Summary::Other)
}

pub fn later_fragment(pkt: InnerSummary) -> InnerSummary {
    InnerSummary {
        fragment: Fragment::Later,
        l4: L4Summary::Other,
        ..pkt
    }
}

/// One rule of [`TestRules`]: every field set must match.
#[derive(Debug, Clone, Copy, Default)]
pub struct TestRule {
    pub endpoint: Option<u64>,
    pub protocol: Option<u8>,
    pub src: Option<u128>,
    pub dst: Option<u128>,
    pub dst_port: Option<u16>,
    pub action: Option<FlowAction>,
}

/// A linear rule set (first match wins) that counts its evaluations.
#[derive(Debug, Default)]
pub struct TestRules {
    pub rules: Vec<TestRule>,
    pub default: Option<FlowAction>,
    pub evaluations: AtomicU64,
}

impl TestRules {
    pub fn new(rules: Vec<TestRule>, default: FlowAction) -> TestRules {
        TestRules {
            rules,
            default: Some(default),
            evaluations: AtomicU64::new(0),
        }
    }

    pub fn pass_all() -> TestRules {
        TestRules::new(vec![], FlowAction::Pass)
    }

    /// Pass TCP to `port`, drop the rest.
    pub fn tcp_port(port: u16) -> TestRules {
        TestRules::new(
            vec![TestRule {
                protocol: Some(6),
                dst_port: Some(port),
                action: Some(FlowAction::Pass),
                ..TestRule::default()
            }],
            FlowAction::Drop,
        )
    }

    pub fn evaluations(&self) -> u64 {
        self.evaluations.load(Ordering::Relaxed)
    }
}

fn dst_port_of(pkt: &InnerSummary) -> Option<u16> {
    match pkt.l4 {
        L4Summary::Tcp { dst_port, .. } | L4Summary::Udp { dst_port, .. } => Some(dst_port),
        _ => None,
    }
}

impl Classify for TestRules {
    fn classify(&self, endpoint: u64, pkt: &InnerSummary) -> RuleMatch {
        self.evaluations.fetch_add(1, Ordering::Relaxed);
        for (i, r) in self.rules.iter().enumerate() {
            let ok = r.endpoint.is_none_or(|e| e == endpoint)
                && r.protocol.is_none_or(|p| p == pkt.protocol)
                && r.src.is_none_or(|a| a == pkt.src)
                && r.dst.is_none_or(|a| a == pkt.dst)
                && r.dst_port.is_none_or(|p| Some(p) == dst_port_of(pkt));
            if ok {
                return RuleMatch {
                    rule: Some(i as u32),
                    action: r.action.unwrap_or(FlowAction::Pass),
                };
            }
        }
        RuleMatch {
            rule: None,
            action: self.default.unwrap_or(FlowAction::Drop),
        }
    }
}

pub fn firewall(config: FirewallConfig, rules: TestRules) -> Firewall<TestRules> {
    let mut fw = Firewall::new(config).expect("valid config");
    fw.set_rules(Arc::new(rules), 1, OnRuleChange::Keep);
    fw
}

pub fn small_config() -> FirewallConfig {
    FirewallConfig {
        capacity: 1024,
        ..FirewallConfig::default()
    }
}

/// The state of `pkt`'s flow (on endpoint `ep`) at `now_ns`, if live.
pub fn state_of<C: Classify>(
    fw: &Firewall<C>,
    now_ns: u64,
    ep: u64,
    pkt: &InnerSummary,
) -> Option<FlowState> {
    let (key, _) = FlowKey::of_packet(ep, pkt);
    fw.flows(now_ns).find(|f| f.key == key).map(|f| f.state)
}

/// One row step: at time `at_ms`, either send `pkt` on `ep` and expect
/// `verdict` (`Some`), or only look (`None`); then expect the flow of `pkt`
/// to be in `state` (`None`: no live flow).
#[derive(Debug, Clone, Copy)]
pub struct Step {
    pub at_ms: u64,
    pub ep: u64,
    pub pkt: InnerSummary,
    pub verdict: Option<Verdict>,
    pub state: Option<FlowState>,
}

pub fn send(at_ms: u64, pkt: InnerSummary, verdict: Verdict, state: Option<FlowState>) -> Step {
    Step {
        at_ms,
        ep: EP,
        pkt,
        verdict: Some(verdict),
        state,
    }
}

pub fn send_on(
    ep: u64,
    at_ms: u64,
    pkt: InnerSummary,
    verdict: Verdict,
    state: Option<FlowState>,
) -> Step {
    Step {
        ep,
        ..send(at_ms, pkt, verdict, state)
    }
}

pub fn look(at_ms: u64, pkt: InnerSummary, state: Option<FlowState>) -> Step {
    Step {
        at_ms,
        ep: EP,
        pkt,
        verdict: None,
        state,
    }
}

/// Run `steps` and check every expectation; returns the decisions.
pub fn run_case(
    name: &str,
    fw: &mut Firewall<TestRules>,
    t0_ns: u64,
    steps: &[Step],
) -> Vec<Decision> {
    let mut out = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        let now = t0_ns + s.at_ms * 1_000_000;
        if let Some(v) = s.verdict {
            let d = fw.process(now, s.ep, &s.pkt);
            assert_eq!(d.verdict, v, "{name}: step {i}: verdict of {:?}", s.pkt.l4);
            out.push(d);
        }
        assert_eq!(
            state_of(fw, now, s.ep, &s.pkt),
            s.state,
            "{name}: step {i}: flow state after {:?}",
            s.pkt.l4
        );
    }
    out
}
