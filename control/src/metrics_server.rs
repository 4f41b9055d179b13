//! `GET /metrics` over plain HTTP on the management address. One request
//! per connection, each on its own thread (at most [`MAX_CONNECTIONS`]; at
//! the cap the oldest one still sending its request is cut), each with a
//! deadline for the whole request: a slow client never delays a scrape.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::conn_limit::{
    read_request, write_all_by, Admitted, Connections, ReadError, ServerCounters,
};
use crate::metrics;
use crate::service::SharedView;

/// Longest request head read.
pub const MAX_HEAD: usize = 8192;
/// Time from connect until the request head has arrived.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(2);
/// Time to deliver the answer.
pub const ANSWER_WRITE_DEADLINE: Duration = Duration::from_secs(5);
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 16;

pub fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr).map_err(|e| format!("metrics.listen {addr}: {e}"))
}

/// Serves until the process exits.
pub fn serve(listener: TcpListener, shared: SharedView, config: Config) {
    let counters = shared
        .lock()
        .map(|p| p.metrics_server.clone())
        .unwrap_or_default();
    let connections = Connections::new(MAX_CONNECTIONS, counters.clone());
    let config = Arc::new(config);
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let accepted = Instant::now();
        // No room only while every connection is being answered.
        let Some(admitted) = connections.admit(&stream) else {
            continue;
        };
        let shared = shared.clone();
        let config = config.clone();
        let counters = counters.clone();
        let spawned = std::thread::Builder::new()
            .name("metrics-client".into())
            .spawn(move || {
                // A client that misbehaves only loses its own answer.
                let _ = handle(stream, accepted, &admitted, &shared, &config, &counters);
            });
        if spawned.is_err() {
            eprintln!("tollgate-control: cannot start a thread for a metrics client");
        }
    }
}

/// For [`read_request`]: the head ends with an empty line.
fn head_end(buf: &[u8], new_from: usize) -> Option<usize> {
    let from = new_from.saturating_sub(3);
    buf[from..]
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| from + i + 4)
}

fn handle(
    mut stream: TcpStream,
    accepted: Instant,
    admitted: &Admitted<TcpStream>,
    shared: &SharedView,
    config: &Config,
    counters: &ServerCounters,
) -> std::io::Result<()> {
    let head = match read_request(
        &mut stream,
        accepted + REQUEST_DEADLINE,
        MAX_HEAD,
        None,
        head_end,
    ) {
        Ok(head) => Some(head),
        Err(e) => {
            counters.count(&e);
            if !matches!(e, ReadError::TooLong) {
                return Ok(());
            }
            None
        }
    };
    admitted.request_read();
    let Some(head) = head else {
        return answer(
            &mut stream,
            "431 Request Header Fields Too Large",
            "text/plain; charset=utf-8",
            &format!("request head longer than {MAX_HEAD} bytes\n"),
        );
    };
    let line = String::from_utf8_lossy(head.split(|b| *b == b'\n').next().unwrap_or_default())
        .into_owned();
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, content_type, body) = match (method, path) {
        ("GET", "/metrics") => {
            let published = shared.lock().map(|p| p.clone()).unwrap_or_default();
            (
                "200 OK",
                "text/plain; version=0.0.4; charset=utf-8",
                metrics::render(&published, config),
            )
        }
        ("GET", "/") => (
            "200 OK",
            "text/plain; charset=utf-8",
            "tollgate-control: metrics at /metrics\n".to_string(),
        ),
        ("GET", _) => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "not found\n".to_string(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "only GET\n".to_string(),
        ),
    };
    answer(&mut stream, status, content_type, &body)
}

fn answer(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    let text = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    write_all_by(
        stream,
        text.as_bytes(),
        Instant::now() + ANSWER_WRITE_DEADLINE,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn start() -> (SocketAddr, SharedView) {
        let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = SharedView::default();
        let served = shared.clone();
        std::thread::spawn(move || serve(listener, served, Config::default()));
        (addr, shared)
    }

    fn counters(shared: &SharedView) -> Arc<ServerCounters> {
        shared.lock().unwrap().metrics_server.clone()
    }

    /// The whole answer to `GET /metrics`, and how long it took.
    fn scrape(addr: SocketAddr) -> (String, Duration) {
        let started = Instant::now();
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let mut text = String::new();
        let _ = s.read_to_string(&mut text);
        (text, started.elapsed())
    }

    #[test]
    fn a_trickling_client_neither_delays_a_scrape_nor_outlives_its_deadline() {
        let (addr, shared) = start();
        let mut slow = TcpStream::connect(addr).unwrap();
        let mut writer = slow.try_clone().unwrap();
        let started = Instant::now();
        let trickle = std::thread::spawn(move || {
            for b in b"GET /metrics HTTP/1.1\r\n" {
                if writer.write_all(&[*b]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        });
        std::thread::sleep(Duration::from_millis(300));
        let (text, took) = scrape(addr);
        assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
        assert!(text.contains("tollgate_"), "{text}");
        assert!(took < Duration::from_secs(1), "scrape took {took:?}");
        // The trickler is cut (without an answer) at its own deadline.
        slow.set_read_timeout(Some(REQUEST_DEADLINE + Duration::from_secs(2)))
            .unwrap();
        let mut rest = Vec::new();
        let _ = slow.read_to_end(&mut rest);
        let cut_after = started.elapsed();
        assert!(
            cut_after < REQUEST_DEADLINE + Duration::from_millis(1500),
            "cut after {cut_after:?}"
        );
        assert_eq!(ServerCounters::get(&counters(&shared).deadline), 1);
        drop(slow);
        trickle.join().unwrap();
        // The scrape shows it.
        let (text, _) = scrape(addr);
        let line =
            "tollgate_control_requests_refused_total{server=\"metrics\",reason=\"deadline\"} 1";
        assert!(text.contains(line), "{text}");
    }

    #[test]
    fn heads_are_read_to_their_end_and_an_overlong_one_is_refused() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nX", 0), Some(18));
        // The end straddles two reads.
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\n", 16), Some(18));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n", 0), None);
        let (addr, shared) = start();
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut head = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
        head.resize(MAX_HEAD + 1, b'a');
        s.write_all(&head).unwrap();
        let mut text = String::new();
        let _ = s.read_to_string(&mut text);
        assert!(text.starts_with("HTTP/1.1 431"), "{text}");
        assert_eq!(ServerCounters::get(&counters(&shared).too_large), 1);
        for (request, status) in [
            ("GET / HTTP/1.1\r\n\r\n", "200"),
            ("GET /nope HTTP/1.1\r\n\r\n", "404"),
            ("POST /metrics HTTP/1.1\r\n\r\n", "405"),
        ] {
            let mut s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.write_all(request.as_bytes()).unwrap();
            let mut text = String::new();
            let _ = s.read_to_string(&mut text);
            assert!(text.starts_with(&format!("HTTP/1.1 {status}")), "{text}");
        }
    }

    #[test]
    fn idle_connections_beyond_the_cap_never_block_a_scrape() {
        let (addr, shared) = start();
        let idle: Vec<TcpStream> = (0..3 * MAX_CONNECTIONS)
            .map(|_| TcpStream::connect(addr).unwrap())
            .collect();
        let (text, took) = scrape(addr);
        assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
        assert!(took < Duration::from_secs(1), "scrape took {took:?}");
        assert!(ServerCounters::get(&counters(&shared).cut) >= 2 * MAX_CONNECTIONS as u64);
        drop(idle);
    }
}
