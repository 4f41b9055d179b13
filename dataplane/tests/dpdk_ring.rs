//! The safe DPDK layer on a real PMD: `net_ring` loops every packet sent on
//! a TX queue back to the RX queue of the same number.
//!
//! One test function: EAL starts once per process, and the steps share it.

use std::collections::BTreeSet;
use std::sync::Arc;

use tollgate_dataplane::dpdk::{
    offload, CksumStatus, DpdkError, Eal, Mbuf, MbufBurst, MbufError, Mempool, Port, PortConfig,
    QueueId, RxQueue, SocketId, TxQueue,
};

const BURST: usize = 32;
const N_PACKETS: usize = 200;
const PAYLOAD_LEN: usize = 96;

mod common;

fn eal_args() -> (Vec<String>, common::RuntimeDir) {
    common::no_huge_args("ring", &["--vdev=net_ring0", "-l", "0"])
}

/// A payload that identifies packet `i`: index, then a pattern derived from it.
fn payload(i: usize) -> Vec<u8> {
    let mut p = vec![0u8; PAYLOAD_LEN];
    p[..4].copy_from_slice(&(i as u32).to_be_bytes());
    for (j, b) in p.iter_mut().enumerate().skip(5) {
        *b = (i.wrapping_mul(31) + j) as u8;
    }
    p
}

fn index_of(data: &[u8]) -> usize {
    u32::from_be_bytes(data[..4].try_into().unwrap()) as usize
}

#[test]
fn net_ring_loopback_without_leaks() {
    let (args, _runtime_dir) = eal_args();
    let eal = Eal::init(&args).expect("EAL starts with --no-huge");

    second_init_is_an_error(&args);
    unknown_port_names_the_existing_ones();

    let mut port = Port::by_name("net_ring0").expect("net_ring0 exists");
    let info = port.info().expect("info");
    assert_eq!(info.driver_name, "net_ring");
    assert!(info.max_rx_queues >= 1 && info.max_tx_queues >= 1);
    too_many_queues_is_refused(&mut port, info.max_rx_queues);
    unsupported_offload_is_refused(&mut port, info.tx_offload_capa);

    assert_eq!(
        Mempool::new("bad_cache", 100, 512, 2176, SocketId::ANY)
            .unwrap_err()
            .to_string(),
        "rte_pktmbuf_pool_create(\"bad_cache\", 100 mbufs): invalid argument: \
         cache size 512 must be at most 512 and at most 2/3 of the pool"
    );
    assert!(Mempool::new("bad_room", 100, 0, 64, SocketId::ANY).is_err());
    let pool = Arc::new(Mempool::new("ring_test", 4095, 32, 2176, SocketId::ANY).expect("mempool"));
    assert_eq!(pool.avail_count(), 4095);
    assert_eq!(pool.data_room(), 2048);

    port.configure(&PortConfig {
        rx_queues: 1,
        tx_queues: 1,
        ..PortConfig::default()
    })
    .expect("configure 1 queue pair");
    assert!(
        matches!(port.queue_pair(QueueId(0)), Err(DpdkError::Queue { .. })),
        "queue pair before setup must fail"
    );
    port.setup_rx_queue(QueueId(0), 256, &pool)
        .expect("rx queue");
    port.setup_tx_queue(QueueId(0), 256).expect("tx queue");
    port.start().expect("start");
    let (mut rxq, mut txq) = port.queue_pair(QueueId(0)).expect("first queue pair");
    let again = port.queue_pair(QueueId(0)).unwrap_err();
    assert_eq!(
        again.to_string(),
        "port net_ring0 queue 0: queue pair already handed out"
    );
    assert!(port.queue_pair(QueueId(1)).is_err());

    let baseline = pool.in_use_count();
    assert_eq!(
        Port::by_name("net_ring0").unwrap_err().to_string(),
        "port net_ring0: is already open in this process (one Port handle per port)"
    );
    assert!(
        port.configure(&PortConfig {
            rx_queues: 1,
            tx_queues: 1,
            ..PortConfig::default()
        })
        .is_err(),
        "reconfiguring under live queue handles must fail"
    );

    mbuf_length_operations(&pool);
    tx_then_rx_returns_every_payload(&pool, &mut rxq, &mut txq);
    assert_eq!(pool.in_use_count(), baseline, "leak after tx/rx round trip");

    forward_like_a_worker(&pool, &mut rxq, &mut txq);
    assert_eq!(pool.in_use_count(), baseline, "leak after forwarding loop");

    chained_packet_crosses_whole(&pool, &mut rxq, &mut txq);
    assert_eq!(pool.in_use_count(), baseline, "leak after chained packet");

    burst_filters_keep_order_and_free_once(&pool);
    assert_eq!(pool.in_use_count(), baseline, "leak after burst filters");

    partial_tx_keeps_the_rest(&pool, &mut rxq, &mut txq);
    assert_eq!(pool.in_use_count(), baseline, "leak after partial tx");

    let stats = port.stats().expect("stats");
    assert!(
        stats.opackets > 0 && stats.opackets == stats.ipackets,
        "{stats:?}"
    );
    let xstats = port.xstats().expect("xstats");
    assert_eq!(xstats.get("tx_good_packets"), Some(stats.opackets));
    assert_eq!(xstats.get("rx_good_packets"), Some(stats.ipackets));
    let link = port.link().expect("link");
    assert!(link.up, "net_ring reports link up once started");
    assert_eq!(port.mac_addr().expect("mac").len(), 6);

    pool_dropped_with_mbufs_out_is_leaked_not_freed();

    // A worker might still poll: the port refuses to stop under live queues.
    assert_eq!(
        port.stop().unwrap_err().to_string(),
        "port net_ring0: 2 queue handles are still alive; let the workers return \
         (Eal::wait_all) and drop their queues first"
    );
    // The port and the RX queue handle each keep the pool alive.
    assert_eq!(Arc::strong_count(&pool), 3);
    drop((rxq, txq));
    port.stop().expect("stop");
    port.close().expect("close");
    assert_eq!(pool.in_use_count(), 0);
    let pool = Arc::try_unwrap(pool).expect("last reference");
    drop(pool);
    drop(eal);
}

fn second_init_is_an_error(args: &[String]) {
    let err = Eal::init(args).unwrap_err();
    assert_eq!(err, DpdkError::EalAlreadyInitialised);
    assert_eq!(
        err.to_string(),
        "rte_eal_init: already called in this process (DPDK allows one EAL init per process, even after a failure)"
    );
}

fn unknown_port_names_the_existing_ones() {
    let err = Port::by_name("net_nosuch0").unwrap_err();
    assert_eq!(
        err.to_string(),
        "no DPDK port named \"net_nosuch0\"; ports that exist: net_ring0"
    );
}

fn too_many_queues_is_refused(port: &mut Port, max_rx: u16) {
    let wanted = max_rx + 1;
    let err = port
        .configure(&PortConfig {
            rx_queues: wanted,
            tx_queues: 1,
            ..PortConfig::default()
        })
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "port net_ring0 has {max_rx} rx queues, {wanted} needed (one per worker): \
             add qpairs={wanted} to the vdev or use fewer lcores"
        )
    );
}

fn unsupported_offload_is_refused(port: &mut Port, tx_capa: u64) {
    assert_eq!(
        tx_capa & offload::TX_OFFLOAD_IPV4_CKSUM,
        0,
        "net_ring has no csum offload"
    );
    let err = port
        .configure(&PortConfig {
            rx_queues: 1,
            tx_queues: 1,
            tx_offloads: offload::TX_OFFLOAD_IPV4_CKSUM,
            ..PortConfig::default()
        })
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "port net_ring0: TX offloads not supported: IPV4_CKSUM"
    );
}

fn mbuf_length_operations(pool: &Mempool) {
    let before = pool.in_use_count();
    let mut m = Mbuf::alloc(pool).expect("mbuf");
    assert_eq!(pool.in_use_count(), before + 1);
    assert_eq!((m.data_len(), m.pkt_len(), m.nb_segs()), (0, 0, 1));
    assert_eq!(m.headroom(), 128);
    assert_eq!(m.tailroom(), 2048);

    m.append(10).unwrap().copy_from_slice(b"0123456789");
    m.prepend(2).unwrap().copy_from_slice(b"ab");
    assert_eq!(m.data(), b"ab0123456789");
    assert_eq!(m.pkt_len(), 12);
    m.adj(3).unwrap();
    m.trim(4).unwrap();
    assert_eq!(m.data(), b"12345");
    m.data_mut()[0] = b'X';
    assert_eq!(m.data(), b"X2345");

    assert_eq!(
        m.append(5000).unwrap_err(),
        MbufError::NoTailroom {
            wanted: 5000,
            available: 2048 - 10 + 4
        } // (append took 10 from the tail, trim gave 4 back; prepend/adj touch the head)
    );
    assert_eq!(
        m.trim(6).unwrap_err(),
        MbufError::TooShort {
            wanted: 6,
            available: 5
        }
    );
    assert_eq!(
        m.adj(6).unwrap_err(),
        MbufError::TooShort {
            wanted: 6,
            available: 5
        }
    );
    assert_eq!(
        m.prepend(200).unwrap_err(),
        MbufError::NoHeadroom {
            wanted: 200,
            available: 129
        }
    );
    assert_eq!(m.data(), b"X2345", "failed operations leave the data alone");

    // In-place rewrite that grows the packet, then fix the length.
    let room = m.data_with_tailroom_mut();
    assert_eq!(room.len(), 2048 + 128 - 129);
    assert_eq!(&room[..5], b"X2345");
    room[5..8].copy_from_slice(b"678");
    m.set_data_len(8).unwrap();
    assert_eq!((m.data(), m.pkt_len()), (&b"X2345678"[..], 8));
    assert!(m.set_data_len(2048 + 128 - 129 + 1).is_err());
    m.set_data_len(5).unwrap();
    assert_eq!(m.data(), b"X2345");

    assert_eq!(m.rss_hash(), None);
    assert_eq!(m.rx_ip_cksum(), CksumStatus::Unknown);
    m.set_tx_ipv4_cksum(14, 20);
    assert_ne!(m.ol_flags() & tollgate_ffi::RTE_MBUF_F_TX_IP_CKSUM, 0);
    m.clear_tx_offloads();
    assert_eq!(m.ol_flags() & tollgate_ffi::RTE_MBUF_F_TX_OFFLOAD_MASK, 0);
    // The buffer-ownership flags cannot be forged (free would trust them).
    m.set_ol_flags(u64::MAX);
    let ownership = tollgate_ffi::RTE_MBUF_F_EXTERNAL | tollgate_ffi::RTE_MBUF_F_INDIRECT;
    assert_eq!(m.ol_flags(), !ownership);
    m.set_ol_flags(0);

    // into_raw/from_raw move ownership without freeing.
    let raw = m.into_raw();
    assert_eq!(pool.in_use_count(), before + 1);
    // SAFETY: raw came from into_raw just above and nothing else owns it.
    let m = unsafe { Mbuf::from_raw(raw) };
    drop(m);
    assert_eq!(pool.in_use_count(), before);

    // Burst bookkeeping: push/pop, full burst, drain with early stop frees the rest.
    let mut burst = MbufBurst::<4>::new();
    for _ in 0..4 {
        burst.push(Mbuf::alloc(pool).unwrap()).unwrap();
    }
    let extra = Mbuf::alloc(pool).unwrap();
    let extra = burst.push(extra).unwrap_err();
    drop(extra);
    assert_eq!(pool.in_use_count(), before + 4);
    let first = burst.drain().next().expect("one");
    assert!(burst.is_empty());
    assert_eq!(
        pool.in_use_count(),
        before + 1,
        "drain frees what it did not yield"
    );
    drop(first);
    burst.push(Mbuf::alloc(pool).unwrap()).unwrap();
    assert!(burst.pop().is_some());
    assert!(burst.pop().is_none());
    assert_eq!(pool.in_use_count(), before);
}

/// A 3-segment packet goes through TX and RX and is freed as one.
fn chained_packet_crosses_whole(pool: &Mempool, rxq: &mut RxQueue, txq: &mut TxQueue) {
    let before = pool.in_use_count();
    let mut head = Mbuf::alloc(pool).unwrap();
    head.append(3).unwrap().copy_from_slice(b"abc");
    for part in [&b"defg"[..], &b"hi"[..]] {
        let mut seg = Mbuf::alloc(pool).unwrap();
        seg.append(part.len()).unwrap().copy_from_slice(part);
        head.chain(seg).expect("chain");
    }
    assert_eq!((head.nb_segs(), head.pkt_len(), head.data_len()), (3, 9, 3));
    assert!(!head.is_contiguous());
    assert_eq!(pool.in_use_count(), before + 3);
    let mut burst = MbufBurst::<BURST>::new();
    burst.push(head).unwrap();
    assert_eq!(txq.tx_burst(&mut burst), 1);
    assert_eq!(rxq.rx_burst(&mut burst), 1);
    let m = burst.pop().unwrap();
    let segs: Vec<&[u8]> = m.segments().collect();
    assert_eq!(segs, vec![&b"abc"[..], &b"defg"[..], &b"hi"[..]]);
    drop(m);
    assert_eq!(
        pool.in_use_count(),
        before,
        "freeing the head frees every segment"
    );
}

fn fill(pool: &Mempool, burst: &mut MbufBurst<BURST>, range: std::ops::Range<usize>) {
    for i in range {
        let mut m = Mbuf::alloc(pool).expect("pool has room");
        m.append(PAYLOAD_LEN).unwrap().copy_from_slice(&payload(i));
        burst.push(m).expect("burst has room");
    }
}

fn tx_then_rx_returns_every_payload(pool: &Mempool, rxq: &mut RxQueue, txq: &mut TxQueue) {
    let mut burst = MbufBurst::<BURST>::new();
    let mut sent = 0;
    while sent < N_PACKETS {
        let n = BURST.min(N_PACKETS - sent);
        fill(pool, &mut burst, sent..sent + n);
        assert_eq!(txq.tx_burst(&mut burst), n, "ring has room for all");
        assert!(burst.is_empty());
        sent += n;
    }
    let mut seen = Vec::new();
    let mut rx = MbufBurst::<BURST>::new();
    while rxq.rx_burst(&mut rx) > 0 {
        for m in rx.drain() {
            assert_eq!(m.data_len() as usize, PAYLOAD_LEN);
            let i = index_of(m.data());
            assert_eq!(m.data(), payload(i).as_slice(), "payload of packet {i}");
            seen.push(i);
        }
    }
    assert_eq!(
        seen,
        (0..N_PACKETS).collect::<Vec<_>>(),
        "all back, in order"
    );
}

/// RX→TX on the same queue pair for a number of rounds, bumping a hop count
/// in byte 4 of each payload, then drain and check every packet made every hop.
fn forward_like_a_worker(pool: &Mempool, rxq: &mut RxQueue, txq: &mut TxQueue) {
    const ROUNDS: u8 = 50;
    let mut burst = MbufBurst::<BURST>::new();
    fill(pool, &mut burst, 0..BURST);
    assert_eq!(txq.tx_burst(&mut burst), BURST);
    for _ in 0..ROUNDS {
        let got = rxq.rx_burst(&mut burst);
        assert_eq!(got, BURST);
        for m in burst.as_mut_slice() {
            m.data_mut()[4] += 1;
        }
        assert_eq!(txq.tx_burst(&mut burst), BURST);
    }
    let mut indices = BTreeSet::new();
    assert_eq!(rxq.rx_burst(&mut burst), BURST);
    for m in burst.drain() {
        assert_eq!(m.data()[4], ROUNDS);
        indices.insert(index_of(m.data()));
    }
    assert_eq!(indices, (0..BURST).collect());
    assert_eq!(rxq.rx_burst(&mut burst), 0, "nothing left in the ring");
}

/// Fill the ring until tx_burst accepts only part of a burst: the refused
/// mbufs must still be owned by the burst (in order), then retried or
/// dropped, with no leak and no double free.
fn partial_tx_keeps_the_rest(pool: &Mempool, rxq: &mut RxQueue, txq: &mut TxQueue) {
    let before = pool.in_use_count();
    let mut burst = MbufBurst::<BURST>::new();
    let mut next = 0;
    let mut accepted_total = 0;
    let partial = loop {
        assert!(next < 4000, "net_ring never refused a packet");
        fill(pool, &mut burst, next..next + BURST);
        next += BURST;
        let k = txq.tx_burst(&mut burst);
        accepted_total += k;
        if k < BURST {
            break k;
        }
    };
    let unsent = BURST - partial;
    assert_eq!(burst.len(), unsent);
    // The refused packets are the tail of the burst, moved to the front.
    let first_unsent = next - unsent;
    let kept: Vec<usize> = burst
        .as_slice()
        .iter()
        .map(|m| index_of(m.data()))
        .collect();
    assert_eq!(kept, (first_unsent..next).collect::<Vec<_>>());
    assert_eq!(
        pool.in_use_count(),
        before + (accepted_total + unsent) as u32
    );

    // Retrying with the ring still full sends nothing and still owns all.
    assert_eq!(txq.tx_burst(&mut burst), 0);
    assert_eq!(burst.len(), unsent);

    // Drain some, retry: part of the rest goes out.
    let mut rx = MbufBurst::<BURST>::new();
    let mut received = Vec::new();
    assert!(rxq.rx_burst(&mut rx) > 0);
    received.extend(rx.drain().map(|m| index_of(m.data())));
    let k = txq.tx_burst(&mut burst);
    assert!(k > 0);
    accepted_total += k;

    // Whatever is still refused is dropped and counted.
    let dropped = burst.drop_unsent();
    assert_eq!(dropped, unsent - k);
    assert!(burst.is_empty());

    loop {
        if rxq.rx_burst(&mut rx) == 0 {
            break;
        }
        received.extend(rx.drain().map(|m| index_of(m.data())));
    }
    assert_eq!(received.len(), accepted_total);
    let expected: Vec<usize> = (0..next - unsent)
        .chain(first_unsent..first_unsent + k)
        .collect();
    assert_eq!(
        received, expected,
        "ring order: accepted packets, then the retried ones"
    );
    assert_eq!(pool.in_use_count(), before);
}

fn pool_dropped_with_mbufs_out_is_leaked_not_freed() {
    let pool = Mempool::new("leak_guard", 63, 0, 2176, SocketId::ANY).unwrap();
    let mut m = Mbuf::alloc(&pool).unwrap();
    drop(pool);
    // The pool's memory must still be valid: write and free the mbuf.
    m.append(4).unwrap().copy_from_slice(b"live");
    assert_eq!(m.data(), b"live");
    drop(m);
}

/// `retain` frees what it rejects; `retain_owned` hands out what it does
/// not keep. Both keep the kept packets in order.
fn burst_filters_keep_order_and_free_once(pool: &Mempool) {
    let before = pool.in_use_count();
    let mut burst = MbufBurst::<8>::new();
    for i in 0..8u8 {
        let mut m = Mbuf::alloc(pool).unwrap();
        m.append(1).unwrap()[0] = i;
        burst.push(m).unwrap();
    }
    let tag = |m: &Mbuf| m.data()[0];

    let freed = burst.retain(|m| tag(m) % 3 != 0);
    assert_eq!(freed, 3, "0, 3 and 6 rejected");
    let kept: Vec<u8> = burst.as_slice().iter().map(tag).collect();
    assert_eq!(kept, [1, 2, 4, 5, 7]);
    assert_eq!(pool.in_use_count(), before + 5, "rejected mbufs freed");

    let mut taken = Vec::new();
    burst.retain_owned(|m| {
        if tag(&m) % 2 == 0 {
            taken.push(m);
            None
        } else {
            Some(m)
        }
    });
    let kept: Vec<u8> = burst.as_slice().iter().map(tag).collect();
    assert_eq!(kept, [1, 5, 7]);
    assert_eq!(taken.iter().map(tag).collect::<Vec<_>>(), [2, 4]);
    assert_eq!(
        pool.in_use_count(),
        before + 5,
        "retain_owned frees nothing itself"
    );
    drop(taken);
    assert_eq!(burst.retain(|_| true), 0);
    drop(burst);
    assert_eq!(pool.in_use_count(), before);
}
