//! `Pipeline::process_burst` on arbitrary frames, against
//! `Pipeline::process_general` (the path without the express lane) frame
//! by frame on a second pipeline.
//!
//! Input: a configuration byte, then records until the input ends:
//! `ctl`, frame length (u16), tailroom (u16), the frame's bytes.
//! - configuration: bits 0-1 workers (1; 2 as worker 0; 2 as worker 1),
//!   bit 2 frames arrive steered, bits 3-4 the rule set
//!   ([`RULE_SETS`]), bit 5 mid-stream pickup off; then one byte that
//!   picks the flow table's hash seed (fixed per input: reproducible runs).
//! - `ctl`: bit 0 repair the outer IPv4 checksum, bit 1 start a new burst
//!   here, bits 2-7 time advance before the new burst (x 250 ms).
//!
//! Checked: the two pipelines give the same actions, bytes (tailroom
//! included) and counters; a transmitted length fits the buffer; a frame
//! not transmitted is left as it came; a steer names another worker;
//! each drop reason's counter equals the drops returned with it.

use std::sync::{Arc, OnceLock};

use tollgate_firewall::{FirewallConfig, HashKey, OwnerHasher};
use tollgate_pipeline::{Disposition, Pipeline, PipelineConfig, Prefix4, RuleSnapshot};
use tollgate_shm::{Counter, EndpointCount, WorkerStats};

use crate::frames::{APPLIANCE_IP, APPLIANCE_MAC};
use crate::input::{repair_outer_checksum, Input};

/// Rule sets the configuration byte chooses from (`None`: no rule set
/// loaded yet).
pub const RULE_SETS: [Option<&str>; 4] =
    [Some(FIREWALL_RULES), Some(PASS_ALL), None, Some(REJECT_ALL)];

const PASS_ALL: &str = r#"default_action = "pass""#;
const REJECT_ALL: &str = r#"
default_action = "drop"
[[rule]]
id = "all"
action = "reject"
"#;

/// Drops, passes and rejects (TCP RST, ICMP unreachable for UDP, other
/// protocols and ICMPv6), both families.
const FIREWALL_RULES: &str = r#"
default_action = "drop"

[[rule]]
id = "drop-blocked"
action = "drop"
src = "203.0.113.0/24"

[[rule]]
id = "web"
action = "pass"
protocol = "tcp"
dst = ["198.51.100.0/24", "2001:db8:99::/48"]
dst_port = 443

[[rule]]
id = "telnet-reject"
action = "reject"
protocol = "tcp"
dst_port = 23

[[rule]]
id = "syslog-reject"
action = "reject"
protocol = "udp"
dst_port = 514

[[rule]]
id = "dns"
action = "pass"
protocol = "udp"
dst_port = 53

[[rule]]
id = "gre-reject"
action = "reject"
protocol = 47

[[rule]]
id = "ping-pass"
action = "pass"
protocol = "icmp"

[[rule]]
id = "ping6-reject"
action = "reject"
protocol = "icmpv6"
icmp_type = 128
"#;

/// Frames per input, and bytes per frame and tailroom: enough for jumbo
/// frames and bursts of several chunks, small enough to stay fast.
const MAX_FRAMES: usize = 48;
const MAX_FRAME: usize = 9216;
const MAX_TAILROOM: usize = 4096;
const T0: u64 = 1_000_000_000;
const POISON: u8 = 0xa5;

struct Record {
    /// The frame followed by its tailroom (poisoned).
    buf: Vec<u8>,
    len: usize,
    new_burst: bool,
    advance_ns: u64,
}

fn records(input: &mut Input<'_>) -> Vec<Record> {
    let mut out = Vec::new();
    while !input.is_empty() && out.len() < MAX_FRAMES {
        let ctl = input.u8();
        let want = usize::from(input.u16()).min(MAX_FRAME);
        let tailroom = usize::from(input.u16()).min(MAX_TAILROOM);
        let mut buf = input.take(want).to_vec();
        if ctl & 1 != 0 {
            repair_outer_checksum(&mut buf);
        }
        let len = buf.len();
        buf.resize(len + tailroom, POISON);
        out.push(Record {
            buf,
            len,
            new_burst: ctl & 2 != 0,
            advance_ns: u64::from(ctl >> 2) * 250_000_000,
        });
    }
    out
}

/// A worker's stats block, all counters zero.
fn zeroed_stats() -> Box<WorkerStats> {
    let stats = Box::<WorkerStats>::new_zeroed();
    // SAFETY: WorkerStats consists only of atomic integers (directly, in
    // arrays and in nested repr(C) structs), for which all-zero bytes are a
    // valid value.
    unsafe { stats.assume_init() }
}

/// The compiled rule sets, once per process: compiling costs more than
/// a whole input's frames.
fn snapshots() -> &'static [Option<Arc<RuleSnapshot>>; 4] {
    static SNAPSHOTS: OnceLock<[Option<Arc<RuleSnapshot>>; 4]> = OnceLock::new();
    SNAPSHOTS.get_or_init(|| {
        RULE_SETS.map(|text| {
            text.map(|t| Arc::new(RuleSnapshot::from_text(t, "fuzz.toml", 1).expect("rules parse")))
        })
    })
}

fn pipeline<'s>(
    stats: &'s WorkerStats,
    config: PipelineConfig,
    rules: &Option<Arc<RuleSnapshot>>,
) -> Pipeline<'s, RuleSnapshot> {
    let mut p = Pipeline::new(config, stats).expect("valid pipeline config");
    if let Some(s) = rules {
        let (generation, on_change) = (s.generation, s.on_rule_change);
        p.set_rules(Arc::clone(s), generation, on_change);
    }
    p
}

fn counters(stats: &WorkerStats) -> Vec<u64> {
    Counter::ALL.iter().map(|&c| stats.get(c)).collect()
}

fn endpoints(stats: &WorkerStats) -> Vec<EndpointCount> {
    let mut e: Vec<EndpointCount> = stats.endpoints().collect();
    e.sort_by_key(|e| e.endpoint_id);
    e
}

/// Counters a returned `Disposition::Drop` names (the pipeline counts each
/// such drop once, in `count_drop`).
fn is_drop_reason(c: Counter) -> bool {
    let name = c.desc().name;
    name == "tollgate_dropped_packets_total" || c == Counter::PuntRateLimited
}

pub fn run(data: &[u8]) {
    check(data);
}

/// Runs and checks the input; returns the actions (for the tests).
pub fn check(data: &[u8]) -> Vec<Disposition> {
    let mut input = Input::new(data);
    let cfg_byte = input.u8();
    let (worker, workers) = match cfg_byte & 3 {
        0 | 3 => (0, 1),
        1 => (0, 2),
        _ => (1, 2),
    };
    let steered = cfg_byte & 4 != 0;
    let rules = &snapshots()[usize::from(cfg_byte >> 3) & 3];
    let hash_seed = u64::from(input.u8()).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let config = PipelineConfig {
        appliance_ip: APPLIANCE_IP,
        appliance_mac: APPLIANCE_MAC,
        gwlb_sources: vec![
            Prefix4::new([10, 254, 1, 0], 24),
            Prefix4::new([10, 254, 128, 0], 20),
        ],
        punt_sources: vec![
            Prefix4::new([10, 254, 1, 0], 24),
            Prefix4::new([10, 254, 128, 0], 20),
        ],
        worker,
        workers,
        owner_hasher: OwnerHasher::new(HashKey::fixed(0x6f77_6e65_7273)),
        punt_rate_pps: 100,
        punt_burst: 8,
        firewall: FirewallConfig {
            capacity: 64,
            mid_stream_pickup: cfg_byte & 0x20 == 0,
            hash_seed: HashKey::fixed(hash_seed),
            ..FirewallConfig::default()
        },
    };
    let mut records = records(&mut input);
    let originals: Vec<Vec<u8>> = records.iter().map(|r| r.buf.clone()).collect();

    let stats_ref = zeroed_stats();
    let mut reference = pipeline(&stats_ref, config.clone(), rules);
    let stats = zeroed_stats();
    let mut burst = pipeline(&stats, config, rules);

    let mut now = T0;
    let mut start = 0;
    let mut actions = Vec::with_capacity(records.len());
    while start < records.len() {
        now += records[start].advance_ns;
        let end = records[start + 1..]
            .iter()
            .position(|r| r.new_burst)
            .map_or(records.len(), |i| start + 1 + i);
        let group = &mut records[start..end];
        let mut want = Vec::with_capacity(group.len());
        for r in group.iter() {
            let mut buf = r.buf.clone();
            let action = reference.process_general(now, &mut buf, r.len, steered);
            want.push((action, buf));
        }
        let mut frames: Vec<(&mut [u8], usize)> = group
            .iter_mut()
            .map(|r| (r.buf.as_mut_slice(), r.len))
            .collect();
        let mut got = vec![Disposition::Punt; frames.len()];
        burst.process_burst(now, &mut frames, steered, &mut got);
        drop(frames);
        for (i, ((want_action, want_buf), (action, r))) in
            want.iter().zip(got.iter().zip(group.iter())).enumerate()
        {
            let at = start + i;
            assert_eq!(
                action, want_action,
                "frame {at}: burst and general actions differ"
            );
            assert!(
                r.buf == *want_buf,
                "frame {at}: burst and general bytes differ"
            );
        }
        actions.extend(got);
        start = end;
    }

    for (i, ((action, r), original)) in actions.iter().zip(&records).zip(&originals).enumerate() {
        match *action {
            Disposition::Transmit { len } => {
                let len = len as usize;
                assert!(
                    (14..=r.buf.len()).contains(&len),
                    "frame {i}: transmits {len} bytes from a {}-byte buffer",
                    r.buf.len()
                );
            }
            Disposition::Steer { worker: to } => {
                assert!(!steered, "frame {i}: a steered frame steered again");
                assert!(
                    (to as usize) < workers && to as usize != worker,
                    "frame {i}: steered to worker {to} of {workers} from {worker}"
                );
                assert!(r.buf == *original, "frame {i}: steered frame changed");
            }
            Disposition::Punt => assert!(r.buf == *original, "frame {i}: punted frame changed"),
            Disposition::Drop(reason) => {
                assert!(is_drop_reason(reason), "frame {i}: dropped as {reason:?}");
                assert!(
                    r.buf == *original,
                    "frame {i}: dropped frame changed ({reason:?})"
                );
            }
        }
    }
    for &c in Counter::ALL.iter().filter(|&&c| is_drop_reason(c)) {
        let returned = actions
            .iter()
            .filter(|a| **a == Disposition::Drop(c))
            .count() as u64;
        assert_eq!(stats.get(c), returned, "{c:?}: counted vs returned drops");
    }
    assert_eq!(
        counters(&stats),
        counters(&stats_ref),
        "burst and general counters differ"
    );
    let rule_hits = |s: &WorkerStats| (0..16).map(|i| s.rule_hits(i)).collect::<Vec<_>>();
    assert_eq!(rule_hits(&stats), rule_hits(&stats_ref), "rule hits differ");
    assert_eq!(
        endpoints(&stats),
        endpoints(&stats_ref),
        "endpoint counts differ"
    );
    actions
}
