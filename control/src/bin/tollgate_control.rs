//! `tollgate-control --config FILE`: attaches to the dataplane's shared
//! memory, ships rules, answers GWLB health checks, exports metrics and
//! serves tollgatectl. See configs/control.toml.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use clap::Parser;
use tollgate_control::config::Config;
use tollgate_control::rules_worker::VALIDATION_BUDGET;
use tollgate_control::service::Service;
use tollgate_control::{api_server, metrics_server, signals};

/// Longest sleep between polls of the punt rings: bounds health-check latency.
const MAX_IDLE: Duration = Duration::from_millis(2);

#[derive(Parser)]
#[command(version, about = "Tollgate control plane")]
struct Args {
    /// Configuration file (every key is documented in configs/control.toml).
    #[arg(long, default_value = "/etc/tollgate/control.toml")]
    config: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tollgate-control: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let config = Config::load(&args.config)?;
    signals::install().map_err(|e| format!("signal handlers: {e}"))?;
    let api = api_server::bind(&config.api.socket, config.api.group.as_deref())?;
    let metrics = metrics_server::bind(config.metrics.listen)?;
    let mut service = Service::new(config.clone());
    service.load_rules_file();

    let (calls_tx, calls) = mpsc::channel();
    // A push is validated (within its budget) before the dataplane's reply
    // is awaited; the service answers every call within both.
    let answer_timeout = VALIDATION_BUDGET
        + Duration::from_millis(config.rules.reply_timeout_ms)
        + Duration::from_secs(2);
    let shared = service.shared();
    let api_counters = shared
        .lock()
        .map(|p| p.api_server.clone())
        .unwrap_or_default();
    let metrics_config = config.clone();
    spawn("metrics", move || {
        metrics_server::serve(metrics, shared, metrics_config)
    })?;
    spawn("api", move || {
        api_server::serve(api, calls_tx, answer_timeout, api_counters)
    })?;
    eprintln!(
        "tollgate-control: serving tollgatectl on {}, metrics on http://{}/metrics, shm {}",
        config.api.socket.display(),
        config.metrics.listen,
        config.shm.name
    );

    let mut drain_until: Option<Instant> = None;
    loop {
        if signals::terminate_requested() && drain_until.is_none() {
            if !config.health.drain_on_sigterm {
                break;
            }
            service.begin_shutdown_drain();
            eprintln!(
                "tollgate-control: terminating; draining for {} s",
                config.health.drain_seconds
            );
            drain_until = Some(Instant::now() + Duration::from_secs(config.health.drain_seconds));
        }
        if drain_until.is_some_and(|t| Instant::now() >= t) {
            break;
        }
        if signals::take_hangup() {
            eprintln!("tollgate-control: SIGHUP: reloading rules");
            service.load_rules_file();
        }
        while let Ok((request, reply)) = calls.try_recv() {
            service.handle_api(request, reply);
        }
        if service.step() {
            continue;
        }
        let idle = service.idle_hint().map_or(MAX_IDLE, |d| d.min(MAX_IDLE));
        match calls.recv_timeout(idle) {
            Ok((request, reply)) => service.handle_api(request, reply),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return Err("the API thread stopped".into()),
        }
    }
    service.finish();
    let _ = std::fs::remove_file(&config.api.socket);
    eprintln!("tollgate-control: exiting");
    Ok(())
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<(), String> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map(|_| ())
        .map_err(|e| format!("start {name} thread: {e}"))
}
