//! `tollgatectl`: the operators' client for tollgate-control's Unix socket.
//! Exit status: 0 done, 1 refused or failed (message on stderr).

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use tollgate_control::api::{self, ApiRequest, ApiResponse, FlowFilterArgs, StatusView};

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
    /// Seconds the whole request may take, connect to answer.
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
    /// List flows matching the filters.
    List {
        #[command(flatten)]
        filter: FilterOpts,
        /// Flows listed at most.
        #[arg(long, default_value_t = 1000)]
        max: u32,
    },
    /// Remove flows matching the filters (all without filters).
    Flush {
        #[command(flatten)]
        filter: FilterOpts,
    },
}

#[derive(Args)]
struct FilterOpts {
    /// Either inner address.
    #[arg(long)]
    address: Option<IpAddr>,
    /// Either inner port.
    #[arg(long)]
    port: Option<u16>,
    /// tcp, udp, icmp, icmpv6 or a protocol number.
    #[arg(long, value_parser = parse_protocol)]
    protocol: Option<u8>,
    /// GWLB endpoint: vpce-0<16 hex digits> or raw hex.
    #[arg(long, value_parser = parse_endpoint)]
    endpoint: Option<u64>,
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
        Cmd::Flows(FlowsCmd::List { filter, max }) => ApiRequest::FlowsList {
            filter: filter.into(),
            max,
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
        ApiResponse::Flows { flows } => {
            println!(
                "{:<24} {:>5} {:>39} {:>5} {:>39} {:>5} {:<12} {:>9}",
                "endpoint", "proto", "src", "sport", "dst", "dport", "state", "expires_ms"
            );
            for f in flows {
                println!(
                    "{:<24} {:>5} {:>39} {:>5} {:>39} {:>5} {:<12} {:>9}",
                    f.endpoint,
                    f.protocol,
                    f.src,
                    f.src_port,
                    f.dst,
                    f.dst_port,
                    f.state,
                    f.expires_in_ms
                );
            }
            println!("{} flows", flows.len());
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
        assert_eq!(f.address, Some("2001:db8::1".parse().unwrap()));
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
