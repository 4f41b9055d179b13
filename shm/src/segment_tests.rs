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
fn empty_file_is_not_ready() {
    let name = Name::new("empty");
    std::fs::write(segment_path(&name.0).unwrap(), b"").unwrap();
    assert!(matches!(
        Segment::attach(&name.0),
        Err(ShmError::NotReady { .. })
    ));
}

#[test]
fn recreate_makes_attached_readers_stale_and_keeps_the_new_file() {
    let name = Name::new("stale");
    let first = Segment::create(&name.0, &small(1)).unwrap();
    let ctl = Segment::attach(&name.0).unwrap();
    ctl.worker_stats(0).unwrap(); // mapping in use
    first.worker_stats(0).unwrap().add(Counter::RxPackets, 5);
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
    // Overwrite the pending record's length through the other mapping's bytes.
    std::fs::OpenOptions::new()
        .write(true)
        .open(dp.path())
        .and_then(|f| {
            use std::os::unix::fs::FileExt;
            f.write_all_at(&9999u32.to_le_bytes(), (data + tail) as u64)
        })
        .unwrap();
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
