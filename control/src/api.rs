//! The control socket's protocol: one JSON object per line each way. A
//! client sends one [`ApiRequest`] and reads one [`ApiResponse`].

use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
pub use tollgate_shm::message::{FlowCursor, IpPrefix};

use crate::conn_limit::{line_end, read_request, write_all_by, ReadError};
use crate::health_state::Health;
use crate::responder::ResponderStats;

/// Requests longer than this are refused: room for the largest rule file
/// the rule language takes with every byte JSON-escaped to two (a valid
/// TOML file has no control characters that escape to more), plus the
/// request's other fields. Each API client holds at most one such line.
pub const MAX_REQUEST_BYTES: usize = 2 * tollgate_rules::MAX_FILE_BYTES + (64 << 10);
/// Answers longer than this are refused by [`call`] (`rules show` carries a
/// rule file as large as a request).
pub const MAX_ANSWER_BYTES: usize = 2 * MAX_REQUEST_BYTES;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)]
pub enum ApiRequest {
    /// Validate, apply and keep `text` as the current rule set.
    RulesPush {
        origin: String,
        text: String,
    },
    RulesShow,
    Status,
    /// One page of the flows `filter` selects: up to `limit` (0: as many
    /// as a page holds) from cursor `after` on (absent: the start).
    FlowsList {
        filter: FlowFilterArgs,
        #[serde(default, with = "as_text")]
        after: Option<FlowCursor>,
        #[serde(default)]
        limit: u32,
    },
    FlowsFlush {
        filter: FlowFilterArgs,
    },
    Drain,
    Undrain,
}

/// Flow selection; absent fields match anything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowFilterArgs {
    /// Either inner address in this prefix: "ADDR" or "ADDR/LEN".
    #[serde(default, with = "as_text")]
    pub address: Option<IpPrefix>,
    pub port: Option<u16>,
    pub protocol: Option<u8>,
    pub endpoint: Option<u64>,
    /// A flow state as listed (e.g. "ESTABLISHED"), any case.
    #[serde(default)]
    pub state: Option<String>,
}

impl FlowFilterArgs {
    /// What the dataplane would refuse to decode, said plainly.
    pub fn check(&self) -> Result<(), String> {
        let max = tollgate_shm::message::MAX_STATE_NAME_LEN;
        match &self.state {
            Some(s) if s.len() > max => Err(format!(
                "flow state {:?}... is longer than {max} bytes",
                s.chars().take(max).collect::<String>()
            )),
            _ => Ok(()),
        }
    }
}

impl From<&FlowFilterArgs> for tollgate_shm::message::FlowFilter {
    fn from(f: &FlowFilterArgs) -> Self {
        tollgate_shm::message::FlowFilter {
            address: f.address,
            port: f.port,
            protocol: f.protocol,
            endpoint: f.endpoint,
            state: f.state.clone(),
        }
    }
}

/// An optional value as its text form (`Display` / `FromStr`) in JSON.
mod as_text {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};
    use std::fmt::Display;
    use std::str::FromStr;

    pub fn serialize<T: Display, S: Serializer>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.collect_str(v),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, T, D>(d: D) -> Result<Option<T>, D::Error>
    where
        T: FromStr<Err = String>,
        D: Deserializer<'de>,
    {
        Option::<String>::deserialize(d)?
            .map(|text| text.parse().map_err(D::Error::custom))
            .transpose()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum ApiResponse {
    RulesApplied {
        generation: u64,
        rules: usize,
        warnings: Vec<String>,
    },
    /// Validation failed; nothing was sent, the old rules stay.
    RulesInvalid {
        errors: Vec<String>,
    },
    /// The dataplane refused the rules; the old rules stay.
    RulesRejected {
        generation: u64,
        message: String,
    },
    Rules(RulesView),
    Status(Box<StatusView>),
    /// One page; `next`: the cursor of the next page (`null`: the last).
    Flows {
        flows: Vec<FlowView>,
        #[serde(with = "as_text")]
        next: Option<FlowCursor>,
    },
    FlowsFlushed {
        count: u64,
    },
    Draining {
        draining: bool,
        attached: bool,
    },
    Error {
        message: String,
    },
}

impl ApiResponse {
    /// Whether the request did what was asked (tollgatectl's exit code).
    pub fn is_success(&self) -> bool {
        !matches!(
            self,
            ApiResponse::RulesInvalid { .. }
                | ApiResponse::RulesRejected { .. }
                | ApiResponse::Error { .. }
        )
    }
}

/// The rule set control holds and the one the dataplane applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulesView {
    /// What control would send on (re)attach; `None`: none loaded.
    pub current: Option<CurrentRules>,
    /// The dataplane's applied generation (0: none; `None`: not attached).
    pub applied_generation: Option<u64>,
    pub applied_rule_ids: Vec<String>,
    pub applied_unix_ns: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentRules {
    pub origin: String,
    /// Generation it was last applied as; 0 while not yet applied.
    pub generation: u64,
    pub rules: usize,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusView {
    pub segment: String,
    pub attached: bool,
    pub attach_error: Option<String>,
    pub dataplane: Option<DataplaneView>,
    pub health: Health,
    pub health_check: String,
    pub rules_generation: u64,
    pub control_generation: u64,
    pub responder: ResponderStats,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataplaneView {
    pub pid: u32,
    pub pid_alive: bool,
    pub state: String,
    pub epoch: u64,
    pub workers: Vec<WorkerView>,
    pub link_up: bool,
    pub link_speed_mbps: u64,
    pub draining: bool,
    pub flows_active: u64,
    pub flow_capacity: u64,
    pub rx_packets: u64,
    pub tx_packets: u64,
    /// `reason` (with `/layer` for malformed) and count, non-zero only.
    pub drops: Vec<(String, u64)>,
    /// Allowed new flows refused a slot: `reason` and count, non-zero only.
    #[serde(default)]
    pub flows_refused: Vec<(String, u64)>,
    /// Live flows evicted from a full table: `reason` and count, non-zero
    /// only.
    #[serde(default)]
    pub flows_evicted: Vec<(String, u64)>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkerView {
    pub index: usize,
    /// `None`: never beat.
    pub heartbeat_age_ms: Option<f64>,
    pub rx_packets: u64,
    pub tx_packets: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowView {
    pub endpoint: String,
    pub protocol: u8,
    pub src: String,
    pub dst: String,
    pub src_port: u16,
    pub dst_port: u16,
    pub state: String,
    /// Time until the flow expires if idle.
    pub expires_in_ms: u64,
}

/// How operators write an endpoint id (`vpce-0` + 16 hex digits).
pub fn endpoint_name(id: u64) -> String {
    format!("vpce-0{id:016x}")
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {path}: {source} (is tollgate-control running, and may you open its socket?)")]
    Connect {
        path: String,
        source: std::io::Error,
    },
    #[error("control socket {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("control closed the connection without answering")]
    NoAnswer,
    #[error("no answer within {} s", timeout.as_secs_f64())]
    Timeout { timeout: Duration },
    #[error("request of {len} bytes is longer than control accepts ({MAX_REQUEST_BYTES} bytes)")]
    TooLarge { len: usize },
    #[error("unreadable answer from control: {0}")]
    BadAnswer(String),
}

/// One request, one answer, all within `timeout`.
pub fn call(
    socket: &Path,
    request: &ApiRequest,
    timeout: Duration,
) -> Result<ApiResponse, ClientError> {
    let deadline = Instant::now() + timeout;
    let path = socket.display().to_string();
    let io = |source| ClientError::Io {
        path: path.clone(),
        source,
    };
    let mut line =
        serde_json::to_vec(request).map_err(|e| ClientError::BadAnswer(e.to_string()))?;
    if line.len() > MAX_REQUEST_BYTES {
        return Err(ClientError::TooLarge { len: line.len() });
    }
    line.push(b'\n');
    let mut stream = UnixStream::connect(socket).map_err(|source| ClientError::Connect {
        path: path.clone(),
        source,
    })?;
    // Control may answer (with an error) before taking the whole request:
    // a failed write still leaves its answer to read.
    let sent = write_all_by(&mut stream, &line, deadline);
    let answer = match read_request(&mut stream, deadline, MAX_ANSWER_BYTES, None, line_end) {
        Ok(answer) => answer,
        Err(ReadError::Closed) => return Err(sent.err().map_or(ClientError::NoAnswer, io)),
        Err(ReadError::Deadline) => return Err(ClientError::Timeout { timeout }),
        Err(ReadError::TooLong) => {
            return Err(ClientError::BadAnswer(format!(
                "longer than {MAX_ANSWER_BYTES} bytes"
            )))
        }
        Err(ReadError::Busy) => return Err(ClientError::NoAnswer),
        Err(ReadError::Io(e)) => return Err(io(sent.err().unwrap_or(e))),
    };
    serde_json::from_slice(&answer).map_err(|e| ClientError::BadAnswer(e.to_string()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_largest_rule_file_fits_a_request_line_even_all_escaped() {
        let text = "\"\\\n\t".repeat(tollgate_rules::MAX_FILE_BYTES / 4);
        assert_eq!(text.len(), tollgate_rules::MAX_FILE_BYTES);
        let request = super::ApiRequest::RulesPush {
            origin: "/etc/tollgate/rules.toml".repeat(100),
            text,
        };
        let line = serde_json::to_string(&request).unwrap();
        assert!(line.len() <= super::MAX_REQUEST_BYTES, "{}", line.len());
    }

    use super::*;

    #[test]
    fn requests_round_trip_and_read_as_documented() {
        let requests = [
            ApiRequest::RulesPush {
                origin: "r.toml".into(),
                text: "default_action = \"drop\"\n".into(),
            },
            ApiRequest::RulesShow,
            ApiRequest::Status,
            ApiRequest::FlowsList {
                filter: FlowFilterArgs {
                    address: Some("10.0.0.0/8".parse().unwrap()),
                    port: Some(443),
                    protocol: Some(6),
                    endpoint: Some(7),
                    state: Some("ESTABLISHED".into()),
                },
                after: Some(FlowCursor { worker: 1, slot: 9 }),
                limit: 100,
            },
            ApiRequest::FlowsList {
                filter: FlowFilterArgs::default(),
                after: None,
                limit: 0,
            },
            ApiRequest::FlowsFlush {
                filter: FlowFilterArgs::default(),
            },
            ApiRequest::Drain,
            ApiRequest::Undrain,
        ];
        for r in &requests {
            let line = serde_json::to_string(r).unwrap();
            assert!(!line.contains('\n'));
            assert_eq!(&serde_json::from_str::<ApiRequest>(&line).unwrap(), r);
        }
        assert_eq!(
            serde_json::to_string(&ApiRequest::Drain).unwrap(),
            r#"{"command":"drain"}"#
        );
        let bad = serde_json::from_str::<ApiRequest>(
            r#"{"command":"rules_push","origin":"a","text":"b","x":1}"#,
        );
        assert!(bad.is_err());
        assert!(serde_json::from_str::<ApiRequest>(r#"{"command":"reboot"}"#).is_err());
        // Prefixes and cursors travel as operators write them; a bare
        // address is a host; what does not parse is refused.
        let list: ApiRequest = serde_json::from_str(
            r#"{"command":"flows_list","filter":{"address":"2001:db8::1"},"after":"0:4096"}"#,
        )
        .unwrap();
        assert_eq!(
            list,
            ApiRequest::FlowsList {
                filter: FlowFilterArgs {
                    address: Some("2001:db8::1/128".parse().unwrap()),
                    ..FlowFilterArgs::default()
                },
                after: Some(FlowCursor {
                    worker: 0,
                    slot: 4096
                }),
                limit: 0,
            }
        );
        assert!(serde_json::to_string(&list)
            .unwrap()
            .contains(r#""after":"0:4096""#));
        for bad in [
            r#"{"command":"flows_list","filter":{"address":"10.0.0.0/40"}}"#,
            r#"{"command":"flows_list","filter":{},"after":"next"}"#,
        ] {
            assert!(serde_json::from_str::<ApiRequest>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn responses_round_trip_and_say_success() {
        let responses = [
            (
                ApiResponse::RulesApplied {
                    generation: 3,
                    rules: 2,
                    warnings: vec![],
                },
                true,
            ),
            (
                ApiResponse::RulesInvalid {
                    errors: vec!["r.toml:3: x".into()],
                },
                false,
            ),
            (
                ApiResponse::RulesRejected {
                    generation: 3,
                    message: "no".into(),
                },
                false,
            ),
            (ApiResponse::FlowsFlushed { count: 9 }, true),
            (
                ApiResponse::Flows {
                    flows: vec![],
                    next: Some(FlowCursor { worker: 1, slot: 2 }),
                },
                true,
            ),
            (
                ApiResponse::Flows {
                    flows: vec![],
                    next: None,
                },
                true,
            ),
            (
                ApiResponse::Draining {
                    draining: true,
                    attached: false,
                },
                true,
            ),
            (
                ApiResponse::Error {
                    message: "e".into(),
                },
                false,
            ),
        ];
        assert_eq!(
            serde_json::to_string(&responses[4].0).unwrap(),
            r#"{"reply":"flows","flows":[],"next":"1:2"}"#
        );
        assert_eq!(
            serde_json::to_string(&responses[5].0).unwrap(),
            r#"{"reply":"flows","flows":[],"next":null}"#
        );
        for (r, ok) in &responses {
            let line = serde_json::to_string(r).unwrap();
            assert_eq!(&serde_json::from_str::<ApiResponse>(&line).unwrap(), r);
            assert_eq!(r.is_success(), *ok, "{line}");
        }
    }

    #[test]
    fn endpoint_names_parse_back() {
        for id in [0, 1, 0x0123_4567_89ab_cdef, u64::MAX] {
            assert_eq!(
                tollgate_rules::parse_endpoint_id(&endpoint_name(id)),
                Some(id)
            );
        }
    }

    #[test]
    fn client_reports_absent_control_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let err = call(
            &dir.path().join("control.sock"),
            &ApiRequest::Status,
            Duration::from_secs(1),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("cannot connect") && text.contains("is tollgate-control running"),
            "{text}"
        );
    }

    #[test]
    fn the_client_timeout_bounds_the_whole_call_and_sizes_are_checked_first() {
        use std::io::{Read, Write};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        // A control that answers one byte every 200 ms: each read succeeds.
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                std::thread::spawn(move || {
                    let mut byte = [0u8; 1];
                    while stream
                        .read(&mut byte)
                        .is_ok_and(|n| n == 1 && byte[0] != b'\n')
                    {}
                    for b in b"{\"reply\":\"error\",\"message\":\"slow\"}\n" {
                        if stream.write_all(&[*b]).is_err() {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(200));
                    }
                });
            }
        });
        let started = Instant::now();
        let err = call(&path, &ApiRequest::Status, Duration::from_secs(1)).unwrap_err();
        assert!(matches!(err, ClientError::Timeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_millis(1500));

        let huge = ApiRequest::RulesPush {
            origin: "big.toml".into(),
            text: "#".repeat(MAX_REQUEST_BYTES),
        };
        let err = call(&path, &huge, Duration::from_secs(1)).unwrap_err();
        assert!(
            err.to_string().contains("longer than control accepts"),
            "{err}"
        );
    }
}
