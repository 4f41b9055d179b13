//! `GET /metrics` over plain HTTP on the management address. One request
//! per connection, handled in turn with short timeouts: Prometheus scrapes
//! rarely and a slow client cannot hold the exporter for long.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use crate::config::Config;
use crate::metrics;
use crate::service::SharedView;

const MAX_HEAD: usize = 8192;
const IO_TIMEOUT: Duration = Duration::from_secs(2);

pub fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr).map_err(|e| format!("metrics.listen {addr}: {e}"))
}

/// Serves until the process exits.
pub fn serve(listener: TcpListener, shared: SharedView, config: Config) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        // A client that misbehaves only loses its own answer.
        let _ = handle(stream, &shared, &config);
    }
}

fn handle(mut stream: TcpStream, shared: &SharedView, config: &Config) -> std::io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..n]);
    }
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
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}
