use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::sync::atomic::Ordering;

use super::*;
use crate::worker_stats::{EndpointSlot, ENDPOINT_SLOTS};
use crate::{PopError, PushError, MAX_XSTATS};

/// A per-test segment name; the file is removed even if the test panics.
struct Name(String);

impl Name {
    fn new(test: &str) -> Name {
        Name(format!("test-{}-{test}", std::process::id()))
    }
}

impl Drop for Name {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(segment_path(&self.0).unwrap());
    }
}

fn small(workers: usize) -> SegmentConfig {
    SegmentConfig {
        workers,
        flow_capacity: 1 << 20,
        command_ring_bytes: 64 << 10,
        reply_ring_bytes: 4096,
        punt_ring_bytes: 8192,
        inject_ring_bytes: 4096,
    }
}

#[test]
fn attach_sees_what_create_wrote_and_both_sides_write() {
    let name = Name::new("attach");
    let dp = Segment::create(&name.0, &small(3)).unwrap();
    let ctl = Segment::attach(&name.0).unwrap();
    assert_eq!(
        ctl.path(),
        Path::new("/dev/shm").join(format!("tollgate-{}", name.0))
    );
    assert_eq!(ctl.epoch(), dp.epoch());
    assert_eq!(ctl.worker_count(), 3);
    assert_eq!(ctl.flow_capacity(), 1 << 20);
    assert_eq!(ctl.dataplane_pid(), std::process::id());
    assert!(ctl.created_unix_ns() > 0);
    assert_eq!(ctl.layout(), dp.layout());
    assert_eq!(ctl.state(), DataplaneState::Starting);
    dp.set_state(DataplaneState::Running);
    assert_eq!(ctl.state(), DataplaneState::Running);
    dp.set_link(LinkStatus {
        up: true,
        speed_mbps: 25_000,
    });
    assert_eq!(
        ctl.link(),
        LinkStatus {
            up: true,
            speed_mbps: 25_000
        }
    );
    assert!(!dp.draining());
    ctl.set_draining(true);
    assert!(dp.draining());
    assert_eq!(
        ctl.identity(),
        None,
        "identity unset until the dataplane writes it"
    );
    dp.set_identity([10, 254, 11, 101], [0x02, 0, 0, 0xab, 0xcd, 0xef]);
    assert_eq!(
        ctl.identity(),
        Some(([10, 254, 11, 101], [0x02, 0, 0, 0xab, 0xcd, 0xef]))
    );
    assert!(!ctl.is_stale());
    assert!(!dp.is_stale());
}

#[test]
fn missing_segment_says_dataplane_not_running() {
    let name = Name::new("missing");
    let err = Segment::attach(&name.0).unwrap_err();
    assert!(matches!(err, ShmError::NotFound { .. }));
    assert_eq!(
        err.to_string(),
        format!(
            "dataplane not running? no segment at /dev/shm/tollgate-{}",
            name.0
        )
    );
}

#[test]
fn invalid_names_are_refused() {
    for bad in ["", "a/b", "..x/", "sp ace", &"x".repeat(MAX_NAME_LEN + 1)] {
        assert!(
            matches!(segment_path(bad), Err(ShmError::InvalidName { .. })),
            "{bad:?}"
        );
    }
    assert!(segment_path("eth0.prod-1_a").is_ok());
}

#[test]
fn version_and_schema_mismatch_are_refused_with_advice() {
    let name = Name::new("version");
    let dp = Segment::create(&name.0, &small(1)).unwrap();
    dp.header_for_test()
        .layout_version
        .store(LAYOUT_VERSION + 7, Ordering::Relaxed);
    let err = Segment::attach(&name.0).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "segment /dev/shm/tollgate-{} has layout version {}, this build expects {}: restart both from the same release",
            name.0,
            LAYOUT_VERSION + 7,
            LAYOUT_VERSION
        )
    );
    dp.header_for_test()
        .layout_version
        .store(LAYOUT_VERSION, Ordering::Relaxed);
    dp.header_for_test()
        .counter_schema
        .store(1, Ordering::Relaxed);
    let err = Segment::attach(&name.0).unwrap_err();
    assert!(
        matches!(err, ShmError::SchemaMismatch { found: 1, .. }),
        "{err}"
    );
    assert!(err
        .to_string()
        .ends_with("restart both from the same release"));
}

#[test]
fn bad_magic_unready_and_corrupt_headers_are_refused() {
    let name = Name::new("magic");
    let dp = Segment::create(&name.0, &small(1)).unwrap();
    let h = dp.header_for_test();
    h.magic.store(0, Ordering::Relaxed);
    assert!(matches!(
        Segment::attach(&name.0),
        Err(ShmError::NotReady { .. })
    ));
    h.magic.store(0x1234, Ordering::Relaxed);
    assert!(matches!(
        Segment::attach(&name.0),
        Err(ShmError::BadMagic { found: 0x1234, .. })
    ));
    h.magic.store(MAGIC, Ordering::Relaxed);
    h.regions[RegionId::PuntRings as usize][0].fetch_add(4096, Ordering::Relaxed);
    let err = Segment::attach(&name.0).unwrap_err();
    assert!(matches!(err, ShmError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("PuntRings"), "{err}");
    h.regions[RegionId::PuntRings as usize][0].fetch_sub(4096, Ordering::Relaxed);
    h.worker_count.store(0, Ordering::Relaxed);
    assert!(matches!(
        Segment::attach(&name.0),
        Err(ShmError::Corrupt { .. })
    ));
    h.worker_count.store(1, Ordering::Relaxed);
    assert!(Segment::attach(&name.0).is_ok());
}

#[test]
fn a_planted_file_is_refused_by_attach() {
    let name = Name::new("planted");
    let path = segment_path(&name.0).unwrap();
    std::fs::write(&path, vec![0u8; 1 << 16]).unwrap();
    let err = Segment::attach(&name.0).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "refusing segment {}: it is not a segment socket (a dataplane of an older release, \
             or someone else's file)",
            path.display()
        )
    );
}

#[test]
fn recreate_makes_attached_readers_stale_and_keeps_the_new_file() {
    let name = Name::new("stale");
    let first = Segment::create(&name.0, &small(1)).unwrap();
    let ctl = Segment::attach(&name.0).unwrap();
    ctl.worker_stats(0).unwrap(); // mapping in use
    first.worker_stats(0).unwrap().add(Counter::RxPackets, 5);
    // A live dataplane's name is not taken over.
    let err = Segment::create(&name.0, &small(2)).unwrap_err();
    assert!(matches!(err, ShmError::NameTaken { .. }), "{err}");
    assert!(err
        .to_string()
        .contains("another running dataplane serves it"));
    assert!(!ctl.is_stale());
    // One that died without cleaning up left its socket behind, unserved.
    first.map.stop_serving();
    assert!(matches!(
        Segment::attach(&name.0),
        Err(ShmError::NotFound { .. })
    ));
    let second = Segment::create(&name.0, &small(2)).unwrap();
    assert!(ctl.is_stale());
    assert!(first.is_stale());
    assert_ne!(second.epoch(), first.epoch());
    // The old mapping still reads the old numbers until dropped.
    assert_eq!(ctl.counter_total(Counter::RxPackets), 5);
    // The old dataplane's mapping going away must not remove the new file.
    drop(first);
    let again = Segment::attach(&name.0).unwrap();
    assert!(!again.is_stale());
    assert_eq!(again.epoch(), second.epoch());
    assert_eq!(again.worker_count(), 2);
    assert_eq!(again.counter_total(Counter::RxPackets), 0);
    // A dataplane that exits marks the segment stopped and removes it.
    drop(second);
    assert_eq!(again.state(), DataplaneState::Stopped);
    assert!(again.is_stale());
    assert!(matches!(
        Segment::attach(&name.0),
        Err(ShmError::NotFound { .. })
    ));
}

#[test]
fn counters_are_summed_across_workers() {
    let name = Name::new("counters");
    let dp = Segment::create(&name.0, &small(4)).unwrap();
    let ctl = Segment::attach(&name.0).unwrap();
    for w in 0..4 {
        let s = dp.worker_stats(w).unwrap();
        s.add(Counter::RxPackets, 10 * (w as u64 + 1));
        s.inc(Counter::MalformedGeneve);
        s.set(Counter::FlowsActive, 7);
        s.set(Counter::FlowsActive, 3);
        assert!(s.rule_hit(2, w as u64));
        assert!(s.rule_hit(MAX_RULES - 1, 1));
        assert!(!s.rule_hit(MAX_RULES, 1));
        s.beat(1000 + w as u64);
    }
    assert_eq!(ctl.counter_total(Counter::RxPackets), 100);
    assert_eq!(ctl.counter_total(Counter::MalformedGeneve), 4);
    assert_eq!(ctl.counter_total(Counter::FlowsActive), 12);
    assert_eq!(ctl.counter_total(Counter::TxPackets), 0);
    let totals = ctl.counter_totals();
    assert_eq!(totals[Counter::RxPackets.index()], 100);
    assert_eq!(totals[Counter::FlowsActive.index()], 12);
    assert_eq!(ctl.rule_hit_totals(3), vec![0, 0, 6]);
    assert_eq!(ctl.rule_hit_totals(MAX_RULES + 5)[MAX_RULES - 1], 4);
    assert_eq!(ctl.heartbeats(), vec![1000, 1001, 1002, 1003]);
    assert!(matches!(
        ctl.worker_stats(4),
        Err(ShmError::NoSuchWorker { index: 4, count: 4 })
    ));
}

#[test]
fn endpoint_slots_are_claimed_once_and_overflow_to_other() {
    let name = Name::new("endpoints");
    let dp = Segment::create(&name.0, &small(2)).unwrap();
    let ctl = Segment::attach(&name.0).unwrap();
    let w0 = dp.worker_stats(0).unwrap();
    let first = w0.endpoint_slot(0xabc);
    assert_eq!(first, EndpointSlot::Slot(0));
    assert_eq!(w0.endpoint_slot(0xabc), first);
    w0.add_endpoint(first, 2, 200);
    for id in 1..ENDPOINT_SLOTS as u64 {
        assert_ne!(w0.endpoint_slot(id), EndpointSlot::Other);
    }
    let overflow = w0.endpoint_slot(u64::MAX);
    assert_eq!(overflow, EndpointSlot::Other);
    w0.add_endpoint(overflow, 1, 50);
    let w1 = dp.worker_stats(1).unwrap();
    let s = w1.endpoint_slot(0xabc);
    w1.add_endpoint(s, 3, 300);
    let (per, other) = ctl.endpoint_totals();
    assert_eq!(per.len(), ENDPOINT_SLOTS);
    let abc = per.iter().find(|e| e.endpoint_id == 0xabc).unwrap();
    assert_eq!((abc.packets, abc.bytes), (5, 500));
    assert_eq!((other.packets, other.bytes), (1, 50));
}

#[test]
fn rules_info_round_trips_and_limits() {
    let name = Name::new("rules");
    let dp = Segment::create(&name.0, &small(1)).unwrap();
    let ctl = Segment::attach(&name.0).unwrap();
    assert_eq!(ctl.applied_rules(), (0, 0));
    assert_eq!(ctl.rules_info().unwrap(), RulesSnapshot::default());
    let ids: Vec<String> = (0..300).map(|i| format!("rule-{i}")).collect();
    dp.publish_rules(9, 1234, &ids).unwrap();
    let got = ctl.rules_info().unwrap();
    assert_eq!((got.generation, got.load_time_ns), (9, 1234));
    assert_eq!(got.ids, ids);
    assert_eq!(ctl.applied_rules(), (9, 1234));
    dp.publish_rules(10, 5, &["only"]).unwrap();
    assert_eq!(ctl.rules_info().unwrap().ids, vec!["only".to_string()]);
    let too_many = vec!["r"; MAX_RULES + 1];
    assert!(matches!(
        dp.publish_rules(11, 0, &too_many),
        Err(ShmError::TooMany { count, .. }) if count == MAX_RULES + 1
    ));
    // Ids are never cut: two ids sharing 64 bytes would be one label.
    let long = ["x".repeat(64), "x".repeat(65)];
    match dp.publish_rules(12, 0, &long) {
        Err(e @ ShmError::TooLong { bytes: 65, .. }) => assert!(
            e.to_string().starts_with("rule id \"xxx")
                && e.to_string()
                    .ends_with("is 65 bytes; shared memory keeps at most 64"),
            "{e}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(ctl.applied_rules().0, 10);
    dp.publish_rules(13, 0, &long[..1]).unwrap();
    assert_eq!(ctl.rules_info().unwrap().ids, [long[0].clone()]);
}

#[test]
fn port_stats_reads_are_consistent_across_mappings() {
    let name = Name::new("portstats");
    let dp = Segment::create(&name.0, &small(1)).unwrap();
    let ctl = Segment::attach(&name.0).unwrap();
    assert_eq!(ctl.port_stats().unwrap().updated_ns, 0);
    let names: Vec<String> = (0..MAX_XSTATS + 10)
        .map(|i| format!("rx_q{i}_packets"))
        .collect();
    let writer = std::thread::spawn(move || {
        let mut stored = 0;
        for i in 1..=1000u64 {
            let c = PortCounters {
                ipackets: i,
                opackets: i * 2,
                ibytes: i * 3,
                obytes: i * 4,
                imissed: i * 5,
                ierrors: i * 6,
                oerrors: i * 7,
                rx_nombuf: i * 8,
            };
            stored = dp.write_port_stats(&c, names.iter().map(|n| (n.as_str(), i)));
            // The real writer updates about once a second; a tight loop
            // would starve readers, which is the seqlock's known trade-off.
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
        stored
    });
    let mut last = 0;
    let mut reads = 0;
    while !writer.is_finished() || reads < 10 {
        let s = ctl.port_stats().unwrap();
        let c = s.counters;
        let i = c.ipackets;
        assert_eq!(
            [
                c.opackets,
                c.ibytes,
                c.obytes,
                c.imissed,
                c.ierrors,
                c.oerrors,
                c.rx_nombuf
            ],
            [i * 2, i * 3, i * 4, i * 5, i * 6, i * 7, i * 8],
            "torn read"
        );
        if i > 0 {
            assert_eq!(s.xstats.len(), MAX_XSTATS);
            assert!(
                s.xstats.iter().all(|(_, v)| *v == i),
                "xstats from another update"
            );
            assert_eq!(s.xstats[5].0, "rx_q5_packets");
        }
        assert!(i >= last);
        last = i;
        reads += 1;
    }
    assert_eq!(writer.join().unwrap(), MAX_XSTATS);
    assert_eq!(ctl.port_stats().unwrap().counters.ipackets, 1000);
}

#[test]
fn ring_ends_are_claimed_once_per_process() {
    let name = Name::new("claims");
    let dp = Segment::create(&name.0, &small(2)).unwrap();
    let p = dp.command_ring_producer().unwrap();
    assert!(matches!(
        dp.command_ring_producer(),
        Err(ShmError::HandleTaken { what }) if what == "command ring producer"
    ));
    // The other end and other rings are independent.
    let _c = dp.command_ring_consumer().unwrap();
    let _p1 = dp.punt_ring_producer(1).unwrap();
    assert!(dp.punt_ring_producer(1).is_err());
    assert!(matches!(
        dp.punt_ring_producer(2),
        Err(ShmError::NoSuchWorker { index: 2, count: 2 })
    ));
    drop(p);
    assert!(dp.command_ring_producer().is_ok());
}

#[test]
fn ring_carries_messages_in_order_and_wraps() {
    let name = Name::new("ring");
    let dp = Segment::create(&name.0, &small(1)).unwrap();
    let ctl = Segment::attach(&name.0).unwrap();
    let mut tx = dp.reply_ring_producer().unwrap(); // 4096 bytes
    let mut rx = ctl.reply_ring_consumer().unwrap();
    assert_eq!(tx.max_message_len(), 4092);
    let mut buf = vec![0u8; 5000];
    assert_eq!(rx.pop_into(&mut buf), Ok(None));
    // Many rounds of odd sizes so records straddle the end of the data area.
    for round in 0..200u32 {
        let msgs: Vec<Vec<u8>> = (0..5)
            .map(|k| vec![(round * 5 + k) as u8; (round as usize * 37 + k as usize * 101) % 700])
            .collect();
        for m in &msgs {
            tx.push(m).unwrap();
        }
        for m in &msgs {
            let n = rx.pop_into(&mut buf).unwrap().unwrap();
            assert_eq!(&buf[..n], &m[..]);
        }
        assert_eq!(rx.pop_into(&mut buf), Ok(None));
    }
    // Parts are concatenated into one message.
    tx.push_parts(&[b"head", b"", b"-body"]).unwrap();
    assert_eq!(rx.pop_into(&mut buf), Ok(Some(9)));
    assert_eq!(&buf[..9], b"head-body");
    // Zero-length messages are messages.
    tx.push(b"").unwrap();
    assert_eq!(rx.pop_into(&mut buf), Ok(Some(0)));
}

#[test]
fn ring_full_too_large_and_small_buffers() {
    let name = Name::new("ringfull");
    let dp = Segment::create(&name.0, &small(1)).unwrap();
    let mut tx = dp.reply_ring_producer().unwrap();
    let mut rx = dp.reply_ring_consumer().unwrap();
    assert_eq!(
        tx.push(&[0; 4093]),
        Err(PushError::TooLarge {
            len: 4093,
            max: 4092
        })
    );
    // A maximal message fills the empty ring exactly, even off position 0.
    tx.push(&[1; 12]).unwrap();
    let mut buf = vec![0u8; 4096];
    rx.pop_into(&mut buf).unwrap();
    tx.push(&[2; 4092]).unwrap();
    assert_eq!(tx.push(b""), Err(PushError::Full));
    assert_eq!(rx.pop_into(&mut buf), Ok(Some(4092)));
    assert!(buf[..4092].iter().all(|&b| b == 2));
    // Fill with 100-byte messages (104-byte records): 39 fit.
    let mut pushed = 0;
    while tx.push(&[3; 100]).is_ok() {
        pushed += 1;
    }
    assert_eq!(pushed, 4096 / 104);
    assert_eq!(tx.push(&[3; 100]), Err(PushError::Full));
    // A too-small buffer leaves the message in place.
    assert_eq!(
        rx.pop_into(&mut buf[..99]),
        Err(PopError::BufferTooSmall {
            needed: 100,
            available: 99
        })
    );
    assert_eq!(rx.peek_len(), Ok(Some(100)));
    let mut v = Vec::new();
    assert_eq!(rx.pop_to_vec(&mut v), Ok(true));
    assert_eq!(v, vec![3; 100]);
    // Freed space is usable again: all or nothing, never a partial message.
    tx.push(&[4; 100]).unwrap();
    assert_eq!(tx.push(&[4; 100]), Err(PushError::Full));
    let mut count = 0;
    while rx.pop_into(&mut buf).unwrap().is_some() {
        count += 1;
    }
    assert_eq!(count, pushed);
}

#[test]
fn ring_state_survives_a_restarted_peer_and_corruption_is_detected() {
    let name = Name::new("ringresume");
    let dp = Segment::create(&name.0, &small(1)).unwrap();
    let mut tx = dp.inject_ring_producer().unwrap();
    tx.push(b"one").unwrap();
    tx.push(b"two").unwrap();
    {
        // A control plane that read one message and then died.
        let ctl = Segment::attach(&name.0).unwrap();
        let mut rx = ctl.inject_ring_consumer().unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(rx.pop_into(&mut buf), Ok(Some(3)));
        assert_eq!(&buf[..3], b"one");
    }
    let ctl = Segment::attach(&name.0).unwrap();
    let mut rx = ctl.inject_ring_consumer().unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(rx.pop_into(&mut buf), Ok(Some(3)));
    assert_eq!(&buf[..3], b"two");
    // A garbage length from a broken producer is an error, not a panic.
    tx.push(b"abc").unwrap();
    let (offset, _) = dp.ring_place(RingId::Inject);
    let data = offset + crate::ring::RING_CONTROL_BYTES;
    let tail = 16; // two 8-byte records consumed
    let word: &crate::ring::RingControl = dp.map.at(offset);
    assert_eq!(word.capacity(), 4096);
    // Overwrite the pending record's length through the other mapping.
    ctl.map.poke(data + tail, &9999u32.to_le_bytes());
    assert!(matches!(rx.pop_into(&mut buf), Err(PopError::Corrupt(_))));
    rx.discard_all();
    assert_eq!(rx.pop_into(&mut buf), Ok(None));
    tx.push(b"ok").unwrap();
    assert_eq!(rx.pop_into(&mut buf), Ok(Some(2)));
}

mod ring_model {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    #[derive(Debug, Clone)]
    enum Op {
        Push(usize),
        Pop,
    }

    fn ops() -> impl Strategy<Value = Vec<Op>> {
        proptest::collection::vec(
            prop_oneof![
                3 => (0usize..1500).prop_map(Op::Push),
                1 => (4000usize..4100).prop_map(Op::Push),
                3 => Just(Op::Pop),
            ],
            1..300,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any interleaving of pushes and pops on a 4 KiB ring behaves like
        /// a queue whose capacity is counted in 8-byte-padded records.
        #[test]
        fn ring_matches_a_queue_model(ops in ops()) {
            let name = Name::new("model");
            let seg = Segment::create(&name.0, &small(1)).unwrap();
            let mut tx = seg.reply_ring_producer().unwrap();
            let mut rx = seg.reply_ring_consumer().unwrap();
            let mut model: VecDeque<Vec<u8>> = VecDeque::new();
            let record = |len: usize| (4 + len).next_multiple_of(8);
            let mut buf = vec![0u8; 4096];
            for (n, op) in ops.into_iter().enumerate() {
                match op {
                    Op::Push(len) => {
                        let msg: Vec<u8> = (0..len).map(|i| (i + n * 7) as u8).collect();
                        let used: usize = model.iter().map(|m| record(m.len())).sum();
                        let expected = if len > 4092 {
                            Err(PushError::TooLarge { len, max: 4092 })
                        } else if used + record(len) > 4096 {
                            Err(PushError::Full)
                        } else {
                            Ok(())
                        };
                        prop_assert_eq!(tx.push(&msg), expected);
                        if expected.is_ok() {
                            model.push_back(msg);
                        }
                    }
                    Op::Pop => {
                        let got = rx.pop_into(&mut buf).unwrap();
                        match model.pop_front() {
                            Some(want) => {
                                prop_assert_eq!(got, Some(want.len()));
                                prop_assert_eq!(&buf[..want.len()], &want[..]);
                            }
                            None => prop_assert_eq!(got, None),
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn only_one_process_at_a_time_holds_the_control_side() {
    let name = Name::new("controllock");
    let dp = Segment::create(&name.0, &small(2)).unwrap();
    // Dataplane-side ends take no lock.
    let _cmd_in = dp.command_ring_consumer().unwrap();
    let first = Segment::attach(&name.0).unwrap();
    let _cmd_out = first.command_ring_producer().unwrap();
    // Another open of the segment (another control process) is refused,
    // for every control-side end, but may still read statistics.
    let second = Segment::attach(&name.0).unwrap();
    for err in [
        second.command_ring_producer().unwrap_err(),
        second.reply_ring_consumer().unwrap_err(),
        second.punt_ring_consumer(1).unwrap_err(),
        second.inject_ring_producer().unwrap_err(),
    ] {
        assert!(matches!(err, ShmError::ControlRoleTaken { .. }), "{err}");
        assert!(err.to_string().contains("second tollgate-control"), "{err}");
    }
    assert_eq!(second.counter_total(Counter::RxPackets), 0);
    // The lock goes with the first control's mapping.
    drop(_cmd_out);
    drop(first);
    assert!(second.command_ring_producer().is_ok());
    assert!(second.punt_ring_consumer(1).is_ok());
}

#[test]
fn retire_marks_stopped_and_removes_only_its_own_file() {
    let name = Name::new("retire");
    let dp = Segment::create(&name.0, &SegmentConfig::default()).unwrap();
    let ctl = Segment::attach(&name.0).unwrap();
    dp.set_state(DataplaneState::Running);
    dp.retire();
    assert_eq!(ctl.state(), DataplaneState::Stopped);
    assert!(!dp.path().exists(), "a clean exit removes the segment file");
    assert!(ctl.is_stale());
    // A newer dataplane's file is never removed by an older one.
    let newer = Segment::create(&name.0, &SegmentConfig::default()).unwrap();
    dp.retire();
    assert!(newer.path().exists());
}

/// Env var that makes the test binary run a child role instead of a test.
const CHILD_ROLE: &str = "TOLLGATE_SHM_TEST_CHILD";

/// Runs test `test` of this binary again in a child process with `role`
/// set, and returns its exit status (a signal shows as failure).
fn run_child(test: &str, role: &str) -> std::process::ExitStatus {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_ROLE, role)
        .status()
        .unwrap()
}

/// Every dataplane-side access to every region of the segment.
fn touch_everything_as_dataplane(dp: &Segment) {
    let workers = dp.worker_count();
    for w in 0..workers {
        let stats = dp.worker_stats(w).unwrap();
        stats.inc(Counter::RxPackets);
        stats.beat(1);
        let slot = stats.endpoint_slot(7);
        stats.add_endpoint(slot, 1, 60);
        stats.rule_hit(MAX_RULES - 1, 1);
    }
    let _ = dp.draining();
    let _ = dp.state();
    dp.set_state(DataplaneState::Running);
    dp.publish_rules(1, 1, &["a"]).unwrap();
    dp.write_port_stats(&PortCounters::default(), [("x", 1)]);
    let mut buf = vec![0u8; 1 << 16];
    if let Ok(mut rx) = dp.command_ring_consumer() {
        let _ = rx.pop_into(&mut buf);
    }
    if let Ok(mut rx) = dp.inject_ring_consumer() {
        let _ = rx.pop_into(&mut buf);
    }
    if let Ok(mut tx) = dp.reply_ring_producer() {
        let _ = tx.push(b"reply");
    }
    for w in 0..workers {
        if let Ok(mut tx) = dp.punt_ring_producer(w) {
            let _ = tx.push(&[0u8; 200]);
        }
    }
}

/// The old segment was a plain /dev/shm file: any process that could open
/// it read-write could shrink it, and the dataplane's next access to a page
/// past the new end died of SIGBUS. The child plays both sides.
#[test]
fn a_peer_cannot_shrink_the_segment_under_the_dataplane() {
    const TEST: &str = "segment::tests::a_peer_cannot_shrink_the_segment_under_the_dataplane";
    if std::env::var(CHILD_ROLE).as_deref() == Ok("shrink") {
        let name = Name::new("shrink");
        let dp = Segment::create(&name.0, &small(2)).unwrap();
        let ctl = Segment::attach(&name.0).unwrap();
        // Whatever a peer can open by name...
        if let Ok(f) = std::fs::OpenOptions::new().write(true).open(dp.path()) {
            let _ = f.set_len(0);
        }
        // ...the memory it was handed, and the dataplane's own descriptor.
        let handed = ctl.map.file().set_len(0).unwrap_err();
        assert_eq!(handed.raw_os_error(), Some(libc::EPERM), "{handed}");
        let grow = ctl.map.file().set_len(1 << 30).unwrap_err();
        assert_eq!(grow.raw_os_error(), Some(libc::EPERM), "{grow}");
        let own = format!("/proc/self/fd/{}", dp.map.file().as_raw_fd());
        let reopened = std::fs::OpenOptions::new().write(true).open(own).unwrap();
        assert!(reopened.set_len(4096).is_err());
        drop(ctl);
        touch_everything_as_dataplane(&dp);
        return;
    }
    let status = run_child(TEST, "shrink");
    assert!(
        status.success(),
        "the dataplane side did not survive: {status}"
    );
}

#[test]
fn segment_and_socket_are_private_to_the_owner_by_default() {
    let name = Name::new("private");
    let dp = Segment::create(&name.0, &small(1)).unwrap();
    let socket = std::fs::symlink_metadata(dp.path()).unwrap();
    assert!(socket.file_type().is_socket());
    assert_eq!(socket.mode() & 0o7777, 0o600);
    let memory = dp.map.file().metadata().unwrap();
    assert_eq!(memory.mode() & 0o7777, 0o600);
    assert_eq!(
        crate::boundary::seals(dp.map.file()) & crate::boundary::SEALS,
        crate::boundary::SEALS
    );
    let ctl = Segment::attach(&name.0).unwrap();
    assert_eq!(ctl.epoch(), dp.epoch());
}

#[test]
fn group_access_opens_segment_and_socket_to_that_group() {
    let name = Name::new("group");
    let access = SegmentAccess { group: Some(4242) };
    let dp = Segment::create_with_access(&name.0, &small(1), access).unwrap();
    for meta in [
        std::fs::symlink_metadata(dp.path()).unwrap(),
        dp.map.file().metadata().unwrap(),
    ] {
        assert_eq!((meta.mode() & 0o7777, meta.gid()), (0o660, 4242));
    }
    assert!(Segment::attach(&name.0).is_ok());
}

#[test]
fn attach_refuses_a_segment_other_users_could_have_planted_or_changed() {
    let name = Name::new("untrusted");
    let dp = Segment::create(&name.0, &small(1)).unwrap();
    let path = dp.path().to_path_buf();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    let err = Segment::attach(&name.0).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "refusing segment {}: its socket has mode 0666: other users can use it",
            path.display()
        )
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::lchown(&path, Some(12345), None).unwrap();
    let err = Segment::attach(&name.0).unwrap_err();
    assert!(matches!(err, ShmError::Untrusted { .. }), "{err}");
    assert!(
        err.to_string()
            .ends_with("its socket belongs to uid 12345, not to this process's uid 0 or root")
            || crate::boundary::euid() != 0,
        "{err}"
    );
    std::os::unix::fs::lchown(&path, Some(crate::boundary::euid()), None).unwrap();
    assert!(Segment::attach(&name.0).is_ok());
}

#[test]
fn a_name_another_user_holds_is_refused_by_create() {
    let name = Name::new("precreated");
    let path = segment_path(&name.0).unwrap();
    std::fs::write(&path, b"bait").unwrap();
    std::os::unix::fs::lchown(&path, Some(12345), None).unwrap();
    let err = Segment::create(&name.0, &small(1)).unwrap_err();
    assert!(matches!(err, ShmError::NameTaken { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "cannot create segment {}: it exists and belongs to uid 12345, not this dataplane's \
             uid {}: remove it if it is not a tollgate segment, or choose another [shm] name",
            path.display(),
            crate::boundary::euid()
        )
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"bait", "left untouched");
    // This user's own leftover (an older release's file) is replaced.
    std::os::unix::fs::lchown(&path, Some(crate::boundary::euid()), None).unwrap();
    let dp = Segment::create(&name.0, &small(1)).unwrap();
    assert!(std::fs::symlink_metadata(dp.path())
        .unwrap()
        .file_type()
        .is_socket());
}

/// A process of another user (uid 12345) connects to the socket directly,
/// as if the file mode allowed it: the dataplane hands the segment only to
/// its own user, root and members of its access group.
#[test]
fn the_dataplane_hands_the_segment_only_to_allowed_peers() {
    const TEST: &str = "segment::tests::the_dataplane_hands_the_segment_only_to_allowed_peers";
    if let Ok(role) = std::env::var(CHILD_ROLE) {
        let Some((gid, path)) = role.split_once(':') else {
            return;
        };
        let gid: u32 = gid.parse().unwrap();
        // SAFETY: plain credential syscalls in a single-threaded child.
        unsafe {
            assert_eq!(libc::setgroups(0, std::ptr::null()), 0);
            assert_eq!(libc::setgid(gid), 0);
            assert_eq!(libc::setuid(12345), 0);
        }
        let stream = std::os::unix::net::UnixStream::connect(path).unwrap();
        let got = crate::boundary::recv_fd(&stream).unwrap();
        // Exit status tells the parent whether a descriptor arrived.
        std::process::exit(if got.is_some() { 10 } else { 20 });
    }
    if crate::boundary::euid() != 0 {
        eprintln!("skipped: needs root to run a child as another user");
        return;
    }
    let name = Name::new("peers");
    let dp = Segment::create_with_access(&name.0, &small(1), SegmentAccess { group: Some(4242) })
        .unwrap();
    std::fs::set_permissions(dp.path(), std::fs::Permissions::from_mode(0o666)).unwrap();
    let path = dp.path().display().to_string();
    let stranger = run_child(TEST, &format!("777:{path}"));
    let member = run_child(TEST, &format!("4242:{path}"));
    assert_eq!((stranger.code(), member.code()), (Some(20), Some(10)));
}

/// A hostile or broken peer writes garbage into every field the dataplane
/// reads (ring positions and record lengths, header words, seqlock counts,
/// endpoint table, counters) between dataplane operations: every operation
/// returns a value or an error, never panics or strays outside the mapping,
/// and a consumer that reported corruption recovers with `discard_all`.
mod hostile_peer {
    use super::*;
    use proptest::prelude::*;

    struct Dataplane {
        seg: Segment,
        commands: Consumer,
        inject: Consumer,
        replies: Producer,
        punts: Vec<Producer>,
        buf: Vec<u8>,
    }

    impl Dataplane {
        fn new(seg: Segment) -> Dataplane {
            Dataplane {
                commands: seg.command_ring_consumer().unwrap(),
                inject: seg.inject_ring_consumer().unwrap(),
                replies: seg.reply_ring_producer().unwrap(),
                punts: (0..seg.worker_count())
                    .map(|w| seg.punt_ring_producer(w).unwrap())
                    .collect(),
                buf: vec![0u8; 2048],
                seg,
            }
        }

        fn consume(rx: &mut Consumer, buf: &mut Vec<u8>, to_vec: bool) {
            for _ in 0..4 {
                let got = if to_vec {
                    rx.pop_to_vec(buf).map(|some| some.then_some(buf.len()))
                } else {
                    rx.pop_into(buf)
                };
                match got {
                    Ok(Some(len)) => assert!(len <= rx.max_message_len()),
                    Ok(None) => return,
                    Err(PopError::BufferTooSmall { needed, .. }) => {
                        assert!(needed <= rx.max_message_len());
                        rx.discard_all();
                    }
                    Err(PopError::Corrupt(_)) => {
                        rx.discard_all();
                        assert_eq!(rx.pop_into(buf), Ok(None), "discard_all recovers");
                        return;
                    }
                }
            }
        }

        fn step(&mut self, n: usize) {
            for w in 0..self.seg.worker_count() {
                let stats = self.seg.worker_stats(w).unwrap();
                stats.inc(Counter::RxPackets);
                stats.beat(n as u64);
                let slot = stats.endpoint_slot(n as u64 % 80);
                stats.add_endpoint(slot, 1, 60);
                stats.rule_hit(n % (MAX_RULES + 2), 1);
                let push = self.punts[w].push(&vec![n as u8; n * 331 % 3000]);
                assert!(matches!(push, Ok(()) | Err(PushError::Full)), "{push:?}");
            }
            let _ = (self.seg.draining(), self.seg.state(), self.seg.link());
            self.seg.set_state(DataplaneState::Running);
            self.seg.publish_rules(n as u64, 1, &["r1", "r2"]).unwrap();
            self.seg
                .write_port_stats(&PortCounters::default(), [("rx_good", n as u64)]);
            let push = self.replies.push(&vec![1u8; n * 97 % 1500]);
            assert!(matches!(push, Ok(()) | Err(PushError::Full)), "{push:?}");
            Self::consume(&mut self.commands, &mut self.buf, true);
            self.buf.resize(2048, 0);
            Self::consume(&mut self.inject, &mut self.buf, false);
            // What the dataplane reads at exit.
            let _ = (self.seg.counter_totals(), self.seg.endpoint_totals());
            let _ = (self.seg.heartbeats(), self.seg.rule_hit_totals(MAX_RULES));
        }
    }

    /// Byte ranges holding the fields the dataplane reads.
    fn zones(seg: &Segment) -> Vec<(usize, usize)> {
        let l = seg.layout();
        let mut z = vec![
            (0, 4096),
            (l.region(RegionId::RulesInfo).offset, 4096),
            (l.region(RegionId::PortStats).offset, 4096),
        ];
        for w in 0..seg.worker_count() {
            z.push((l.worker_stats_offset(w), 4096));
            z.push((seg.ring_place(RingId::Punt(w)).0, 256));
        }
        for ring in [RingId::Command, RingId::Reply, RingId::Inject] {
            // Control block, then the first records.
            z.push((seg.ring_place(ring).0, 256));
        }
        z
    }

    #[derive(Debug, Clone)]
    enum Garbage {
        /// Fill zone `zone` from byte `at` with `bytes`.
        Zone {
            zone: usize,
            at: usize,
            bytes: Vec<u8>,
        },
        /// One 8-byte word anywhere in the segment.
        Word { at: usize, value: u64 },
        /// A ring's head or tail set near its current head, or the length
        /// of the record at its tail.
        Ring { ring: usize, field: u8, delta: i64 },
    }

    fn garbage() -> impl Strategy<Value = Garbage> {
        let word = prop_oneof![
            any::<u64>(),
            Just(u64::MAX),
            Just(1u64 << 63),
            (0u64..70_000),
        ];
        prop_oneof![
            4 => (0usize..64, 0usize..256, proptest::collection::vec(any::<u8>(), 1..64))
                .prop_map(|(zone, at, bytes)| Garbage::Zone { zone, at, bytes }),
            2 => (0usize..64, (0usize..32).prop_map(|i| i * 8), word.clone())
                .prop_map(|(zone, at, value)| Garbage::Zone {
                    zone,
                    at,
                    bytes: value.to_le_bytes().to_vec(),
                }),
            1 => (any::<usize>(), word).prop_map(|(at, value)| Garbage::Word { at, value }),
            4 => (0usize..8, 0u8..3, prop_oneof![-20_000i64..20_000, any::<i64>()])
                .prop_map(|(ring, field, delta)| Garbage::Ring { ring, field, delta }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn garbage_from_a_peer_never_breaks_the_dataplane(
            ops in proptest::collection::vec(garbage(), 1..40)
        ) {
            let name = Name::new("hostile");
            let seg = Segment::create(&name.0, &small(2)).unwrap();
            let peer = Segment::attach(&name.0).unwrap();
            let zones = zones(&seg);
            let len = seg.layout().total_size;
            // Ring ends taken after the first garbage read their starting
            // positions from it.
            let mut dataplane = None;
            for (n, op) in ops.into_iter().enumerate() {
                match op {
                    Garbage::Zone { zone, at, bytes } => {
                        let (start, size) = zones[zone % zones.len()];
                        let at = start + at % size;
                        let end = (at + bytes.len()).min(start + size);
                        peer.map.poke(at, &bytes[..end - at]);
                    }
                    Garbage::Word { at, value } => {
                        peer.map.poke((at % (len / 8)) * 8, &value.to_le_bytes());
                    }
                    Garbage::Ring { ring, field, delta } => {
                        let rings = [
                            RingId::Command,
                            RingId::Reply,
                            RingId::Inject,
                            RingId::Punt(0),
                            RingId::Punt(1),
                        ];
                        let (at, capacity) = seg.ring_place(rings[ring % rings.len()]);
                        let word = |off: usize| {
                            let mut b = [0u8; 8];
                            peer.map.peek(at + off, &mut b);
                            u64::from_le_bytes(b)
                        };
                        let value = word(0).wrapping_add(delta as u64);
                        match field {
                            0 => peer.map.poke(at, &value.to_le_bytes()),
                            1 => peer.map.poke(at + 64, &value.to_le_bytes()),
                            _ => {
                                let tail = word(64) as usize & (capacity - 1) & !7;
                                let data = at + crate::ring::RING_CONTROL_BYTES;
                                peer.map.poke(data + tail, &(delta as u32).to_le_bytes());
                            }
                        }
                    }
                }
                dataplane
                    .get_or_insert_with(|| Dataplane::new(seg.clone()))
                    .step(n);
            }
        }
    }
}

#[test]
fn access_groups_are_looked_up_by_name() {
    assert_eq!(
        SegmentAccess::for_group("root").unwrap(),
        SegmentAccess { group: Some(0) }
    );
    let err = SegmentAccess::for_group("no-such-group-tollgate").unwrap_err();
    assert_eq!(err.to_string(), "no such group \"no-such-group-tollgate\"");
}
