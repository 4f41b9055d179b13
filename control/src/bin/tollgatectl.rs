//! `tollgatectl`: the operators' client for tollgate-control's Unix socket.
//! Exit status: 0 done, 1 refused or failed (message on stderr).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use tollgate_control::api::{
    self, ApiRequest, ApiResponse, FlowCursor, FlowFilterArgs, FlowView, IpPrefix, StatusView,
};

#[derive(Parser)]
#[command(
    version,
    about = "Operate a Tollgate appliance through tollgate-control"
)]
struct Cli {
    /// tollgate-control's socket.
    #[arg(
        long,
        global = true,
        env = "TOLLGATE_SOCKET",
        default_value = "/run/tollgate/control.sock"
    )]
    socket: PathBuf,
    /// Print control's answer as JSON (one object) instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Seconds a request may take, connect to answer (a `flows list`
    /// walk: each page).
    #[arg(long, global = true, default_value_t = 15)]
    timeout: u64,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Rule sets.
    #[command(subcommand)]
    Rules(RulesCmd),
    /// Dataplane, workers, link, rules, flows, drops and health.
    Status,
    /// The dataplane's flow table.
    #[command(subcommand)]
    Flows(FlowsCmd),
    /// Fail health checks on purpose so GWLB moves new flows elsewhere.
    Drain,
    /// Stop draining.
    Undrain,
}

#[derive(Subcommand)]
enum RulesCmd {
    /// Validate FILE and apply it; prints the errors or the generation applied.
    Push { file: PathBuf },
    /// The rule set control holds and the one the dataplane applied.
    Show,
}

#[derive(Subcommand)]
enum FlowsCmd {
    /// List flows matching the filters: all of them, fetched page by page
    /// and printed as they come; or, with --limit or --after, one page and
    /// the cursor of the next.
    #[command(
        after_help = "A walk goes through the workers' flow tables in order: flows created or \
removed meanwhile may or may not be listed, and one moved inside its table by an insertion \
may be missed or listed twice; every other flow is listed once. With --json a page is \
{\"reply\":\"flows\",\"flows\":[...],\"next\":\"CURSOR\"|null}; a whole walk is one such \
object with next null (or, if a page failed, the cursor to resume from and \"error\")."
    )]
    List {
        #[command(flatten)]
        filter: FilterOpts,
        /// One page of at most N flows (a page holds up to 4096; 0: that
        /// many); a page may hold fewer and still have a next one.
        #[arg(long)]
        limit: Option<u32>,
        /// One page starting at CURSOR (a page's "next").
        #[arg(long, value_name = "CURSOR")]
        after: Option<FlowCursor>,
    },
    /// Remove flows matching the filters (all without filters).
    Flush {
        #[command(flatten)]
        filter: FilterOpts,
    },
}

#[derive(Args)]
struct FilterOpts {
    /// Either inner address in ADDR or ADDR/LEN.
    #[arg(long, value_name = "ADDR[/LEN]")]
    address: Option<IpPrefix>,
    /// Either inner port.
    #[arg(long)]
    port: Option<u16>,
    /// tcp, udp, icmp, icmpv6 or a protocol number.
    #[arg(long, value_parser = parse_protocol)]
    protocol: Option<u8>,
    /// GWLB endpoint: vpce-0<16 hex digits> or raw hex.
    #[arg(long, value_parser = parse_endpoint)]
    endpoint: Option<u64>,
    /// A flow state as listed, e.g. ESTABLISHED, SYN_SENT, UDP_STREAM,
    /// DENIED (any case).
    #[arg(long, value_parser = parse_state)]
    state: Option<String>,
}

fn parse_state(s: &str) -> Result<String, String> {
    let max = tollgate_shm::message::MAX_STATE_NAME_LEN;
    if s.is_empty() || s.len() > max || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(format!(
            "{s:?} is not a flow state name (letters, digits and _, at most {max})"
        ));
    }
    Ok(s.to_ascii_uppercase())
}

fn parse_protocol(s: &str) -> Result<u8, String> {
    match s.to_ascii_lowercase().as_str() {
        "tcp" => Ok(6),
        "udp" => Ok(17),
        "icmp" => Ok(1),
        "icmpv6" => Ok(58),
        n => n
            .parse()
            .map_err(|_| format!("{s:?} is not tcp, udp, icmp, icmpv6 or 0-255")),
    }
}

fn parse_endpoint(s: &str) -> Result<u64, String> {
    tollgate_rules::parse_endpoint_id(s)
        .ok_or_else(|| format!("{s:?} is not vpce-0<16 hex digits> or 1-16 hex digits"))
}

impl From<FilterOpts> for FlowFilterArgs {
    fn from(f: FilterOpts) -> Self {
        FlowFilterArgs {
            address: f.address,
            port: f.port,
            protocol: f.protocol,
            endpoint: f.endpoint,
            state: f.state,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let request = match cli.command {
        Cmd::Rules(RulesCmd::Push { file }) => match std::fs::read_to_string(&file) {
            Ok(text) => ApiRequest::RulesPush {
                origin: file.display().to_string(),
                text,
            },
            Err(e) => {
                eprintln!("tollgatectl: {}: {e}", file.display());
                return ExitCode::FAILURE;
            }
        },
        Cmd::Rules(RulesCmd::Show) => ApiRequest::RulesShow,
        Cmd::Status => ApiRequest::Status,
        Cmd::Flows(FlowsCmd::List {
            filter,
            limit: None,
            after: None,
        }) => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let timeout = Duration::from_secs(cli.timeout);
            return match walk_flows(&cli.socket, filter.into(), cli.json, timeout, &mut out) {
                true => ExitCode::SUCCESS,
                false => ExitCode::FAILURE,
            };
        }
        Cmd::Flows(FlowsCmd::List {
            filter,
            limit,
            after,
        }) => ApiRequest::FlowsList {
            filter: filter.into(),
            after,
            limit: limit.unwrap_or(0),
        },
        Cmd::Flows(FlowsCmd::Flush { filter }) => ApiRequest::FlowsFlush {
            filter: filter.into(),
        },
        Cmd::Drain => ApiRequest::Drain,
        Cmd::Undrain => ApiRequest::Undrain,
    };
    let response = match api::call(&cli.socket, &request, Duration::from_secs(cli.timeout)) {
        Ok(r) => r,
        Err(e) => {
            if cli.json {
                println!(
                    "{}",
                    serde_json::json!({ "reply": "error", "message": e.to_string() })
                );
            }
            eprintln!("tollgatectl: {e}");
            return ExitCode::FAILURE;
        }
    };
    if cli.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&response).unwrap_or_default()
        );
    } else {
        print_text(&response);
    }
    if response.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn print_text(response: &ApiResponse) {
    match response {
        ApiResponse::RulesApplied {
            generation,
            rules,
            warnings,
        } => {
            for w in warnings {
                eprintln!("warning: {w}");
            }
            println!("applied generation {generation} ({rules} rules)");
        }
        ApiResponse::RulesInvalid { errors } => {
            for e in errors {
                eprintln!("{e}");
            }
            eprintln!(
                "tollgatectl: rules rejected ({} errors); the rules in force are unchanged",
                errors.len()
            );
        }
        ApiResponse::RulesRejected {
            generation,
            message,
        } => {
            eprintln!("tollgatectl: the dataplane rejected generation {generation}: {message}");
        }
        ApiResponse::Rules(view) => {
            match &view.current {
                Some(c) => println!(
                    "control: {} ({} rules), applied as generation {}",
                    c.origin, c.rules, c.generation
                ),
                None => println!("control: no rule set loaded"),
            }
            match view.applied_generation {
                Some(g) => println!(
                    "dataplane: generation {g}, {} rules: {}",
                    view.applied_rule_ids.len(),
                    view.applied_rule_ids.join(", ")
                ),
                None => println!("dataplane: not attached"),
            }
            if let Some(c) = &view.current {
                println!("---\n{}", c.text.trim_end());
            }
        }
        ApiResponse::Status(s) => print_status(s),
        ApiResponse::Flows { flows, next } => {
            let mut out = std::io::stdout().lock();
            let _ = print_flows(&mut out, flows, true);
            println!("{} flows", flows.len());
            match next {
                Some(next) => println!("next: {next}"),
                None => println!("next: none (the last page)"),
            }
        }
        ApiResponse::FlowsFlushed { count } => println!("flushed {count} flows"),
        ApiResponse::Draining { draining, attached } => {
            println!(
                "draining: {draining}{}",
                if *attached {
                    ""
                } else {
                    " (not attached: applied when the dataplane appears)"
                }
            );
        }
        ApiResponse::Error { message } => eprintln!("tollgatectl: {message}"),
    }
}

const FLOW_COLUMNS: [&str; 8] = [
    "endpoint",
    "proto",
    "src",
    "sport",
    "dst",
    "dport",
    "state",
    "expires_ms",
];

fn print_flows(out: &mut impl Write, flows: &[FlowView], header: bool) -> std::io::Result<()> {
    let [a, b, c, d, e, f, g, h] = FLOW_COLUMNS;
    if header {
        writeln!(
            out,
            "{a:<24} {b:>5} {c:>39} {d:>5} {e:>39} {f:>5} {g:<12} {h:>9}"
        )?;
    }
    for f in flows {
        writeln!(
            out,
            "{:<24} {:>5} {:>39} {:>5} {:>39} {:>5} {:<12} {:>9}",
            f.endpoint, f.protocol, f.src, f.src_port, f.dst, f.dst_port, f.state, f.expires_in_ms
        )?;
    }
    out.flush()
}

/// `flows list` without --limit or --after: every page, printed as it
/// comes. With --json the pages' flows make one object, written as they
/// come too, so a million flows never sit in memory here. Returns whether
/// the walk completed.
fn walk_flows(
    socket: &std::path::Path,
    filter: FlowFilterArgs,
    json: bool,
    timeout: Duration,
    out: &mut impl Write,
) -> bool {
    let mut after: Option<FlowCursor> = None;
    let mut listed = 0u64;
    let mut failure = None;
    loop {
        let request = ApiRequest::FlowsList {
            filter: filter.clone(),
            after,
            limit: 0,
        };
        let (flows, next) = match api::call(socket, &request, timeout) {
            Ok(ApiResponse::Flows { flows, next }) => (flows, next),
            Ok(ApiResponse::Error { message }) => {
                failure = Some(message);
                break;
            }
            Ok(other) => {
                failure = Some(format!("unexpected answer from control: {other:?}"));
                break;
            }
            Err(e) => {
                failure = Some(e.to_string());
                break;
            }
        };
        let first = after.is_none();
        let written = if json {
            write_json_flows(out, &flows, first, listed == 0)
        } else {
            print_flows(out, &flows, first)
        };
        if written.is_err() {
            // The reader went away (e.g. `| head`): nothing more to do.
            return true;
        }
        listed += flows.len() as u64;
        match next {
            None => {
                after = None;
                break;
            }
            Some(next) if after.is_some_and(|a| next <= a) => {
                failure = Some(format!(
                    "the dataplane's cursor went from {} to {next}, not forward",
                    after.map(|a| a.to_string()).unwrap_or_default()
                ));
                break;
            }
            Some(next) => after = Some(next),
        }
    }
    let _ = finish_walk(out, json, listed, after, failure.as_deref());
    failure.is_none()
}

/// The flows of one page inside the walk's JSON object (opened by the
/// first page).
fn write_json_flows(
    out: &mut impl Write,
    flows: &[FlowView],
    first_page: bool,
    none_yet: bool,
) -> std::io::Result<()> {
    if first_page {
        write!(out, "{{\"reply\":\"flows\",\"flows\":[")?;
    }
    for (i, f) in flows.iter().enumerate() {
        let comma = if none_yet && i == 0 { "" } else { "," };
        write!(
            out,
            "{comma}\n{}",
            serde_json::to_string(f).unwrap_or_default()
        )?;
    }
    out.flush()
}

/// Ends a walk's output: the count (text) or the JSON object's end; when a
/// page failed, the error and the cursor to resume from.
fn finish_walk(
    out: &mut impl Write,
    json: bool,
    listed: u64,
    resume: Option<FlowCursor>,
    failure: Option<&str>,
) -> std::io::Result<()> {
    let resume_text = resume.map_or("the start".to_string(), |c| c.to_string());
    if json {
        if failure.is_some() && listed == 0 && resume.is_none() {
            // Nothing written yet: the usual error object.
            writeln!(
                out,
                "{}",
                serde_json::json!({ "reply": "error", "message": failure.unwrap_or_default() })
            )?;
        } else {
            let next = resume.map(|c| c.to_string());
            let mut end = serde_json::json!({ "next": next });
            if let Some(f) = failure {
                end["error"] = serde_json::Value::from(f);
            }
            // `end` is an object: splice its members after the array.
            let end = end.to_string();
            writeln!(out, "\n],{}", &end[1..])?;
        }
    } else if failure.is_none() {
        writeln!(out, "{listed} flows")?;
    }
    out.flush()?;
    if let Some(f) = failure {
        eprintln!("tollgatectl: {f}");
        if listed > 0 || resume.is_some() {
            eprintln!("tollgatectl: {listed} flows listed; resume with --after {resume_text}");
        }
    }
    Ok(())
}

fn print_status(s: &StatusView) {
    println!("health:     {} ({})", s.health.summary, s.health_check);
    match &s.dataplane {
        None => println!(
            "dataplane:  not attached (shm {}){}",
            s.segment,
            s.attach_error
                .as_ref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        ),
        Some(d) => {
            println!(
                "dataplane:  {} pid {} ({}), epoch {}",
                d.state,
                d.pid,
                if d.pid_alive { "alive" } else { "gone" },
                d.epoch
            );
            println!(
                "link:       {} {} Mb/s",
                if d.link_up { "up" } else { "down" },
                d.link_speed_mbps
            );
            println!("draining:   {}", d.draining);
            println!(
                "rules:      generation {} (control holds {})",
                s.rules_generation, s.control_generation
            );
            println!(
                "flows:      {} active of {}",
                d.flows_active, d.flow_capacity
            );
            for (what, counts) in [("refused", &d.flows_refused), ("evicted", &d.flows_evicted)] {
                let shown: Vec<String> = counts.iter().map(|(r, n)| format!("{r} {n}")).collect();
                let shown = if shown.is_empty() {
                    "none".to_string()
                } else {
                    shown.join(", ")
                };
                println!("{:<11} {shown}", format!("{what}:"));
            }
            println!("packets:    rx {} tx {}", d.rx_packets, d.tx_packets);
            for w in &d.workers {
                let age = w
                    .heartbeat_age_ms
                    .map_or("never".to_string(), |a| format!("{a:.1} ms ago"));
                println!(
                    "worker {:<3} heartbeat {age}, rx {} tx {}",
                    w.index, w.rx_packets, w.tx_packets
                );
            }
            if d.drops.is_empty() {
                println!("drops:      none");
            }
            for (reason, n) in &d.drops {
                println!("drop {reason:<28} {n}");
            }
        }
    }
    let r = &s.responder;
    println!(
        "responder:  {} frames in, {} out; http 200 {}, 503 {}, other {}; tcp accepted {}",
        r.frames_in, r.frames_out, r.http_ok, r.http_unavailable, r.http_other, r.tcp_accepted
    );
    println!(
        "            connections expired {}, recycled half-open {} idle {} answered {}; \
         neighbours evicted {}, frames unaddressed {}",
        r.connections_expired,
        r.recycled_half_open,
        r.recycled_idle,
        r.recycled_answered,
        r.neighbours_evicted,
        r.frames_unaddressed
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    /// A control that answers `flows_list` with `pages` in turn (keyed by
    /// the cursor asked for) and records what it was asked.
    fn fake_control(
        pages: Vec<(Option<&'static str>, ApiResponse)>,
    ) -> (
        tempfile::TempDir,
        PathBuf,
        std::sync::mpsc::Receiver<ApiRequest>,
    ) {
        use std::io::{BufRead, BufReader};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut line = String::new();
                BufReader::new(&stream).read_line(&mut line).unwrap();
                let request: ApiRequest = serde_json::from_str(&line).unwrap();
                let ApiRequest::FlowsList { after, .. } = &request else {
                    panic!("{request:?}")
                };
                let after = after.map(|a| a.to_string());
                let answer = pages
                    .iter()
                    .find(|(at, _)| at.map(str::to_string) == after)
                    .map(|(_, page)| page.clone())
                    .unwrap_or(ApiResponse::Error {
                        message: format!("no page at {after:?}"),
                    });
                let _ = tx.send(request);
                let mut text = serde_json::to_string(&answer).unwrap();
                text.push('\n');
                let _ = stream.write_all(text.as_bytes());
            }
        });
        (dir, path, rx)
    }

    fn flow(port: u16) -> FlowView {
        FlowView {
            endpoint: api::endpoint_name(1),
            protocol: 17,
            src: "10.1.0.1".into(),
            dst: "10.2.0.1".into(),
            src_port: port,
            dst_port: 53,
            state: "UDP_SINGLE".into(),
            expires_in_ms: 1000,
        }
    }

    fn page(ports: &[u16], next: Option<&str>) -> ApiResponse {
        ApiResponse::Flows {
            flows: ports.iter().map(|&p| flow(p)).collect(),
            next: next.map(|n| n.parse().unwrap()),
        }
    }

    #[test]
    fn a_walk_asks_page_after_page_and_prints_every_flow() {
        let pages = vec![
            (None, page(&[1, 2], Some("0:10"))),
            // A page may be empty and still have a next one.
            (Some("0:10"), page(&[], Some("1:0"))),
            (Some("1:0"), page(&[3], None)),
        ];
        let (_dir, path, asked) = fake_control(pages.clone());
        let filter = FlowFilterArgs {
            port: Some(53),
            ..FlowFilterArgs::default()
        };
        let mut text = Vec::new();
        assert!(walk_flows(
            &path,
            filter.clone(),
            false,
            Duration::from_secs(2),
            &mut text
        ));
        let text = String::from_utf8(text).unwrap();
        assert_eq!(text.lines().count(), 1 + 3 + 1, "{text}");
        assert!(
            text.starts_with("endpoint") && text.ends_with("\n3 flows\n"),
            "{text}"
        );
        let asked: Vec<ApiRequest> = asked.try_iter().collect();
        assert_eq!(asked.len(), 3);
        assert!(asked.iter().all(
            |r| matches!(r, ApiRequest::FlowsList { filter: f, limit: 0, .. } if *f == filter)
        ));

        let (_dir, path, _) = fake_control(pages);
        let mut json = Vec::new();
        assert!(walk_flows(
            &path,
            filter,
            true,
            Duration::from_secs(2),
            &mut json
        ));
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["reply"], "flows");
        assert_eq!(v["next"], serde_json::Value::Null);
        let ports: Vec<u64> = v["flows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["src_port"].as_u64().unwrap())
            .collect();
        assert_eq!(ports, [1, 2, 3]);
    }

    #[test]
    fn a_walk_that_fails_midway_says_where_to_resume_and_never_loops() {
        let (_dir, path, _) = fake_control(vec![
            (None, page(&[1], Some("0:10"))),
            (
                Some("0:10"),
                ApiResponse::Error {
                    message: "dataplane: workers 1 did not answer".into(),
                },
            ),
        ]);
        let mut json = Vec::new();
        let all = FlowFilterArgs::default();
        assert!(!walk_flows(
            &path,
            all.clone(),
            true,
            Duration::from_secs(2),
            &mut json
        ));
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["next"], "0:10");
        assert_eq!(v["error"], "dataplane: workers 1 did not answer");
        assert_eq!(v["flows"].as_array().unwrap().len(), 1);
        // A cursor that does not move forward ends the walk.
        let (_dir, path, _) = fake_control(vec![
            (None, page(&[1], Some("1:5"))),
            (Some("1:5"), page(&[2], Some("1:5"))),
        ]);
        let mut text = Vec::new();
        assert!(!walk_flows(
            &path,
            all.clone(),
            false,
            Duration::from_secs(2),
            &mut text
        ));
        // The first page failing gives the usual error object.
        let (_dir, path, _) = fake_control(vec![]);
        let mut json = Vec::new();
        assert!(!walk_flows(
            &path,
            all,
            true,
            Duration::from_secs(2),
            &mut json
        ));
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["reply"], "error");
    }

    #[test]
    fn one_page_with_limit_or_after() {
        let cli = Cli::try_parse_from([
            "tollgatectl",
            "flows",
            "list",
            "--limit",
            "100",
            "--after",
            "1:4096",
            "--address",
            "10.1.0.0/16",
            "--state",
            "established",
        ])
        .unwrap();
        let Cmd::Flows(FlowsCmd::List {
            filter,
            limit,
            after,
        }) = cli.command
        else {
            panic!("not list")
        };
        assert_eq!(
            (limit, after),
            (
                Some(100),
                Some(FlowCursor {
                    worker: 1,
                    slot: 4096
                })
            )
        );
        let f = FlowFilterArgs::from(filter);
        assert_eq!(f.address.unwrap().to_string(), "10.1.0.0/16");
        assert_eq!(f.state.as_deref(), Some("ESTABLISHED"));
        for bad in [
            ["--after", "end"],
            ["--address", "10.1.0.0/33"],
            ["--state", "SYN SENT"],
            ["--limit", "-1"],
        ] {
            let args = ["tollgatectl", "flows", "list", bad[0], bad[1]];
            assert!(Cli::try_parse_from(args).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn filters_parse_to_the_request() {
        let cli = Cli::try_parse_from([
            "tollgatectl",
            "--json",
            "flows",
            "flush",
            "--address",
            "2001:db8::1",
            "--port",
            "53",
            "--protocol",
            "UDP",
            "--endpoint",
            "vpce-01a2b3c4d5e6f0000",
        ])
        .unwrap();
        assert!(cli.json);
        let Cmd::Flows(FlowsCmd::Flush { filter }) = cli.command else {
            panic!("not flush")
        };
        let f = FlowFilterArgs::from(filter);
        assert_eq!(f.address, Some("2001:db8::1/128".parse().unwrap()));
        assert_eq!(
            (f.port, f.protocol, f.endpoint),
            (Some(53), Some(17), Some(0x1a2b3c4d5e6f0000))
        );
        assert_eq!(parse_protocol("icmpv6"), Ok(58));
        assert_eq!(parse_protocol("47"), Ok(47));
        assert!(parse_protocol("sctp").unwrap_err().contains("\"sctp\""));
        assert!(parse_endpoint("vpce-123").is_err());
        assert!(Cli::try_parse_from(["tollgatectl", "flows", "list", "--port", "70000"]).is_err());
        assert!(Cli::try_parse_from(["tollgatectl", "rules", "push"]).is_err());
    }
}
