//! Flow table figures: ns per established-flow packet at 1k, 100k and 1M
//! flows (one packet at a time, and in bursts of 32 with prefetch), and ns
//! per new-flow insert. Run with
//! `cargo run --release -p tollgate-firewall --example flow_bench`.

use std::hint::black_box;
use std::sync::Arc;

use tollgate_firewall::{Firewall, FirewallConfig, FlowAction, OnRuleChange, RuleMatch, Verdict};
use tollgate_wire::summary::{ipv4_mapped, tcp_flags, Fragment, IpVersion, L4Summary};
use tollgate_wire::InnerSummary;

const EP: u64 = 0x0123_4567_89ab_cdef;
const BURST: usize = 32;

fn pass_all(_: u64, _: &InnerSummary) -> RuleMatch {
    RuleMatch {
        rule: Some(0),
        action: FlowAction::Pass,
    }
}

type Rules = fn(u64, &InnerSummary) -> RuleMatch;

/// Packet of flow `i`: client 10.x.y.z:port -> 10.200.0.1:443, or the
/// reverse direction.
fn packet(i: u32, reply: bool, flags: u8) -> InnerSummary {
    let client = ipv4_mapped([10, (i >> 16) as u8, (i >> 8) as u8, i as u8]);
    let server = ipv4_mapped([10, 200, 0, 1]);
    let cport = 1024 + (i % 50_000) as u16;
    let (src, dst, sp, dp) = if reply {
        (server, client, 443, cport)
    } else {
        (client, server, cport, 443)
    };
    InnerSummary {
        version: IpVersion::V4,
        src,
        dst,
        protocol: 6,
        fragment: Fragment::None,
        l4: L4Summary::Tcp {
            src_port: sp,
            dst_port: dp,
            flags,
            seq: 1,
            ack: 1,
            window: 1000,
            payload_len: 100,
            window_scale: None,
        },
        l4_offset: 20,
        total_len: 160,
    }
}

/// CPU time of this thread: the machine is shared, so wall-clock time
/// would count the time other processes ran.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is constant.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// xorshift64*: a reproducible random order without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn new_firewall() -> Firewall<Rules> {
    let mut fw = Firewall::new(FirewallConfig::default()).expect("default config");
    fw.set_rules(Arc::new(pass_all as Rules), 1, OnRuleChange::Keep);
    fw
}

fn main() {
    let mut fw = new_firewall();
    println!(
        "table: capacity {} flows, {} slots, {} bytes ({:.1} bytes per flow of capacity)",
        fw.capacity(),
        fw.slots(),
        fw.memory_bytes(),
        fw.memory_bytes() as f64 / f64::from(fw.capacity())
    );

    // Inserts: SYNs of new flows into the empty 1M table, up to full; one
    // by one, then (into a fresh table) in prefetched bursts.
    let n = fw.capacity();
    let syns: Vec<InnerSummary> = (0..n).map(|i| packet(i, false, tcp_flags::SYN)).collect();
    let start = thread_cpu_ns();
    for (i, p) in syns.iter().enumerate() {
        black_box(fw.process(i as u64, EP, p));
    }
    let single = (thread_cpu_ns() - start) as f64 / f64::from(n);
    let c = fw.counters();
    let (created, refused) = (c.created, c.refused_total());
    drop(fw);
    let mut fw = new_firewall();
    let mut prepared = Vec::with_capacity(BURST);
    let start = thread_cpu_ns();
    for (b, burst) in syns.chunks(BURST).enumerate() {
        prepared.clear();
        prepared.extend(burst.iter().map(|p| fw.prepare(EP, p)));
        for p in &mut prepared {
            fw.prefetch_flow(p);
        }
        for (p, prep) in burst.iter().zip(&prepared) {
            black_box(fw.process_prepared(b as u64, EP, p, prep));
        }
    }
    let burst = (thread_cpu_ns() - start) as f64 / f64::from(n);
    assert_eq!(fw.counters().created, created);
    println!(
        "insert: {single:.1} ns per new flow one by one, {burst:.1} ns in bursts of {BURST} \
         (filling 0 -> {n}: created {created}, refused {refused})"
    );
    drop(fw);
    drop(syns);

    let lookups = 2_000_000usize;
    for flows in [1_000u32, 100_000, 1_000_000] {
        let mut fw = new_firewall();
        for i in 0..flows {
            fw.process(0, EP, &packet(i, false, tcp_flags::ACK));
        }
        assert_eq!(fw.counters().active, u64::from(flows));
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ u64::from(flows));
        let pkts: Vec<InnerSummary> = (0..lookups)
            .map(|_| {
                let r = rng.next();
                packet(
                    (r % u64::from(flows)) as u32,
                    r & (1 << 40) != 0,
                    tcp_flags::ACK,
                )
            })
            .collect();

        let start = thread_cpu_ns();
        for (i, p) in pkts.iter().enumerate() {
            let d = fw.process(1 + i as u64, EP, p);
            debug_assert_eq!(d.verdict, Verdict::Pass);
            black_box(d);
        }
        let single = (thread_cpu_ns() - start) as f64 / lookups as f64;

        let start = thread_cpu_ns();
        let mut prepared = Vec::with_capacity(BURST);
        for (b, burst) in pkts.chunks(BURST).enumerate() {
            prepared.clear();
            prepared.extend(burst.iter().map(|p| fw.prepare(EP, p)));
            for p in &mut prepared {
                fw.prefetch_flow(p);
            }
            for (p, prep) in burst.iter().zip(&prepared) {
                black_box(fw.process_prepared(10 + b as u64, EP, p, prep));
            }
        }
        let burst = (thread_cpu_ns() - start) as f64 / lookups as f64;
        let c = fw.counters();
        assert_eq!(c.passed, 2 * lookups as u64 + u64::from(flows));
        println!(
            "established lookup+update, {flows:>9} flows: {single:6.1} ns/packet one by one, \
             {burst:6.1} ns/packet in bursts of {BURST} (prepare, prefetch, process)"
        );
    }
}
