//! Ring concurrency through a real /dev/shm segment: two threads, and two
//! processes (this test binary re-run as a child). Millions of
//! variable-length messages carry a sequence number and a checksum; the
//! consumer checks order, loss, duplication and content; the small ring
//! forces the producer to see `Full` and retry. Each run is bounded by a
//! deadline so a slow machine sends fewer messages rather than hanging.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tollgate_shm::{Consumer, Producer, PushError, Segment, SegmentConfig, ShmError};

const RING_BYTES: usize = 64 << 10;
const MAX_PAYLOAD: usize = 600;
const CHILD_ENV: &str = "TOLLGATE_SHM_STRESS_SEGMENT";
const END_OF_STREAM: u64 = u64::MAX;
/// Fewest messages a run sends, however busy the host.
const MIN_MESSAGES: u64 = 100_000;

fn target_messages() -> u64 {
    std::env::var("TOLLGATE_SHM_STRESS_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000)
}

fn produce_budget() -> Duration {
    Duration::from_secs(3)
}

fn config() -> SegmentConfig {
    SegmentConfig {
        workers: 1,
        punt_ring_bytes: RING_BYTES,
        command_ring_bytes: 4096,
        reply_ring_bytes: 4096,
        inject_ring_bytes: 4096,
        ..SegmentConfig::default()
    }
}

/// Removes the segment file even if the test fails.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Ok(p) = tollgate_shm::segment_path(&self.0) {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn mix(mut x: u64) -> u64 {
    // splitmix64: message length and content follow from the sequence number.
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Source of payload bytes: a message is a slice of it at a seq-dependent offset.
fn pattern() -> &'static [u8] {
    static PATTERN: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    PATTERN.get_or_init(|| {
        (0..2 * MAX_PAYLOAD as u64 / 8 + 1)
            .flat_map(|i| mix(i ^ 0x5eed).to_le_bytes())
            .collect()
    })
}

/// Word-wise checksum (cheap enough for unoptimised test builds).
fn checksum(bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(8);
    let mut h = bytes.len() as u64;
    for c in &mut chunks {
        h = (h ^ u64::from_le_bytes(c.try_into().unwrap()))
            .wrapping_mul(0x0100_0000_01b3)
            .rotate_left(29);
    }
    for &b in chunks.remainder() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// `seq (8) | payload (0..MAX_PAYLOAD) | checksum(seq | payload) (8)`.
fn encode(seq: u64, buf: &mut Vec<u8>) {
    buf.clear();
    buf.extend_from_slice(&seq.to_le_bytes());
    let r = mix(seq);
    let len = (r % MAX_PAYLOAD as u64) as usize;
    let offset = ((r >> 32) % MAX_PAYLOAD as u64) as usize;
    buf.extend_from_slice(&pattern()[offset..offset + len]);
    let sum = checksum(buf);
    buf.extend_from_slice(&sum.to_le_bytes());
}

fn producer_loop(tx: &mut Producer, deadline: Instant) -> (u64, u64) {
    let target = target_messages();
    let mut buf = Vec::with_capacity(MAX_PAYLOAD + 16);
    let (mut sent, mut fulls) = (0u64, 0u64);
    // Past the deadline only until the minimum the tests assert: a host
    // busy with other work sends fewer messages, not too few to prove much.
    let hard_stop = deadline + Duration::from_secs(20);
    while sent < target && (Instant::now() < deadline || sent < MIN_MESSAGES) {
        assert!(Instant::now() < hard_stop, "only {sent} messages in 23 s");
        encode(sent, &mut buf);
        loop {
            match tx.push(&buf) {
                Ok(()) => break,
                Err(PushError::Full) => {
                    fulls += 1;
                    // Let the consumer run: on a busy 2-core host spinning only burns its slice.
                    std::thread::yield_now();
                }
                Err(e) => panic!("push failed: {e}"),
            }
        }
        sent += 1;
    }
    // A consumer that died leaves the ring full: fail instead of hanging.
    let give_up = Instant::now() + Duration::from_secs(20);
    while tx.push(&END_OF_STREAM.to_le_bytes()).is_err() {
        assert!(Instant::now() < give_up, "consumer stopped consuming");
        std::thread::yield_now();
    }
    (sent, fulls)
}

/// Returns how many messages arrived, all checked.
fn consumer_loop(rx: &mut Consumer, give_up: Instant) -> u64 {
    let mut buf = vec![0u8; rx.max_message_len()];
    let mut expected = Vec::with_capacity(MAX_PAYLOAD + 16);
    let mut next = 0u64;
    loop {
        let len = match rx.pop_into(&mut buf).expect("pop") {
            Some(len) => len,
            None => {
                assert!(
                    Instant::now() < give_up,
                    "consumer timed out after {next} messages"
                );
                std::thread::yield_now();
                continue;
            }
        };
        let msg = &buf[..len];
        let seq = u64::from_le_bytes(msg[..8].try_into().unwrap());
        if seq == END_OF_STREAM && len == 8 {
            return next;
        }
        assert_eq!(seq, next, "out of order, lost or duplicated message");
        encode(seq, &mut expected);
        assert_eq!(len, expected.len(), "length of message {seq}");
        let (body, sum) = msg.split_at(len - 8);
        assert_eq!(
            u64::from_le_bytes(sum.try_into().unwrap()),
            checksum(body),
            "checksum of {seq}"
        );
        assert_eq!(msg, &expected[..], "content of message {seq}");
        next += 1;
    }
}

#[test]
fn two_threads_through_a_small_ring() {
    let name = format!("stress-thr-{}", std::process::id());
    let _cleanup = Cleanup(name.clone());
    let seg = Segment::create(&name, &config()).unwrap();
    let mut tx = seg.punt_ring_producer(0).unwrap();
    let mut rx = seg.punt_ring_consumer(0).unwrap();
    let start = Instant::now();
    let consumer =
        std::thread::spawn(move || consumer_loop(&mut rx, start + Duration::from_secs(30)));
    let (sent, fulls) = producer_loop(&mut tx, start + produce_budget());
    let received = consumer.join().unwrap();
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "two threads: {sent} messages in {secs:.2} s ({:.2} M msg/s), producer saw Full {fulls} times",
        sent as f64 / secs / 1e6
    );
    assert_eq!(received, sent);
    assert!(
        sent >= MIN_MESSAGES.min(target_messages()),
        "only {sent} messages"
    );
    assert!(
        fulls > 0,
        "the ring never filled: the test did not exercise Full"
    );
}

#[test]
fn two_processes_through_dev_shm() {
    let name = format!("stress-proc-{}", std::process::id());
    let _cleanup = Cleanup(name.clone());
    let seg = Segment::create(&name, &config()).unwrap();
    let mut tx = seg.punt_ring_producer(0).unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "stress_child_consumer",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &name)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let (sent, fulls) = producer_loop(&mut tx, start + produce_budget());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("child consumer did not finish");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let secs = start.elapsed().as_secs_f64();
    let out = std::io::read_to_string(child.stdout.take().unwrap()).unwrap();
    assert!(status.success(), "child failed: {out}");
    let received: u64 = out
        .lines()
        .find_map(|l| l.split("stress child received ").nth(1))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no count from child: {out}"));
    eprintln!(
        "two processes: {sent} messages in {secs:.2} s ({:.2} M msg/s), producer saw Full {fulls} times",
        sent as f64 / secs / 1e6
    );
    assert_eq!(received, sent);
    assert!(
        sent >= MIN_MESSAGES.min(target_messages()),
        "only {sent} messages"
    );
    assert!(
        fulls > 0,
        "the ring never filled: the test did not exercise Full"
    );
}

/// The consumer half of `two_processes_through_dev_shm`; does nothing unless
/// started by it.
#[test]
#[ignore = "run as a child process by two_processes_through_dev_shm"]
fn stress_child_consumer() {
    let Ok(name) = std::env::var(CHILD_ENV) else {
        return;
    };
    let give_up = Instant::now() + Duration::from_secs(30);
    let seg = loop {
        match Segment::attach(&name) {
            Ok(seg) => break seg,
            Err(ShmError::NotReady { .. }) if Instant::now() < give_up => {
                std::thread::sleep(Duration::from_millis(1))
            }
            Err(e) => panic!("attach: {e}"),
        }
    };
    let mut rx = seg.punt_ring_consumer(0).unwrap();
    let received = consumer_loop(&mut rx, give_up);
    println!("stress child received {received}");
}

/// Uncontended cost of one push plus one pop, for the report:
/// `cargo test --release -p tollgate-shm --test ring_stress -- --ignored --nocapture ring_cost`.
#[test]
#[ignore = "a measurement, not a check"]
fn ring_cost() {
    let name = format!("stress-cost-{}", std::process::id());
    let _cleanup = Cleanup(name.clone());
    let seg = Segment::create(&name, &config()).unwrap();
    let mut tx = seg.punt_ring_producer(0).unwrap();
    let mut rx = seg.punt_ring_consumer(0).unwrap();
    let mut buf = vec![0u8; rx.max_message_len()];
    for size in [64usize, 300, 1500, 9216] {
        let msg = vec![7u8; size];
        let n = 1_000_000 / (1 + size / 1000);
        let start = Instant::now();
        for _ in 0..n {
            tx.push(&msg).unwrap();
            rx.pop_into(&mut buf).unwrap().unwrap();
        }
        eprintln!(
            "push+pop of {size} bytes: {:.1} ns",
            start.elapsed().as_nanos() as f64 / n as f64
        );
    }
}
