//! The Unix socket tollgatectl talks to: mode 0660, owned by root and the
//! configured group. One request per connection, one thread per connection;
//! each request goes to the service thread and its answer comes back on a
//! channel. Connections, bytes and time per request are all capped (see the
//! constants), so an idle, trickling or oversized client only loses its own
//! request.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::api::{ApiRequest, ApiResponse, MAX_REQUEST_BYTES};
use crate::conn_limit::{
    line_end, read_request, write_all_by, Admitted, ByteBudget, Connections, ReadError,
    ServerCounters,
};

/// A request and where its answer goes.
pub type ApiCall = (ApiRequest, Sender<ApiResponse>);

/// The group id for `name`.
fn group_id(name: &str) -> Result<libc::gid_t, String> {
    tollgate_shm::group_id(name).map_err(|_| format!("api.group {name:?}: no such group"))
}

/// Creates the socket (and its directory), refusing if another control
/// process answers on it.
pub fn bind(path: &Path, group: Option<&str>) -> Result<UnixListener, String> {
    let shown = path.display();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("api.socket {shown}: create directory: {e}"))?;
    }
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            return Err(format!(
                "api.socket {shown}: another tollgate-control is serving it"
            ));
        }
        std::fs::remove_file(path)
            .map_err(|e| format!("api.socket {shown}: remove stale socket: {e}"))?;
    }
    let gid = group.map(group_id).transpose()?;
    // Bind inside a private directory, set mode and group, then rename into
    // place: the socket is never reachable with wider permissions than 0660.
    let dir = path.parent().unwrap_or(Path::new("."));
    let private = dir.join(format!(".tollgate-control-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&private);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&private)
        .map_err(|e| format!("api.socket {shown}: create {}: {e}", private.display()))?;
    let staged = private.join("control.sock");
    let result = (|| -> Result<UnixListener, String> {
        let listener =
            UnixListener::bind(&staged).map_err(|e| format!("api.socket {shown}: {e}"))?;
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o660))
            .map_err(|e| format!("api.socket {shown}: chmod: {e}"))?;
        if let Some(gid) = gid {
            std::os::unix::fs::chown(&staged, None, Some(gid))
                .map_err(|e| format!("api.socket {shown}: chown: {e}"))?;
        }
        std::fs::rename(&staged, path).map_err(|e| format!("api.socket {shown}: {e}"))?;
        Ok(listener)
    })();
    let _ = std::fs::remove_dir_all(&private);
    let listener = result?;
    Ok(listener)
}

/// Connections held at once; at the cap the oldest one still sending its
/// request is cut to make room for a new one.
pub const MAX_CONNECTIONS: usize = 32;
/// Time from connect until the whole request has arrived.
pub const REQUEST_READ_DEADLINE: Duration = Duration::from_secs(5);
/// Time to deliver the answer once it is ready.
pub const ANSWER_WRITE_DEADLINE: Duration = Duration::from_secs(5);
/// Request bytes all connections may hold at once (two maximal requests).
pub const MAX_BUFFERED_BYTES: usize = 2 * MAX_REQUEST_BYTES;

/// Accepts clients until the process exits. Each connection gets a thread
/// (at most [`MAX_CONNECTIONS`]); the service answers each request within
/// `answer_timeout`.
pub fn serve(
    listener: UnixListener,
    calls: Sender<ApiCall>,
    answer_timeout: Duration,
    counters: Arc<ServerCounters>,
) {
    let connections = Connections::new(MAX_CONNECTIONS, counters.clone());
    let budget = ByteBudget::new(MAX_BUFFERED_BYTES);
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let accepted = Instant::now();
        let Some(admitted) = connections.admit(&stream) else {
            let message = format!("{MAX_CONNECTIONS} requests in progress; retry");
            let _ = reply(
                &mut stream,
                &ApiResponse::Error { message },
                accepted + Duration::from_millis(100),
            );
            continue;
        };
        let calls = calls.clone();
        let budget = budget.clone();
        let counters = counters.clone();
        let spawned = std::thread::Builder::new()
            .name("api-client".into())
            .spawn(move || {
                let limits = (&*budget, &*counters);
                handle(stream, accepted, &admitted, &calls, limits, answer_timeout);
            });
        if spawned.is_err() {
            eprintln!("tollgate-control: cannot start a thread for an API client");
        }
    }
}

fn reply(
    stream: &mut UnixStream,
    response: &ApiResponse,
    deadline: Instant,
) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(response).map_err(std::io::Error::other)?;
    line.push(b'\n');
    write_all_by(stream, &line, deadline)
}

fn error(message: String) -> ApiResponse {
    ApiResponse::Error { message }
}

fn handle(
    mut stream: UnixStream,
    accepted: Instant,
    admitted: &Admitted<UnixStream>,
    calls: &Sender<ApiCall>,
    (budget, counters): (&ByteBudget, &ServerCounters),
    answer_timeout: Duration,
) {
    let line = read_request(
        &mut stream,
        accepted + REQUEST_READ_DEADLINE,
        MAX_REQUEST_BYTES,
        Some(budget),
        line_end,
    );
    admitted.request_read();
    if let Err(e) = &line {
        counters.count(e);
    }
    let response = match line {
        Err(ReadError::Deadline) => error(format!(
            "request not complete within {} s",
            REQUEST_READ_DEADLINE.as_secs()
        )),
        Err(ReadError::TooLong) => error(format!("request longer than {MAX_REQUEST_BYTES} bytes")),
        Err(ReadError::Busy) => error("control is receiving other large requests; retry".into()),
        Err(ReadError::Closed | ReadError::Io(_)) => return,
        Ok(line) => match serde_json::from_slice::<ApiRequest>(&line) {
            Err(e) => error(format!("bad request: {e}")),
            Ok(request) => {
                let (tx, rx) = mpsc::channel();
                if calls.send((request, tx)).is_err() {
                    error("tollgate-control is shutting down".into())
                } else {
                    rx.recv_timeout(answer_timeout)
                        .unwrap_or_else(|_| error("tollgate-control did not answer in time".into()))
                }
            }
        },
    };
    let _ = reply(
        &mut stream,
        &response,
        Instant::now() + ANSWER_WRITE_DEADLINE,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::call;
    use std::io::{BufRead, BufReader, Write};

    #[test]
    fn socket_round_trip_permissions_and_bad_requests() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/control.sock");
        let listener = bind(&path, Some("root")).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o660);
        assert!(bind(&path, None)
            .unwrap_err()
            .contains("another tollgate-control"));
        assert!(
            bind(&dir.path().join("x.sock"), Some("no-such-group-tollgate"))
                .unwrap_err()
                .contains("no such group")
        );

        super::abuse_tests::serve_stand_in(listener, Duration::from_secs(2));
        let t = Duration::from_secs(5);
        assert_eq!(
            call(&path, &ApiRequest::Drain, t).unwrap(),
            ApiResponse::Draining {
                draining: true,
                attached: false
            }
        );
        match call(&path, &ApiRequest::Status, t).unwrap() {
            ApiResponse::Error { message } => {
                assert!(message.contains("did not answer in time"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        let mut raw = UnixStream::connect(&path).unwrap();
        raw.write_all(b"{\"command\":\"reboot\"}\n").unwrap();
        let mut answer = String::new();
        BufReader::new(raw).read_line(&mut answer).unwrap();
        let answer: ApiResponse = serde_json::from_str(&answer).unwrap();
        assert!(
            matches!(&answer, ApiResponse::Error { message } if message.starts_with("bad request: unknown variant `reboot`")),
            "{answer:?}"
        );
        // A stale socket file (no server) is replaced.
        let stale = dir.path().join("stale.sock");
        drop(UnixListener::bind(&stale).unwrap());
        assert!(bind(&stale, None).is_ok());
    }
}

#[cfg(test)]
#[path = "api_server_tests.rs"]
mod abuse_tests;
