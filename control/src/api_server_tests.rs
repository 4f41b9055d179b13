//! The control socket under abuse: idle, trickling and oversized clients.

use super::*;
use crate::api::call;
use std::io::ErrorKind;
use std::io::{BufRead, BufReader, Read, Write};
use std::time::Instant;

/// A socket served by [`serve`] and a stand-in service that answers
/// `drain` at once and never answers `status`.
fn start(dir: &Path) -> (std::path::PathBuf, Arc<ServerCounters>) {
    let path = dir.join("control.sock");
    let listener = bind(&path, None).unwrap();
    let counters = serve_stand_in(listener, Duration::from_secs(1));
    (path, counters)
}

/// Serves `listener` (answers waited for `answer_within`) for a stand-in
/// service that answers `drain` at once and never answers the rest.
pub(super) fn serve_stand_in(
    listener: UnixListener,
    answer_within: Duration,
) -> Arc<ServerCounters> {
    let (tx, rx) = mpsc::channel::<ApiCall>();
    let counters = Arc::new(ServerCounters::default());
    let served = counters.clone();
    std::thread::spawn(move || serve(listener, tx, answer_within, served));
    std::thread::spawn(move || {
        for (request, reply) in rx {
            if request == ApiRequest::Drain {
                let _ = reply.send(ApiResponse::Draining {
                    draining: true,
                    attached: false,
                });
            }
        }
    });
    counters
}

fn drained(path: &Path, timeout: Duration) -> ApiResponse {
    call(path, &ApiRequest::Drain, timeout).unwrap()
}

const DRAINED: ApiResponse = ApiResponse::Draining {
    draining: true,
    attached: false,
};

/// Whether the server has closed `stream` (EOF or reset) within `within`.
fn closed_by_server(stream: &mut UnixStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {
                return false
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn idle_connections_never_lock_out_a_request() {
    let dir = tempfile::tempdir().unwrap();
    let (path, counters) = start(dir.path());
    let idle: Vec<UnixStream> = (0..3 * MAX_CONNECTIONS)
        .map(|_| UnixStream::connect(&path).unwrap())
        .collect();
    let started = Instant::now();
    assert_eq!(drained(&path, Duration::from_secs(2)), DRAINED);
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(ServerCounters::get(&counters.cut) >= 2 * MAX_CONNECTIONS as u64);
    assert_eq!(ServerCounters::get(&counters.refused), 0);
    drop(idle);
}

#[test]
fn at_the_cap_the_oldest_idle_connection_is_cut_and_the_newest_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (path, counters) = start(dir.path());
    let mut idle: Vec<UnixStream> = (0..MAX_CONNECTIONS + 4)
        .map(|_| {
            let s = UnixStream::connect(&path).unwrap();
            // Accepted in order: the server sees them one by one.
            std::thread::sleep(Duration::from_millis(5));
            s
        })
        .collect();
    let mut newest = idle.split_off(4);
    for s in &mut idle {
        assert!(closed_by_server(s, Duration::from_secs(2)));
    }
    let last = newest.last_mut().unwrap();
    assert!(!closed_by_server(last, Duration::from_millis(200)));
    // The kept connection still gets its answer.
    last.write_all(b"{\"command\":\"drain\"}\n").unwrap();
    last.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut answer = String::new();
    BufReader::new(&*last).read_line(&mut answer).unwrap();
    assert_eq!(
        serde_json::from_str::<ApiResponse>(&answer).unwrap(),
        DRAINED
    );
    assert_eq!(ServerCounters::get(&counters.cut), 4);
}

#[test]
fn a_trickling_client_delays_nobody_and_is_cut_at_its_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let (path, counters) = start(dir.path());
    let slow = UnixStream::connect(&path).unwrap();
    let mut writer = slow.try_clone().unwrap();
    let started = Instant::now();
    let trickle = std::thread::spawn(move || {
        for b in b"{\"command\":\"drain\"" {
            if writer.write_all(&[*b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    std::thread::sleep(Duration::from_millis(1500));
    let t = Instant::now();
    assert_eq!(drained(&path, Duration::from_secs(2)), DRAINED);
    assert!(t.elapsed() < Duration::from_millis(500));
    slow.set_read_timeout(Some(REQUEST_READ_DEADLINE + Duration::from_secs(2)))
        .unwrap();
    let mut answer = String::new();
    let _ = BufReader::new(&slow).read_line(&mut answer);
    let cut_after = started.elapsed();
    assert!(
        cut_after < REQUEST_READ_DEADLINE + Duration::from_millis(1500),
        "cut after {cut_after:?}"
    );
    let answer: ApiResponse = serde_json::from_str(&answer).unwrap();
    assert!(
        matches!(&answer, ApiResponse::Error { message } if message.contains("not complete within")),
        "{answer:?}"
    );
    assert_eq!(ServerCounters::get(&counters.deadline), 1);
    drop(slow);
    trickle.join().unwrap();
}

#[test]
fn an_oversized_request_gets_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (path, counters) = start(dir.path());
    let big = UnixStream::connect(&path).unwrap();
    let mut writer = big.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let chunk = vec![b' '; 1 << 20];
        let mut sent = 0;
        while sent <= MAX_REQUEST_BYTES {
            if writer.write_all(&chunk).is_err() {
                return;
            }
            sent += chunk.len();
        }
    });
    big.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut answer = String::new();
    BufReader::new(&big).read_line(&mut answer).unwrap();
    let answer: ApiResponse = serde_json::from_str(&answer).unwrap();
    assert!(
        matches!(&answer, ApiResponse::Error { message } if message.contains(&format!("longer than {MAX_REQUEST_BYTES} bytes"))),
        "{answer:?}"
    );
    drop(big);
    sender.join().unwrap();
    assert_eq!(ServerCounters::get(&counters.too_large), 1);
    // The server is still there for the next client.
    assert_eq!(drained(&path, Duration::from_secs(2)), DRAINED);
}
