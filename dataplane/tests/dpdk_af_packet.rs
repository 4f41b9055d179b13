//! The safe layer on `net_af_packet` over a veth pair: real driver limits
//! (queue count from `qpairs`), and 9000-byte frames in both directions in
//! one mbuf segment (the jumbo setup documented in shared/dpdk-here.md).
//! Needs root and iproute2 (scripts/setup.sh provides both).

use std::ffi::CString;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tollgate_dataplane::dpdk::{
    DpdkError, Eal, Mbuf, MbufBurst, Mempool, Port, PortConfig, QueueId, SocketId,
};

mod common;

const ETHERTYPE_TEST: u16 = 0x88b5; // IEEE local experimental: no kernel stack noise
const JUMBO: usize = 9000;

struct Veth {
    dpdk_side: String,
    peer: String,
}

impl Veth {
    fn create() -> Veth {
        let id = std::process::id() % 100_000;
        let v = Veth {
            dpdk_side: format!("tgd{id}"),
            peer: format!("tgp{id}"),
        };
        ip(&[
            "link",
            "add",
            &v.dpdk_side,
            "type",
            "veth",
            "peer",
            "name",
            &v.peer,
        ]);
        for dev in [&v.dpdk_side, &v.peer] {
            ip(&["link", "set", dev, "mtu", "9001", "up"]);
        }
        v
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.dpdk_side])
            .status();
    }
}

fn ip(args: &[&str]) {
    let status = Command::new("ip")
        .args(args)
        .status()
        .expect("iproute2 `ip` (scripts/setup.sh installs it)");
    assert!(status.success(), "ip {args:?} failed (root needed)");
}

/// A raw AF_PACKET socket on the peer end: the "other host".
struct RawSocket {
    fd: i32,
}

impl RawSocket {
    fn bind(ifname: &str) -> RawSocket {
        let proto = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: plain socket creation; the fd is owned by the returned value.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(proto)) };
        assert!(
            fd >= 0,
            "AF_PACKET socket: {}",
            std::io::Error::last_os_error()
        );
        let name = CString::new(ifname).unwrap();
        // SAFETY: name is a valid C string.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        assert_ne!(ifindex, 0, "no interface {ifname}");
        // SAFETY: sockaddr_ll is plain data; zero is a valid starting value.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = proto;
        addr.sll_ifindex = ifindex as i32;
        // SAFETY: addr is a valid sockaddr_ll of the size passed.
        let ret = unsafe {
            libc::bind(
                fd,
                (&addr as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        assert_eq!(ret, 0, "bind: {}", std::io::Error::last_os_error());
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 100_000,
        };
        // SAFETY: tv is a valid timeval of the size passed.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as u32,
            )
        };
        RawSocket { fd }
    }

    fn send(&self, frame: &[u8]) {
        // SAFETY: frame is a valid buffer of the length passed.
        let n = unsafe { libc::send(self.fd, frame.as_ptr().cast(), frame.len(), 0) };
        assert_eq!(
            n,
            frame.len() as isize,
            "send: {}",
            std::io::Error::last_os_error()
        );
    }

    /// The next frame with our test ethertype, within `timeout`.
    fn recv_test_frame(&self, timeout: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0u8; 16384];
        while Instant::now() < deadline {
            // SAFETY: buf is a valid writable buffer of the length passed.
            let n = unsafe { libc::recv(self.fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n >= 14 && buf[12..14] == ETHERTYPE_TEST.to_be_bytes() {
                return Some(buf[..n as usize].to_vec());
            }
        }
        None
    }
}

impl Drop for RawSocket {
    fn drop(&mut self) {
        // SAFETY: we own the fd.
        unsafe { libc::close(self.fd) };
    }
}

fn test_frame(len: usize, seed: u8) -> Vec<u8> {
    let mut f = vec![0u8; len];
    f[..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x02]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
    f[12..14].copy_from_slice(&ETHERTYPE_TEST.to_be_bytes());
    for (i, b) in f.iter_mut().enumerate().skip(14) {
        *b = (i as u8).wrapping_mul(7).wrapping_add(seed);
    }
    f
}

#[test]
fn af_packet_queues_and_jumbo_frames() {
    let veth = Veth::create();
    let vdev = format!(
        "--vdev=net_af_packet0,iface={},qpairs=2,framesz=9216,blocksz=36864,framecnt=512",
        veth.dpdk_side
    );
    let (args, _runtime_dir) = common::no_huge_args("afp", &[&vdev, "-l", "0"]);
    let eal = Eal::init(&args).expect("EAL");

    let mut port = Port::by_name("net_af_packet0").expect("port");
    let info = port.info().unwrap();
    assert_eq!(info.driver_name, "net_af_packet");
    assert_eq!((info.max_rx_queues, info.max_tx_queues), (2, 2));
    let err = port
        .configure(&PortConfig {
            rx_queues: 3,
            tx_queues: 3,
            ..PortConfig::default()
        })
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "port net_af_packet0 has 2 rx queues, 3 needed (one per worker): \
         add qpairs=3 to the vdev or use fewer lcores"
    );
    // The driver refuses MTU 9001 through ethdev (it still moves jumbo frames).
    let err = port
        .configure(&PortConfig {
            rx_queues: 2,
            tx_queues: 2,
            mtu: Some(9001),
            ..PortConfig::default()
        })
        .unwrap_err();
    assert!(matches!(err, DpdkError::Unsupported { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "port net_af_packet0: MTU 9001 requested, driver net_af_packet accepts {}..={} \
             (max frame 1518 bytes)",
            info.min_mtu, info.max_mtu
        )
    );
    assert_eq!((info.max_mtu, info.driver_max_mtu), (1500, u16::MAX));

    let pool = Arc::new(Mempool::new("afp_pool", 2047, 32, 9216 + 128, SocketId::ANY).unwrap());
    port.configure(&PortConfig {
        rx_queues: 2,
        tx_queues: 2,
        ..PortConfig::default()
    })
    .unwrap();
    for q in 0..2 {
        port.setup_rx_queue(QueueId(q), 512, &pool).unwrap();
        port.setup_tx_queue(QueueId(q), 512).unwrap();
    }
    port.start().unwrap();
    let mut pairs: Vec<_> = (0..2)
        .map(|q| port.queue_pair(QueueId(q)).unwrap())
        .collect();
    let baseline = pool.in_use_count();
    let peer = RawSocket::bind(&veth.peer);

    // DPDK → peer: a 9000-byte frame leaves whole.
    let frame = test_frame(JUMBO, 1);
    let mut m = Mbuf::alloc(&pool).unwrap();
    m.append(JUMBO).unwrap().copy_from_slice(&frame);
    assert_eq!(m.nb_segs(), 1);
    let mut burst = MbufBurst::<4>::new();
    burst.push(m).unwrap();
    assert_eq!(pairs[0].1.tx_burst(&mut burst), 1);
    let got = peer
        .recv_test_frame(Duration::from_secs(2))
        .expect("peer receives the jumbo frame");
    assert_eq!(got, frame);

    // peer → DPDK: 64 and 9000-byte frames arrive whole in one segment, on
    // whichever queue the kernel's fanout chose.
    for (len, seed) in [(64, 2u8), (JUMBO, 3)] {
        let frame = test_frame(len, seed);
        peer.send(&frame);
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut found = None;
        'poll: while Instant::now() < deadline {
            for (rxq, _) in pairs.iter_mut() {
                let mut rx = MbufBurst::<32>::new();
                rxq.rx_burst(&mut rx);
                for m in rx.drain() {
                    if m.data().get(12..14) == Some(&ETHERTYPE_TEST.to_be_bytes()[..]) {
                        found = Some((m.nb_segs(), m.pkt_len(), m.data().to_vec()));
                        break 'poll;
                    }
                }
            }
        }
        let (segs, pkt_len, data) = found.expect("DPDK receives the frame");
        assert_eq!((segs, pkt_len as usize), (1, len));
        assert_eq!(data, frame);
    }

    assert_eq!(pool.in_use_count(), baseline, "no mbuf leaked");
    let stats = port.stats().unwrap();
    assert!(stats.opackets >= 1 && stats.ipackets >= 2, "{stats:?}");

    drop(pairs);
    port.close().unwrap();
    assert_eq!(pool.in_use_count(), 0);
    drop(pool);
    drop(eal);
}
