//! tollgate-sim: a simulated AWS Gateway Load Balancer. It sends GENEVE traffic to the
//! appliance as GWLB does and verifies every frame that comes back; `reflect` is a stand-in
//! appliance for checking the simulator itself; `scenario` runs firewall flows from a file;
//! `bridge` carries real hosts' traffic (TUN devices in other namespaces) through the appliance.

mod arp;
mod bridge;
mod checksum;
mod matcher;
mod pcap;
mod rawsock;
mod reflect;
mod reject;
mod report;
mod run;
mod scenario;
mod traffic;
mod tun;
mod verify;
mod wire;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand, ValueEnum};

use crate::reflect::Ipv4Net;
use crate::traffic::{Protocol, SizePlan, TrafficConfig};

#[derive(Parser)]
#[command(
    name = "tollgate-sim",
    version,
    about = "Simulated AWS Gateway Load Balancer for testing Tollgate"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ExpectArg {
    Reply,
    None,
}

#[derive(clap::Args)]
struct Tunnel {
    /// Interface facing the appliance (in the simulator's namespace).
    #[arg(long, default_value = "gwlb0")]
    iface: String,
    /// The appliance's data address (resolved with ARP).
    #[arg(long, default_value = "10.254.11.101")]
    appliance: Ipv4Addr,
    /// This simulated GWLB node's address.
    #[arg(long, default_value = "10.254.11.60")]
    gwlb_ip: Ipv4Addr,
    /// Use this appliance MAC instead of resolving it with ARP (aa:bb:cc:dd:ee:ff).
    #[arg(long, value_parser = parse_mac_arg)]
    appliance_mac: Option<[u8; 6]>,
}

fn parse_mac_arg(text: &str) -> Result<[u8; 6], String> {
    rawsock::parse_mac(text).ok_or_else(|| format!("bad MAC {text:?}: expected aa:bb:cc:dd:ee:ff"))
}

#[derive(Subcommand)]
enum Command {
    /// Send GWLB traffic and verify every returned frame.
    Run {
        #[command(flatten)]
        tunnel: Tunnel,
        /// Frames to send (default 1000 when --duration is not given either).
        #[arg(long)]
        count: Option<u64>,
        /// Seconds to send for.
        #[arg(long)]
        duration: Option<f64>,
        /// Frames per second, paced; 0 sends as fast as possible.
        #[arg(long, default_value_t = 1000)]
        rate: u64,
        /// Distinct GWLB endpoint IDs (vpce-0...).
        #[arg(long, default_value_t = 4)]
        endpoints: usize,
        /// Concurrent flows.
        #[arg(long, default_value_t = 64)]
        flows: usize,
        /// Inner packet sizes: min, imix and/or numbers (46..=8500), comma-separated.
        #[arg(long, default_value = "min,imix,1500,8500")]
        sizes: String,
        /// Inner IP families: v4, v6 or both.
        #[arg(long, default_value = "v4,v6")]
        inner: String,
        /// Inner protocols: tcp, udp, icmp.
        #[arg(long, default_value = "tcp,udp,icmp")]
        protocols: String,
        /// Outer source address to send from instead of --gwlb-ip (spoof check).
        #[arg(long)]
        src_ip: Option<Ipv4Addr>,
        /// What must happen: every frame comes back intact, or nothing comes back.
        #[arg(long, value_enum, default_value = "reply")]
        expect: ExpectArg,
        /// Every N-th flow carries an extra GENEVE option of an unknown class (0: never).
        #[arg(long, default_value_t = 0)]
        unknown_option_every: usize,
        /// Write every returned GENEVE frame to this pcap file (for tshark).
        #[arg(long)]
        pcap_out: Option<PathBuf>,
        /// Write the summary as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Milliseconds to wait for stragglers after the last frame is sent.
        #[arg(long, default_value_t = 500)]
        settle_ms: u64,
        /// Seed for the traffic generator (default: from the clock).
        #[arg(long)]
        seed: Option<u64>,
        /// Send answers without waiting for their request to come back (stress only: a
        /// stateful firewall may rightly drop an answer that overtakes its request).
        #[arg(long)]
        unordered: bool,
    },
    /// Stand-in appliance: answer ARP and ping, hairpin GENEVE (for testing the simulator).
    Reflect {
        /// Interface to serve on.
        #[arg(long, default_value = "tg0")]
        iface: String,
        #[arg(long, default_value = "10.254.11.101")]
        appliance: Ipv4Addr,
        /// GENEVE sources to hairpin (others are counted as spoofed); repeatable.
        #[arg(long, default_value = "10.254.11.60/32")]
        allow: Vec<Ipv4Net>,
        /// Drop inner TCP/UDP packets to or from this port; repeatable.
        #[arg(long)]
        drop_port: Vec<u16>,
        /// Reject (TCP RST / ICMP unreachable) inner packets to this port; repeatable.
        #[arg(long)]
        reject_port: Vec<u16>,
        /// Stop after this many seconds (default: until SIGINT/SIGTERM).
        #[arg(long)]
        duration: Option<f64>,
        /// Fault injection: corrupt one byte in every N-th hairpinned frame (0: never).
        #[arg(long, default_value_t = 0)]
        corrupt_every: u64,
    },
    /// Run firewall flows from a TOML file and check each one's expected outcome.
    Scenario {
        #[command(flatten)]
        tunnel: Tunnel,
        /// Scenario file (see tests/gwlb-sim/scenarios/).
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        json: Option<PathBuf>,
        #[arg(long)]
        pcap_out: Option<PathBuf>,
        /// Milliseconds to wait for each expected reply.
        #[arg(long, default_value_t = 1000)]
        reply_timeout_ms: u64,
        /// Milliseconds a dropped flow must stay silent.
        #[arg(long, default_value_t = 300)]
        settle_ms: u64,
        /// Add a GENEVE option of an unknown class to every flow.
        #[arg(long)]
        unknown_option: bool,
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Play GWLB for real hosts: TUN devices in their namespaces, every packet through the
    /// appliance in GENEVE, returned frames checked and delivered; runs until SIGINT/SIGTERM.
    Bridge {
        #[command(flatten)]
        tunnel: Tunnel,
        /// A host: NETNS:TUN:PREFIX, e.g. tgr-cli:tgc0:10.1.0.0/16 (NETNS "." is the
        /// simulator's own); packets to PREFIX are delivered to that TUN. Repeatable.
        #[arg(long, required = true)]
        host: Vec<bridge::HostSpec>,
        /// GWLB endpoint ID in the first AWS option (vpce-0<16 hex> or hex).
        #[arg(long, default_value = "vpce-00123456789abcdef", value_parser = parse_endpoint_arg)]
        endpoint: u64,
        /// Attachment ID in the second AWS option.
        #[arg(long, default_value_t = 0)]
        attachment: u64,
        /// Milliseconds after which a frame not back counts as not returned.
        #[arg(long, default_value_t = 2000)]
        return_timeout_ms: u64,
        /// Milliseconds to wait for frames on their way after the stop.
        #[arg(long, default_value_t = 300)]
        settle_ms: u64,
        /// Stop after this many seconds (default: at SIGINT/SIGTERM).
        #[arg(long)]
        duration: Option<f64>,
        /// Write the counts as JSON to this file at exit.
        #[arg(long)]
        json: Option<PathBuf>,
        #[arg(long)]
        seed: Option<u64>,
    },
}

fn parse_endpoint_arg(text: &str) -> Result<u64, String> {
    wire::parse_endpoint(text).ok_or_else(|| format!("bad endpoint ID {text:?}"))
}

fn clock_seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    nanos ^ (u64::from(std::process::id()) << 32)
}

fn parse_families(text: &str) -> Result<Vec<bool>, String> {
    text.split(',')
        .map(|s| match s.trim() {
            "v4" | "ipv4" => Ok(false),
            "v6" | "ipv6" => Ok(true),
            other => Err(format!("bad inner family {other:?}: expected v4 or v6")),
        })
        .collect()
}

fn parse_protocols(text: &str) -> Result<Vec<Protocol>, String> {
    text.split(',').map(|s| s.trim().parse()).collect()
}

fn secs(value: f64, what: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| format!("bad {what} {value}: expected seconds >= 0"))
}

fn execute(cli: Cli) -> Result<bool, String> {
    match cli.command {
        Command::Run {
            tunnel,
            count,
            duration,
            rate,
            endpoints,
            flows,
            sizes,
            inner,
            protocols,
            src_ip,
            expect,
            unknown_option_every,
            pcap_out,
            json,
            settle_ms,
            seed,
            unordered,
        } => {
            if endpoints == 0 || flows == 0 {
                return Err("--endpoints and --flows must be at least 1".into());
            }
            let seed = seed.unwrap_or_else(clock_seed);
            let traffic = TrafficConfig {
                gwlb_mac: [0; 6],
                appliance_mac: [0; 6],
                outer_src: tunnel.gwlb_ip,
                appliance_ip: tunnel.appliance,
                endpoints,
                flows,
                sizes: SizePlan::parse(&sizes)?,
                families_v6: parse_families(&inner)?,
                protocols: parse_protocols(&protocols)?,
                unknown_option_every,
                run_nonce: (seed >> 16) as u16,
                seed,
            };
            let report = run::run(run::RunOptions {
                iface: tunnel.iface,
                appliance: tunnel.appliance,
                gwlb_ip: tunnel.gwlb_ip,
                appliance_mac: tunnel.appliance_mac,
                src_ip,
                count,
                duration: duration.map(|d| secs(d, "--duration")).transpose()?,
                rate,
                traffic,
                expect_reply: expect == ExpectArg::Reply,
                pcap_out,
                json,
                settle: Duration::from_millis(settle_ms),
                causal: !unordered,
            })?;
            report.print();
            Ok(report.passed)
        }
        Command::Reflect {
            iface,
            appliance,
            allow,
            drop_port,
            reject_port,
            duration,
            corrupt_every,
        } => {
            let counters = reflect::reflect(reflect::ReflectOptions {
                iface,
                appliance,
                allow,
                drop_ports: drop_port,
                reject_ports: reject_port,
                duration: duration.map(|d| secs(d, "--duration")).transpose()?,
                corrupt_every,
            })?;
            println!(
                "reflect: arp answered {}, echo answered {}, hairpinned {}, spoofed {}, dropped by port {}, rejected {}, ignored {}, corrupted on purpose {}",
                counters.arp_answered,
                counters.echo_answered,
                counters.hairpinned,
                counters.spoofed,
                counters.dropped_by_port,
                counters.rejected,
                counters.ignored,
                counters.corrupted_on_purpose
            );
            Ok(true)
        }
        Command::Scenario {
            tunnel,
            file,
            json,
            pcap_out,
            reply_timeout_ms,
            settle_ms,
            unknown_option,
            seed,
        } => {
            let report = scenario::run(scenario::ScenarioOptions {
                iface: tunnel.iface,
                appliance: tunnel.appliance,
                gwlb_ip: tunnel.gwlb_ip,
                appliance_mac: tunnel.appliance_mac,
                file,
                json,
                pcap_out,
                reply_timeout: Duration::from_millis(reply_timeout_ms),
                settle: Duration::from_millis(settle_ms),
                unknown_option,
                seed: seed.unwrap_or_else(clock_seed),
            })?;
            report.print();
            Ok(report.passed)
        }
        Command::Bridge {
            tunnel,
            host,
            endpoint,
            attachment,
            return_timeout_ms,
            settle_ms,
            duration,
            json,
            seed,
        } => {
            let report = bridge::bridge(bridge::BridgeOptions {
                iface: tunnel.iface,
                appliance: tunnel.appliance,
                gwlb_ip: tunnel.gwlb_ip,
                appliance_mac: tunnel.appliance_mac,
                hosts: host,
                endpoint_id: endpoint,
                attachment_id: attachment,
                return_timeout: Duration::from_millis(return_timeout_ms),
                settle: Duration::from_millis(settle_ms),
                duration: duration.map(|d| secs(d, "--duration")).transpose()?,
                json,
                seed: seed.unwrap_or_else(clock_seed),
            })?;
            report.print();
            Ok(report.passed)
        }
    }
}

fn main() -> ExitCode {
    match execute(Cli::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("tollgate-sim: error: {e}");
            ExitCode::from(2)
        }
    }
}
