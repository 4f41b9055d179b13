//! Owner hashing, and a flow whose two directions arrive on different
//! workers (deliverable 5): each worker owns a private firewall and hands
//! packets of flows it does not own to their owner through a ring.

mod common;

use std::sync::mpsc;
use std::thread;

use common::*;
use proptest::prelude::*;
use tollgate_firewall::{Decision, FirewallConfig, HashKey, OwnerHasher, Verdict};
use tollgate_wire::InnerSummary;

fn pair4() -> (Addr, Addr) {
    ((v4(10, 1, 0, 10), 40000), (v4(10, 2, 0, 20), 443))
}
fn pair6() -> (Addr, Addr) {
    ((v6(0x10), 40000), (v6(0x20), 443))
}

#[test]
fn owner_hash_is_symmetric_and_follows_quoted_flows() {
    // With a key drawn at random, as the dataplane does.
    let owner = OwnerHasher::new(HashKey::random());
    let owner_hash = |ep, pkt: &InnerSummary| owner.hash(ep, pkt);
    for (c, s) in [pair4(), pair6()] {
        let router = if c.0 == pair4().0 .0 {
            v4(10, 254, 0, 1)
        } else {
            v6(0xfe)
        };
        let flows = [
            (tcp(c, s, SYN, 1, 0, 0), tcp(s, c, SYN | ACK, 2, 2, 0)),
            (udp(c, s), udp(s, c)),
            (echo(c.0, s.0, 9, true), echo(s.0, c.0, 9, false)),
            (other(c.0, s.0, 47), other(s.0, c.0, 47)),
        ];
        for (fwd, rev) in flows {
            let h = owner_hash(EP, &fwd);
            assert_eq!(h, owner_hash(EP, &rev), "{:?}", fwd.l4);
            assert_eq!(
                h,
                owner_hash(EP, &icmp_error(router, fwd.src, &fwd)),
                "{:?}",
                fwd.l4
            );
            assert_eq!(
                h,
                owner_hash(EP, &icmp_error(router, rev.src, &rev)),
                "{:?}",
                fwd.l4
            );
            assert_ne!(h, owner_hash(EP + 1, &fwd), "endpoint is part of the flow");
        }
    }
}

fn addr_strategy() -> impl Strategy<Value = u128> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(tollgate_wire::summary::ipv4_mapped),
        any::<u128>().prop_filter("not v4-mapped", |a| a >> 32 != 0xffff),
    ]
}

#[test]
fn owner_hashers_agree_exactly_when_their_keys_do() {
    let (c, s) = pair4();
    let flows: Vec<InnerSummary> = (0..64u16).map(|i| udp((c.0, c.1 + i), s)).collect();
    let key = HashKey::random();
    let (one, two) = (OwnerHasher::new(key), OwnerHasher::new(key));
    for f in &flows {
        assert_eq!(one.hash(EP, f), two.hash(EP, f));
    }
    // Another process draws another key: its flows spread otherwise.
    let other = OwnerHasher::new(HashKey::random());
    let differ = flows
        .iter()
        .filter(|f| one.hash(EP, f) != other.hash(EP, f))
        .count();
    assert!(differ > 60, "{differ} of 64 differ");
    // The key is not printed.
    let shown = format!("{key:?} {one:?}");
    assert!(!shown.chars().any(|ch| ch.is_ascii_digit()), "{shown}");
}

#[test]
fn random_keys_differ_between_draws() {
    let keys: Vec<HashKey> = (0..8).map(|_| HashKey::random()).collect();
    for (i, a) in keys.iter().enumerate() {
        for b in &keys[i + 1..] {
            assert_ne!(a, b);
        }
    }
    // The firewall's default table key is drawn the same way.
    assert_ne!(
        FirewallConfig::default().hash_seed,
        FirewallConfig::default().hash_seed
    );
}

proptest! {
    #[test]
    fn owner_hash_properties(
        seed in any::<u64>(),
        ep in any::<u64>(), a in addr_strategy(), b in addr_strategy(),
        pa in any::<u16>(), pb in any::<u16>(), proto in 0..3u8,
    ) {
        let owner = OwnerHasher::new(HashKey::fixed(seed));
        let owner_hash = |ep, pkt: &InnerSummary| owner.hash(ep, pkt);
        let b = if (a >> 32 == 0xffff) == (b >> 32 == 0xffff) { b } else { a ^ 1 };
        let (fwd, rev) = match proto {
            0 => (tcp((a, pa), (b, pb), ACK, 1, 1, 0), tcp((b, pb), (a, pa), ACK, 1, 1, 0)),
            1 => (udp((a, pa), (b, pb)), udp((b, pb), (a, pa))),
            _ => (echo(a, b, pa, true), echo(b, a, pa, false)),
        };
        let h = owner_hash(ep, &fwd);
        prop_assert_eq!(h, owner_hash(ep, &rev));
        prop_assert_eq!(h, owner_hash(ep, &icmp_error(b, a, &fwd)));
    }
}

/// Workers with private firewalls. A packet "received" by worker `rx` is
/// processed there if it owns the flow, else handed over a channel (the
/// ring) to the owner. Returns the decision.
struct Workers {
    inbox: Vec<mpsc::Sender<Option<(u64, InnerSummary, bool)>>>,
    decisions: mpsc::Receiver<(usize, Decision)>,
    handles: Vec<thread::JoinHandle<u64>>,
}

impl Workers {
    fn start(n: usize, steer_to_owner: bool) -> Workers {
        // One key for all workers, as the dataplane draws it.
        let owner = OwnerHasher::new(HashKey::random());
        let (done_tx, decisions) = mpsc::channel();
        let mut inbox = Vec::new();
        let mut rxs = Vec::new();
        for _ in 0..n {
            let (tx, rx) = mpsc::channel::<Option<(u64, InnerSummary, bool)>>();
            inbox.push(tx);
            rxs.push(rx);
        }
        let handles = rxs
            .into_iter()
            .enumerate()
            .map(|(me, rx)| {
                let rings = inbox.clone();
                let done = done_tx.clone();
                thread::spawn(move || {
                    let config = FirewallConfig {
                        mid_stream_pickup: false,
                        ..small_config()
                    };
                    let mut fw = firewall(config, TestRules::pass_all());
                    // `handed` marks a packet that came through the ring.
                    // Workers hold each other's senders: stop on `None`.
                    while let Some((now, pkt, handed)) = rx.recv().unwrap() {
                        let owner = owner.hash(EP, &pkt) as usize % rings.len();
                        if steer_to_owner && !handed && owner != me {
                            rings[owner].send(Some((now, pkt, true))).unwrap();
                            continue;
                        }
                        done.send((me, fw.process(now, EP, &pkt))).unwrap();
                    }
                    fw.counters().created
                })
            })
            .collect();
        Workers {
            inbox,
            decisions,
            handles,
        }
    }

    fn receive(&self, rx_worker: usize, now: u64, pkt: InnerSummary) -> (usize, Decision) {
        self.inbox[rx_worker].send(Some((now, pkt, false))).unwrap();
        self.decisions.recv().unwrap()
    }

    fn stop(self) -> Vec<u64> {
        for tx in &self.inbox {
            tx.send(None).unwrap();
        }
        self.handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect()
    }
}

/// A TCP connection whose client->server packets arrive on worker 0 and
/// server->client packets on worker 1 (as if GWLB used different outer
/// source ports per direction and RSS split them).
fn split_connection(workers: &Workers, c: Addr, s: Addr) -> Vec<(usize, Decision)> {
    let (a, b) = (1001, 5001);
    [
        (0, tcp(c, s, SYN, 1000, 0, 0)),
        (1, tcp(s, c, SYN | ACK, 5000, a, 0)),
        (0, tcp(c, s, ACK, a, b, 0)),
        (0, tcp(c, s, PSH | ACK, a, b, 100)),
        (1, tcp(s, c, PSH | ACK, b, a + 100, 100)),
        (
            1,
            icmp_error(v4(10, 254, 0, 1), s.0, &tcp(s, c, ACK, b, a, 0)),
        ),
        (0, tcp(c, s, FIN | ACK, a + 100, b + 100, 0)),
        (1, tcp(s, c, FIN | ACK, b + 100, a + 101, 0)),
        (0, tcp(c, s, ACK, a + 101, b + 101, 0)),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (rx, p))| workers.receive(rx, i as u64, p))
    .collect()
}

#[test]
fn directions_on_different_workers_meet_at_the_owner() {
    let workers = Workers::start(2, true);
    let mut owners = std::collections::HashSet::new();
    for i in 0..8u16 {
        let (c, s) = ((v4(10, 1, 0, 10), 40000 + i), (v4(10, 2, 0, 20), 443));
        let results = split_connection(&workers, c, s);
        for (step, (worker, d)) in results.iter().enumerate() {
            assert_eq!(d.verdict, Verdict::Pass, "flow {i} step {step}");
            assert_eq!(*worker, results[0].0, "flow {i} step {step}: one owner");
        }
        owners.insert(results[0].0);
    }
    assert_eq!(owners.len(), 2, "flows spread over both workers");
    let created = workers.stop();
    assert_eq!(created.iter().sum::<u64>(), 8, "one flow per connection");
}

#[test]
fn without_steering_the_split_connection_breaks() {
    // The control experiment: each worker decides on what it received.
    let workers = Workers::start(2, false);
    let (c, s) = pair4();
    let results = split_connection(&workers, c, s);
    assert!(results.iter().any(|(_, d)| d.verdict != Verdict::Pass));
    workers.stop();
}
