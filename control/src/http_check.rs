//! The HTTP side of the health check: one request per connection, answered
//! from the health verdict. Only the request line matters; headers are read
//! up to the blank line so the answer never races the client's sending.

use crate::health_state::Health;

/// Requests longer than this are answered 431 and the connection closed.
pub const MAX_REQUEST_BYTES: usize = 8192;

/// What to send back and close.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpAnswer {
    pub status: u16,
    pub bytes: Vec<u8>,
}

/// `None` while the request head is incomplete; otherwise the answer.
pub fn answer(request: &[u8], health_path: &str, health: &Health) -> Option<HttpAnswer> {
    let head_end = find(request, b"\r\n\r\n").or_else(|| find(request, b"\n\n"));
    let Some(_) = head_end else {
        if request.len() >= MAX_REQUEST_BYTES {
            return Some(build(431, "request header too large\n"));
        }
        return None;
    };
    let line_end = find(request, b"\n").unwrap_or(request.len());
    let line = String::from_utf8_lossy(&request[..line_end]);
    let mut parts = line.trim_end_matches('\r').split(' ');
    let (method, target, version) = (parts.next(), parts.next(), parts.next());
    let (Some(method), Some(target), Some(version)) = (method, target, version) else {
        return Some(build(400, "malformed request line\n"));
    };
    if parts.next().is_some() || !version.starts_with("HTTP/1.") {
        return Some(build(400, "malformed request line\n"));
    }
    if method != "GET" && method != "HEAD" {
        return Some(build(405, "only GET and HEAD\n"));
    }
    // A query string does not change the resource.
    let path = target.split('?').next().unwrap_or(target);
    if path != health_path {
        return Some(build(404, "not found\n"));
    }
    let body = format!("{}\n", health.summary);
    let mut answer = build(if health.healthy { 200 } else { 503 }, &body);
    if method == "HEAD" {
        let cut = answer.bytes.len() - body.len();
        answer.bytes.truncate(cut);
    }
    Some(answer)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn build(status: u16, body: &str) -> HttpAnswer {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Service Unavailable",
    };
    let text = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    HttpAnswer {
        status,
        bytes: text.into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health_state::Unhealthy;

    fn healthy() -> Health {
        Health {
            healthy: true,
            reasons: vec![],
            summary: "healthy".into(),
        }
    }
    fn draining() -> Health {
        Health {
            healthy: false,
            reasons: vec![Unhealthy::Draining],
            summary: "unhealthy: draining".into(),
        }
    }

    fn text(a: &HttpAnswer) -> String {
        String::from_utf8(a.bytes.clone()).unwrap()
    }

    #[test]
    fn table() {
        let cases: &[(&str, bool, Option<u16>, &str)] = &[
            (
                "GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
                true,
                Some(200),
                "\r\n\r\nhealthy\n",
            ),
            (
                "GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
                false,
                Some(503),
                "\r\n\r\nunhealthy: draining\n",
            ),
            (
                "GET /health?from=gwlb HTTP/1.0\r\n\r\n",
                true,
                Some(200),
                "Content-Length: 8\r\n",
            ),
            ("GET /other HTTP/1.1\r\n\r\n", true, Some(404), "not found"),
            (
                "GET /health/x HTTP/1.1\r\n\r\n",
                true,
                Some(404),
                "404 Not Found",
            ),
            ("POST /health HTTP/1.1\r\n\r\n", true, Some(405), "405"),
            ("GET /health\r\n\r\n", true, Some(400), "400"),
            ("GET /health SPDY/3\r\n\r\n", true, Some(400), "400"),
            ("GET /health HTTP/1.1 x\r\n\r\n", true, Some(400), "400"),
            ("GET /health HTTP/1.1\n\n", true, Some(200), "200 OK"),
            ("GET /health HTTP/1.1\r\nHost: x\r\n", true, None, ""),
            ("GET /hea", true, None, ""),
            ("", true, None, ""),
        ];
        for (request, is_healthy, status, contains) in cases {
            let health = if *is_healthy { healthy() } else { draining() };
            let got = answer(request.as_bytes(), "/health", &health);
            assert_eq!(got.as_ref().map(|a| a.status), *status, "{request:?}");
            if let Some(a) = got {
                let t = text(&a);
                assert!(t.contains(contains), "{request:?}: {t:?}");
                assert!(t.starts_with(&format!("HTTP/1.1 {} ", a.status)));
                let body = t.split("\r\n\r\n").nth(1).unwrap();
                assert!(
                    t.contains(&format!("Content-Length: {}\r\n", body.len())),
                    "{t:?}"
                );
            }
        }
    }

    #[test]
    fn head_has_no_body_but_the_length() {
        let a = answer(b"HEAD / HTTP/1.1\r\n\r\n", "/", &draining()).unwrap();
        assert_eq!(a.status, 503);
        let t = text(&a);
        assert!(
            t.ends_with("\r\n\r\n") && t.contains("Content-Length: 20\r\n"),
            "{t:?}"
        );
    }

    #[test]
    fn oversized_head_is_refused() {
        let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
        big.resize(MAX_REQUEST_BYTES, b'a');
        assert_eq!(answer(&big, "/", &healthy()).unwrap().status, 431);
        assert!(answer(&big[..MAX_REQUEST_BYTES - 1], "/", &healthy()).is_none());
    }
}
