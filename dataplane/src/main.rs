//! `tollgate-dataplane --config FILE`: the DPDK primary process.

use std::path::PathBuf;

use clap::Parser;

/// Tollgate's dataplane: hairpins GWLB GENEVE traffic through a stateful firewall.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Configuration file (TOML; see configs/dataplane.toml).
    #[arg(long)]
    config: PathBuf,
    /// Write the final counters as JSON to this file at exit.
    #[arg(long)]
    stats_out: Option<PathBuf>,
}

fn main() {
    let args = Args::parse();
    let opts = tollgate_dataplane::app::Options {
        config: args.config,
        stats_out: args.stats_out,
    };
    if let Err(e) = tollgate_dataplane::app::run(&opts) {
        eprintln!("tollgate-dataplane: {e}");
        std::process::exit(e.exit_code());
    }
}
