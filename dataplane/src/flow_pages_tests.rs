//! Paging over real firewalls, as the main lcore and the workers do it,
//! without DPDK: `visit` calls `scan` on the worker's firewall directly.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;

use tollgate_firewall::{FirewallConfig, OnRuleChange};
use tollgate_pipeline::RuleSnapshot;
use tollgate_shm::message::{IpPrefix, Reply, Response};
use tollgate_wire::summary::{ipv4_mapped, Fragment, IpVersion, L4Summary};
use tollgate_wire::InnerSummary;

use super::*;

const NOW: u64 = 1_000_000_000;
/// The default reply ring's largest message.
const RING_MESSAGE: usize = (1 << 20) - 8;

type Fw = Firewall<RuleSnapshot>;

fn firewall(capacity: u32) -> Fw {
    let mut fw = Fw::new(FirewallConfig {
        capacity,
        hash_seed: tollgate_firewall::HashKey::fixed(0x5eed),
        ..FirewallConfig::default()
    })
    .unwrap();
    let rules = RuleSnapshot::from_text("default_action = \"pass\"\n", "test", 1).unwrap();
    fw.set_rules(Arc::new(rules), 1, OnRuleChange::Keep);
    fw
}

fn udp(src: u128, src_port: u16, dst: u128, dst_port: u16) -> InnerSummary {
    InnerSummary {
        version: if src >> 32 == 0xffff {
            IpVersion::V4
        } else {
            IpVersion::V6
        },
        src,
        dst,
        protocol: 17,
        fragment: Fragment::None,
        l4: L4Summary::Udp { src_port, dst_port },
        l4_offset: 20,
        total_len: 60,
    }
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> u128 {
    ipv4_mapped([a, b, c, d])
}

/// Flow `i` of worker `w`: distinct for every (w, i); IPv6 for every
/// seventh, endpoint 1 + i % 3, client port from `i`.
fn flow(w: usize, i: u32) -> (u64, InnerSummary) {
    let port = 1024 + (i % 60_000) as u16;
    let host = i / 60_000;
    let endpoint = 1 + u64::from(i % 3);
    let pkt = if i.is_multiple_of(7) {
        let src = (0x2001_0db8_0001_u128 << 80) | ((w as u128) << 32) | u128::from(host);
        udp(src, port, 0x2001_0db8_0002_u128 << 80 | 53, 53)
    } else {
        udp(
            v4(10, w as u8, (host >> 8) as u8, host as u8),
            port,
            v4(10, 200, 0, 1),
            53,
        )
    };
    (endpoint, pkt)
}

fn fill(fw: &mut Fw, w: usize, range: std::ops::Range<u32>) {
    for i in range {
        let (endpoint, pkt) = flow(w, i);
        fw.process(NOW, endpoint, &pkt);
    }
}

/// What identifies a listed flow.
type Id = (usize, u64, IpAddr, u16, IpAddr, u16);

fn id(worker: usize, e: &FlowEntry) -> Id {
    (
        worker,
        e.endpoint,
        e.addresses.src(),
        e.src_port,
        e.addresses.dst(),
        e.dst_port,
    )
}

/// One page over `fws`, as the main lcore builds it.
fn page(
    fws: &[Fw],
    selector: &FlowSelector,
    cursor: Option<FlowCursor>,
    limit: u32,
    max_bytes: usize,
) -> Page {
    build_page(fws.len(), cursor, limit, max_bytes, |w, from, room| {
        let mut out = Vec::with_capacity(room);
        let next = scan(&fws[w], NOW, from, SCAN_SLOTS_PER_VISIT, selector, &mut out);
        assert!(
            out.len() <= room && out.capacity() == room,
            "a worker allocated"
        );
        Ok(Visit { flows: out, next })
    })
    .unwrap()
}

/// Which worker each entry of `page` came from: the cursor moves through
/// workers in order, so an entry belongs to the worker whose slot order it
/// keeps; the tests tell by address instead (`flow` puts `w` in it).
fn worker_of(e: &FlowEntry) -> usize {
    match e.addresses.src() {
        IpAddr::V4(a) => usize::from(a.octets()[1]),
        IpAddr::V6(a) => ((u128::from(a) >> 32) & 0xffff) as usize,
    }
}

struct Walk {
    seen: Vec<Id>,
    pages: usize,
    partial_pages: usize,
}

/// Walks every page, checking each fits the reply ring and moves forward;
/// `between` runs between pages (the table may change there).
fn walk(
    fws: &mut [Fw],
    selector: &FlowSelector,
    limit: u32,
    max_bytes: usize,
    mut between: impl FnMut(&mut [Fw], usize),
) -> Walk {
    let mut cursor = None;
    let mut w = Walk {
        seen: Vec::new(),
        pages: 0,
        partial_pages: 0,
    };
    loop {
        let p = page(fws, selector, cursor, limit, max_bytes);
        w.pages += 1;
        assert!(w.pages < 100_000, "the walk does not end");
        let effective = if limit == 0 {
            MAX_PAGE_FLOWS
        } else {
            limit as usize
        };
        assert!(p.entries.len() <= effective);
        let bytes = Response {
            id: 1,
            reply: Reply::FlowList {
                entries: p.entries.clone(),
                next: p.next,
            },
        }
        .to_bytes()
        .len();
        assert!(bytes <= max_bytes, "page of {bytes} bytes > {max_bytes}");
        if p.next.is_some() && p.entries.len() < effective {
            w.partial_pages += 1;
        }
        w.seen.extend(p.entries.iter().map(|e| id(worker_of(e), e)));
        match p.next {
            None => return w,
            Some(next) => {
                assert!(
                    cursor < Some(next),
                    "cursor went from {cursor:?} to {next:?}"
                );
                cursor = Some(next);
            }
        }
        between(fws, w.pages);
    }
}

fn expected(w: usize, range: std::ops::Range<u32>) -> impl Iterator<Item = Id> {
    range.map(move |i| {
        let (endpoint, pkt) = flow(w, i);
        let addr = |a: u128| -> IpAddr {
            match tollgate_wire::summary::ipv4_unmapped(a) {
                Some(v4) => IpAddr::from(v4),
                None => IpAddr::from(std::net::Ipv6Addr::from(a)),
            }
        };
        let L4Summary::Udp { src_port, dst_port } = pkt.l4 else {
            unreachable!()
        };
        (
            w,
            endpoint,
            addr(pkt.src),
            src_port,
            addr(pkt.dst),
            dst_port,
        )
    })
}

fn assert_exactly_once(seen: &[Id], want: impl Iterator<Item = Id>) {
    let unique: HashSet<Id> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "a flow was listed twice");
    let want: HashSet<Id> = want.collect();
    assert_eq!(unique.len(), want.len());
    assert!(unique == want, "listed flows differ from the table's");
}

#[test]
fn a_walk_lists_every_flow_of_a_200k_table_exactly_once() {
    let mut fws = [firewall(150_000), firewall(150_000)];
    fill(&mut fws[0], 0, 0..100_000);
    fill(&mut fws[1], 1, 0..100_000);
    assert_eq!(fws[0].counters().active + fws[1].counters().active, 200_000);
    // The largest pages, within the default reply ring.
    let max_bytes = page_bytes(RING_MESSAGE);
    let w = walk(&mut fws, &FlowSelector::default(), 0, max_bytes, |_, _| {});
    assert_exactly_once(
        &w.seen,
        expected(0, 0..100_000).chain(expected(1, 0..100_000)),
    );
    assert!(w.pages >= 200_000 / MAX_PAGE_FLOWS, "{} pages", w.pages);
    // Small pages walk the same flows.
    let w = walk(
        &mut fws,
        &FlowSelector::default(),
        997,
        max_bytes,
        |_, _| {},
    );
    assert_exactly_once(
        &w.seen,
        expected(0, 0..100_000).chain(expected(1, 0..100_000)),
    );
    assert!(w.pages >= 200_000 / 997);
}

#[test]
fn pages_stop_at_their_byte_bound_and_the_next_starts_at_the_cut() {
    let mut fws = [firewall(4096), firewall(4096)];
    fill(&mut fws[0], 0, 0..3000);
    fill(&mut fws[1], 1, 0..3000);
    // Room for about a dozen entries per page.
    let max_bytes = 1000;
    let w = walk(
        &mut fws,
        &FlowSelector::default(),
        500,
        max_bytes,
        |_, _| {},
    );
    assert_exactly_once(&w.seen, expected(0, 0..3000).chain(expected(1, 0..3000)));
    // An IPv4 entry takes 44 bytes: at most 22 fit a page.
    assert!(w.pages >= 6000 / 22, "{} pages", w.pages);
    // Never more than a quarter of the ring, never more than the bound.
    assert_eq!(page_bytes(RING_MESSAGE), RING_MESSAGE / 4);
    assert_eq!(page_bytes(16 << 20), MAX_PAGE_BYTES);
}

#[test]
fn a_sparse_table_gives_partial_pages_with_a_cursor_and_still_ends() {
    let mut fws = [firewall(1_000_000), firewall(1_000_000)];
    fill(&mut fws[0], 0, 0..10);
    fill(&mut fws[1], 1, 0..10);
    let w = walk(
        &mut fws,
        &FlowSelector::default(),
        100,
        MAX_PAGE_BYTES,
        |_, _| {},
    );
    assert_exactly_once(&w.seen, expected(0, 0..10).chain(expected(1, 0..10)));
    // Each page scans at most VISITS_PER_PAGE * SCAN_SLOTS_PER_VISIT slots.
    let slots = fws[0].slots() + fws[1].slots();
    let per_page = VISITS_PER_PAGE * SCAN_SLOTS_PER_VISIT;
    assert!(w.pages >= slots / per_page, "{} pages", w.pages);
    assert!(w.pages <= slots.div_ceil(per_page) + 2, "{} pages", w.pages);
    assert!(w.partial_pages >= w.pages - 1);
}

#[test]
fn a_walk_ends_while_flows_come_and_go_and_lists_the_steady_ones_once() {
    let mut fws = [firewall(200_000), firewall(200_000)];
    // Steady flows 0..20k; churning ones 20k.. come and go between pages.
    fill(&mut fws[0], 0, 0..30_000);
    fill(&mut fws[1], 1, 0..30_000);
    let mut next_new = 30_000;
    // Each page: the 200 oldest churning flows go (by their client
    // ports, 1024 + i), 200 new ones come.
    let w = walk(
        &mut fws,
        &FlowSelector::default(),
        500,
        MAX_PAGE_BYTES,
        |fws, page| {
            let oldest = 1024 + 20_000 + 200 * (page as u16 - 1);
            for (w, fw) in fws.iter_mut().enumerate() {
                let removed = fw.flush_where(|key, _| {
                    [key.port_a, key.port_b]
                        .iter()
                        .any(|p| (oldest..oldest + 200).contains(p))
                });
                assert_eq!(removed, 200);
                fill(fw, w, next_new..next_new + 200);
            }
            next_new += 200;
        },
    );
    let unique: HashSet<Id> = w.seen.iter().copied().collect();
    let steady: HashSet<Id> = expected(0, 0..20_000)
        .chain(expected(1, 0..20_000))
        .collect();
    let steady_seen = unique.intersection(&steady).count();
    let steady_listed = w.seen.iter().filter(|i| steady.contains(i)).count();
    // The table is far below its buckets' fill, so nothing is displaced:
    // every steady flow exactly once.
    assert_eq!(steady_seen, steady.len());
    assert_eq!(steady_listed, steady.len());
    assert_eq!(unique.len(), w.seen.len(), "a flow was listed twice");
    assert!(
        next_new > 30_000 + 200 * 50,
        "churned over {} pages",
        w.pages
    );
}

#[test]
fn filters_select_by_endpoint_prefix_port_protocol_and_state() {
    let mut fws = [firewall(8192), firewall(8192)];
    fill(&mut fws[0], 0, 0..2000);
    fill(&mut fws[1], 1, 0..2000);
    // The server answers flows 0..100 of worker 1: UDP_STREAM from then on.
    for i in 0..100 {
        let (endpoint, pkt) = flow(1, i);
        let L4Summary::Udp { src_port, dst_port } = pkt.l4 else {
            unreachable!()
        };
        fws[1].process(NOW, endpoint, &udp(pkt.dst, dst_port, pkt.src, src_port));
    }
    let listed = |fws: &mut [Fw], f: tollgate_shm::message::FlowFilter| -> Vec<Id> {
        let selector = FlowSelector::from_message(&f).unwrap();
        walk(fws, &selector, 300, MAX_PAGE_BYTES, |_, _| {}).seen
    };
    let all = || expected(0, 0..2000).chain(expected(1, 0..2000));
    let msg = tollgate_shm::message::FlowFilter::default;

    let by_endpoint = listed(
        &mut fws,
        tollgate_shm::message::FlowFilter {
            endpoint: Some(2),
            ..msg()
        },
    );
    assert_exactly_once(&by_endpoint, all().filter(|i| i.1 == 2));

    let prefix: IpPrefix = "10.1.0.0/16".parse().unwrap();
    let by_prefix = listed(
        &mut fws,
        tollgate_shm::message::FlowFilter {
            address: Some(prefix),
            ..msg()
        },
    );
    assert_exactly_once(
        &by_prefix,
        all().filter(|i| matches!(i.2, IpAddr::V4(a) if a.octets()[..2] == [10, 1])),
    );

    let v6: IpPrefix = "2001:db8:1::/48".parse().unwrap();
    let by_v6 = listed(
        &mut fws,
        tollgate_shm::message::FlowFilter {
            address: Some(v6),
            ..msg()
        },
    );
    assert_exactly_once(&by_v6, all().filter(|i| i.2.is_ipv6()));

    let host: IpPrefix = "10.200.0.1".parse().unwrap();
    let by_port_and_host = listed(
        &mut fws,
        tollgate_shm::message::FlowFilter {
            address: Some(host),
            port: Some(1500),
            ..msg()
        },
    );
    assert_exactly_once(
        &by_port_and_host,
        all().filter(|i| i.3 == 1500 && i.2.is_ipv4()),
    );

    let tcp_only = listed(
        &mut fws,
        tollgate_shm::message::FlowFilter {
            protocol: Some(6),
            ..msg()
        },
    );
    assert!(tcp_only.is_empty());

    let streams = listed(
        &mut fws,
        tollgate_shm::message::FlowFilter {
            state: Some("udp_stream".into()),
            ..msg()
        },
    );
    assert_exactly_once(&streams, expected(1, 0..100));

    let err = FlowSelector::from_message(&tollgate_shm::message::FlowFilter {
        state: Some("OPEN".into()),
        ..msg()
    })
    .unwrap_err();
    assert!(
        err.contains("unknown flow state \"OPEN\"") && err.contains("ESTABLISHED"),
        "{err}"
    );

    // A flush shares the filter: only the answered flows of endpoint 1 go.
    let flush = FlowSelector::from_message(&tollgate_shm::message::FlowFilter {
        state: Some("UDP_STREAM".into()),
        endpoint: Some(1),
        ..msg()
    })
    .unwrap();
    let removed: usize = fws.iter_mut().map(|fw| flush.flush(fw)).sum();
    assert_eq!(removed, expected(1, 0..100).filter(|i| i.1 == 1).count());
    let streams = listed(
        &mut fws,
        tollgate_shm::message::FlowFilter {
            state: Some("UDP_STREAM".into()),
            ..msg()
        },
    );
    assert_exactly_once(&streams, expected(1, 0..100).filter(|i| i.1 != 1));
}

#[test]
fn cursors_past_a_table_or_the_last_worker_end_the_walk() {
    let mut fws = [firewall(1024), firewall(1024)];
    fill(&mut fws[0], 0, 0..10);
    fill(&mut fws[1], 1, 0..10);
    let all = FlowSelector::default();
    // Past worker 0's table (say, from before a restart with a bigger one):
    // worker 1 next.
    let p = page(
        &fws,
        &all,
        Some(FlowCursor {
            worker: 0,
            slot: u64::MAX,
        }),
        100,
        MAX_PAGE_BYTES,
    );
    assert_eq!(p.entries.len(), 10);
    assert!(p.entries.iter().all(|e| worker_of(e) == 1));
    assert_eq!(p.next, None);
    let p = page(
        &fws,
        &all,
        Some(FlowCursor { worker: 2, slot: 0 }),
        100,
        MAX_PAGE_BYTES,
    );
    assert_eq!((p.entries.len(), p.next), (0, None));
    let p = page(
        &fws,
        &all,
        Some(FlowCursor {
            worker: u32::MAX,
            slot: 5,
        }),
        1,
        MAX_PAGE_BYTES,
    );
    assert_eq!((p.entries.len(), p.next), (0, None));
    // A limit of one: one flow per page, each page's cursor past the last.
    let w = walk(&mut fws, &all, 1, MAX_PAGE_BYTES, |_, _| {});
    assert_exactly_once(&w.seen, expected(0, 0..10).chain(expected(1, 0..10)));
    // A worker that fails fails the page.
    let err = build_page(2, None, 10, MAX_PAGE_BYTES, |w, _, _| {
        Err(format!("worker {w} did not answer"))
    })
    .unwrap_err();
    assert_eq!(err, "worker 0 did not answer");
}
