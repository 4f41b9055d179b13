//! `tollgate-dataplane --config FILE`: the TOML configuration, validated in
//! full before anything touches DPDK. Every key is documented in
//! `configs/dataplane.toml`.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tollgate_firewall::{FlowState, Timeouts, GWLB_IDLE_TIMEOUTS, MAX_EXPIRY_LAP, MAX_TIMEOUT};

/// A configuration problem, reported as one line naming the file.
#[derive(Debug)]
pub struct ConfigError {
    pub file: PathBuf,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config {}: {}", self.file.display(), self.message)
    }
}

impl std::error::Error for ConfigError {}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub eal: EalConfig,
    pub port: PortConfig,
    pub appliance: ApplianceConfig,
    pub shm: ShmConfig,
    #[serde(default)]
    pub worker: WorkerConfig,
    #[serde(default)]
    pub punt: PuntConfig,
    #[serde(default)]
    pub firewall: FirewallConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EalConfig {
    /// Passed to `rte_eal_init` as given (argv[0] is added).
    pub args: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortConfig {
    /// DPDK device name: a vdev name (`net_af_packet0`) or a PCI address.
    pub device: String,
    #[serde(default = "default_mtu")]
    pub mtu: u16,
    #[serde(default = "default_rx_descriptors")]
    pub rx_descriptors: u16,
    #[serde(default = "default_tx_descriptors")]
    pub tx_descriptors: u16,
    /// Mbufs in the pool shared by all queues (0: sized from queues and descriptors).
    #[serde(default)]
    pub mbufs: u32,
    /// Spread flows over the worker queues with RSS when the device can.
    #[serde(default = "default_true")]
    pub rss: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplianceConfig {
    /// IPv4 address of the data port (GWLB's registered target address).
    pub address: Ipv4Addr,
    /// GENEVE is accepted only from these prefixes (GWLB node addresses).
    pub gwlb_addresses: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShmConfig {
    /// Segment name; the file is `/dev/shm/tollgate-<name>`.
    pub name: String,
    /// Group whose members may attach besides this user and root (mode
    /// 0660); `None`: owner only (mode 0600).
    #[serde(default)]
    pub group: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerConfig {
    /// Packets a worker may queue for another worker (flow owner) before dropping.
    #[serde(default = "default_steer_ring")]
    pub steer_ring_size: usize,
    /// Microseconds to sleep after a run of empty polls (0: never sleep).
    #[serde(default)]
    pub idle_sleep_us: u32,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            steer_ring_size: default_steer_ring(),
            idle_sleep_us: 0,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PuntConfig {
    /// Packets per second per worker handed to the control plane at most.
    #[serde(default = "default_punt_rate")]
    pub rate_pps: u32,
    /// Token bucket depth.
    #[serde(default = "default_punt_burst")]
    pub burst: u32,
    /// Sources that may reach the control plane (health checkers);
    /// `None`: the `gwlb_addresses`.
    #[serde(default)]
    pub health_sources: Option<Vec<String>>,
}

impl Default for PuntConfig {
    fn default() -> Self {
        Self {
            rate_pps: default_punt_rate(),
            burst: default_punt_burst(),
            health_sources: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirewallConfig {
    /// Flows tracked at most, summed over all workers.
    #[serde(default = "default_flow_capacity")]
    pub flow_capacity: u32,
    /// Rule file loaded at start, before any control plane pushes one.
    /// Without it the dataplane forwards nothing until rules arrive.
    #[serde(default)]
    pub rules_file: Option<PathBuf>,
    /// Adopt TCP flows seen mid-stream (after a GWLB failover).
    #[serde(default = "default_true")]
    pub midstream_pickup: bool,
    /// Idle timeouts in seconds, by flow state name in lower case
    /// (`established`, `udp_single`, ...); a state not named keeps the
    /// firewall's default.
    #[serde(default)]
    pub timeouts: BTreeMap<String, u64>,
    /// Milliseconds the expiry hand takes to go once around the flow
    /// table: an idle flow's slot is freed within its timeout plus a lap.
    #[serde(default = "default_expiry_lap_ms")]
    pub expiry_lap_ms: u64,
    /// Percent (1-100) of a worker's flow table a GWLB endpoint may hold
    /// and still evict other endpoints' flows when the table is full.
    #[serde(default = "default_endpoint_share")]
    pub endpoint_share: u8,
}

impl Default for FirewallConfig {
    fn default() -> Self {
        Self {
            flow_capacity: default_flow_capacity(),
            rules_file: None,
            midstream_pickup: true,
            timeouts: BTreeMap::new(),
            expiry_lap_ms: default_expiry_lap_ms(),
            endpoint_share: default_endpoint_share(),
        }
    }
}

impl FirewallConfig {
    /// The firewall's timeouts with those set in `[firewall.timeouts]`.
    pub fn timeouts(&self) -> Result<Timeouts, String> {
        let mut out = Timeouts::default();
        for (name, &secs) in &self.timeouts {
            let state = FlowState::ALL
                .into_iter()
                .find(|s| s.name().to_lowercase() == *name)
                .ok_or_else(|| {
                    let known: Vec<String> = FlowState::ALL
                        .iter()
                        .map(|s| s.name().to_lowercase())
                        .collect();
                    format!(
                        "[firewall.timeouts] {name}: no such flow state; one of {}",
                        known.join(", ")
                    )
                })?;
            let max = MAX_TIMEOUT.as_secs();
            if secs == 0 || secs > max {
                return Err(format!(
                    "[firewall.timeouts] {name}: {secs} s is out of range 1-{max} s"
                ));
            }
            *out.of_mut(state) = Duration::from_secs(secs);
        }
        Ok(out)
    }

    /// One worker's firewall: `capacity` flows, the timeouts and lap set
    /// here, the firewall's defaults for the rest.
    pub fn per_worker(&self, capacity: u32) -> Result<tollgate_firewall::FirewallConfig, String> {
        Ok(tollgate_firewall::FirewallConfig {
            capacity,
            timeouts: self.timeouts()?,
            mid_stream_pickup: self.midstream_pickup,
            expiry_lap: Duration::from_millis(self.expiry_lap_ms),
            endpoint_share: self.endpoint_share,
            ..tollgate_firewall::FirewallConfig::default()
        })
    }

    /// Timeouts shorter than GWLB's idle timeout for the same traffic:
    /// allowed (GWLB's TCP timeout is itself configurable down to 60 s),
    /// but worth saying at start.
    pub fn warnings(&self) -> Vec<String> {
        let Ok(timeouts) = self.timeouts() else {
            return Vec::new();
        };
        GWLB_IDLE_TIMEOUTS
            .iter()
            .filter(|(state, gwlb, _)| timeouts.of(*state).as_secs() < *gwlb)
            .map(|(state, gwlb, what)| {
                format!(
                    "[firewall.timeouts] {} = {} s is shorter than GWLB's {what} idle \
                     timeout ({gwlb} s): such a flow idle that long is forgotten here \
                     while GWLB still forwards it",
                    state.name().to_lowercase(),
                    timeouts.of(*state).as_secs()
                )
            })
            .collect()
    }
}

fn default_mtu() -> u16 {
    9001
}
fn default_rx_descriptors() -> u16 {
    1024
}
fn default_tx_descriptors() -> u16 {
    1024
}
fn default_true() -> bool {
    true
}
fn default_steer_ring() -> usize {
    4096
}
fn default_punt_rate() -> u32 {
    2000
}
fn default_punt_burst() -> u32 {
    256
}
fn default_flow_capacity() -> u32 {
    1_000_000
}
fn default_endpoint_share() -> u8 {
    tollgate_firewall::FirewallConfig::default().endpoint_share
}
fn default_expiry_lap_ms() -> u64 {
    let lap = tollgate_firewall::FirewallConfig::default().expiry_lap;
    u64::try_from(lap.as_millis()).unwrap_or(u64::MAX)
}

/// An IPv4 prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Cidr {
    pub network: Ipv4Addr,
    pub prefix_len: u8,
}

impl Ipv4Cidr {
    pub fn contains(&self, addr: [u8; 4]) -> bool {
        let mask = u32::MAX
            .checked_shl(32 - u32::from(self.prefix_len))
            .unwrap_or(0);
        u32::from_be_bytes(addr) & mask == u32::from(self.network) & mask
    }
}

impl std::str::FromStr for Ipv4Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, len) = s.split_once('/').unwrap_or((s, "32"));
        let network: Ipv4Addr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an IPv4 address or prefix"))?;
        let prefix_len: u8 = len
            .parse()
            .ok()
            .filter(|l| *l <= 32)
            .ok_or_else(|| format!("{s:?}: prefix length must be 0-32"))?;
        let cidr = Ipv4Cidr {
            network,
            prefix_len,
        };
        if !cidr.contains(network.octets()) || (prefix_len < 32 && host_bits_set(cidr)) {
            return Err(format!("{s:?}: host bits set beyond /{prefix_len}"));
        }
        Ok(cidr)
    }
}

fn host_bits_set(c: Ipv4Cidr) -> bool {
    let host_mask = u32::MAX.checked_shr(u32::from(c.prefix_len)).unwrap_or(0);
    u32::from(c.network) & host_mask != 0
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let err = |message: String| ConfigError {
            file: path.to_owned(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
        Self::parse(&text).map_err(err)
    }

    /// Parses and validates; the error names the key and what was expected.
    pub fn parse(text: &str) -> Result<Config, String> {
        let config: Config = toml::from_str(text).map_err(|e| one_line(text, &e))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        if self.eal.args.is_empty() {
            return Err(
                "[eal] args: empty; give at least the lcores and the device (-l 0-2 --vdev=...)"
                    .into(),
            );
        }
        if self.port.device.trim().is_empty() {
            return Err("[port] device: empty; give a vdev name or PCI address".into());
        }
        if !(576..=9216).contains(&self.port.mtu) {
            return Err(format!(
                "[port] mtu: {} is out of range 576-9216 (GWLB needs at least 8568; use 9001)",
                self.port.mtu
            ));
        }
        for (key, n) in [
            ("rx_descriptors", self.port.rx_descriptors),
            ("tx_descriptors", self.port.tx_descriptors),
        ] {
            if !(64..=16384).contains(&n) || !n.is_power_of_two() {
                return Err(format!(
                    "[port] {key}: {n} must be a power of two in 64-16384"
                ));
            }
        }
        if self.appliance.gwlb_addresses.is_empty() {
            return Err(
                "[appliance] gwlb_addresses: empty; GENEVE would be accepted from nobody".into(),
            );
        }
        self.gwlb_prefixes()
            .map_err(|e| format!("[appliance] gwlb_addresses: {e}"))?;
        if self.shm.name.is_empty()
            || !self
                .shm
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(format!(
                "[shm] name: {:?} must be non-empty letters, digits, '-' or '_'",
                self.shm.name
            ));
        }
        if let Some(group) = &self.shm.group {
            if group.is_empty() || group.contains('\0') {
                return Err("[shm] group: must be a group name".into());
            }
        }
        if !self.worker.steer_ring_size.is_power_of_two() || self.worker.steer_ring_size < 64 {
            return Err(format!(
                "[worker] steer_ring_size: {} must be a power of two >= 64",
                self.worker.steer_ring_size
            ));
        }
        if self.punt.health_sources.as_ref().is_some_and(Vec::is_empty) {
            return Err(
                "[punt] health_sources: empty; health checks would be answered for nobody".into(),
            );
        }
        self.health_source_prefixes()
            .map_err(|e| format!("[punt] health_sources: {e}"))?;
        if self.punt.rate_pps == 0 || self.punt.burst == 0 {
            return Err(
                "[punt] rate_pps and burst must be > 0 (health checks arrive as punted packets)"
                    .into(),
            );
        }
        if self.worker.idle_sleep_us > 10_000 {
            return Err(format!(
                "[worker] idle_sleep_us: {} is above 10000 (10 ms would add that much latency)",
                self.worker.idle_sleep_us
            ));
        }
        self.firewall.timeouts()?;
        let max_lap = MAX_EXPIRY_LAP.as_millis();
        if self.firewall.expiry_lap_ms == 0 || u128::from(self.firewall.expiry_lap_ms) > max_lap {
            return Err(format!(
                "[firewall] expiry_lap_ms: {} is out of range 1-{max_lap}",
                self.firewall.expiry_lap_ms
            ));
        }
        if !(1..=100).contains(&self.firewall.endpoint_share) {
            return Err(format!(
                "[firewall] endpoint_share: {} is out of range 1-100",
                self.firewall.endpoint_share
            ));
        }
        if self.firewall.flow_capacity < 1024 {
            return Err(format!(
                "[firewall] flow_capacity: {} is below the minimum of 1024",
                self.firewall.flow_capacity
            ));
        }
        Ok(())
    }

    /// The rule file to apply at start, resolved against the config file's folder.
    pub fn rules_path(&self, config_file: &Path) -> Option<PathBuf> {
        let rules = self.firewall.rules_file.as_ref()?;
        Some(match config_file.parent() {
            Some(dir) if rules.is_relative() => dir.join(rules),
            _ => rules.clone(),
        })
    }

    /// The parsed `gwlb_addresses`.
    pub fn gwlb_prefixes(&self) -> Result<Vec<Ipv4Cidr>, String> {
        self.appliance
            .gwlb_addresses
            .iter()
            .map(|s| s.parse())
            .collect()
    }

    /// The parsed `[punt] health_sources`, by default the `gwlb_addresses`.
    pub fn health_source_prefixes(&self) -> Result<Vec<Ipv4Cidr>, String> {
        self.punt
            .health_sources
            .as_ref()
            .unwrap_or(&self.appliance.gwlb_addresses)
            .iter()
            .map(|s| s.parse())
            .collect()
    }
}

/// toml's errors span several lines with a source excerpt; say it in one:
/// the line number, the offending line itself (it names the key) and why.
fn one_line(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim();
    match e.span() {
        Some(span) => {
            let line_no = text[..span.start.min(text.len())].matches('\n').count() + 1;
            let line = text.lines().nth(line_no - 1).unwrap_or("").trim();
            format!("line {line_no}: `{line}`: {message}")
        }
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[eal]
args = ["-l", "0-2", "--vdev=net_af_packet0,iface=tg0,qpairs=2"]
[port]
device = "net_af_packet0"
mtu = 9001
[appliance]
address = "10.254.11.101"
gwlb_addresses = ["10.254.11.60/32"]
[shm]
name = "tollgate"
"#;

    #[test]
    fn minimal_config_takes_defaults() {
        let c = Config::parse(MINIMAL).unwrap();
        assert_eq!(c.port.mtu, 9001);
        assert_eq!(c.worker.steer_ring_size, 4096);
        assert_eq!(c.firewall.flow_capacity, 1_000_000);
        assert!(c.firewall.midstream_pickup);
        assert_eq!(c.appliance.address, Ipv4Addr::new(10, 254, 11, 101));
        let p = c.gwlb_prefixes().unwrap();
        assert!(p[0].contains([10, 254, 11, 60]));
        assert!(!p[0].contains([10, 254, 11, 61]));
        assert_eq!(c.health_source_prefixes().unwrap(), p, "GWLB by default");
    }

    #[test]
    fn health_sources_replace_the_default() {
        let text =
            format!("{MINIMAL}[punt]\nhealth_sources = [\"10.254.11.0/28\", \"10.254.12.9\"]\n");
        let p = Config::parse(&text)
            .unwrap()
            .health_source_prefixes()
            .unwrap();
        assert_eq!(p.len(), 2);
        assert!(p[0].contains([10, 254, 11, 15]));
        assert!(!p[0].contains([10, 254, 11, 16]));
        assert!(p[1].contains([10, 254, 12, 9]));
    }

    #[test]
    fn shipped_example_config_is_valid() {
        let text = include_str!("../../configs/dataplane.toml");
        Config::parse(text).unwrap();
    }

    #[test]
    fn shipped_example_config_states_the_firewall_defaults() {
        let text = include_str!("../../configs/dataplane.toml");
        let firewall = Config::parse(text).unwrap().firewall;
        assert_eq!(firewall.timeouts.len(), FlowState::ALL.len(), "every state");
        let example = firewall.per_worker(1024).unwrap();
        let defaults = tollgate_firewall::FirewallConfig::default();
        assert_eq!(example.timeouts, defaults.timeouts);
        assert_eq!(example.expiry_lap, defaults.expiry_lap);
        assert!(
            text.contains("\nendpoint_share = "),
            "endpoint_share documented"
        );
        assert_eq!(example.endpoint_share, defaults.endpoint_share);
    }

    fn err_of(text: &str) -> String {
        Config::parse(text).unwrap_err()
    }

    #[test]
    fn bad_configs_name_the_key_and_the_reason() {
        let cases: &[(&str, &str, &str)] = &[
            ("mtu = 9001", "mtu = 70000", "mtu"),
            ("mtu = 9001", "mtu = 100", "out of range 576-9216"),
            (
                "mtu = 9001",
                "mtu = 9001\nspeed = 1",
                "unknown field `speed`",
            ),
            ("\"10.254.11.101\"", "\"10.254.11.301\"", "address"),
            (
                "[\"10.254.11.60/32\"]",
                "[\"10.254.11.60/33\"]",
                "prefix length must be 0-32",
            ),
            (
                "[\"10.254.11.60/32\"]",
                "[\"10.254.11.60/24\"]",
                "host bits set",
            ),
            ("[\"10.254.11.60/32\"]", "[]", "gwlb_addresses: empty"),
            (
                "[shm]",
                "[punt]\nhealth_sources = []\n[shm]",
                "[punt] health_sources: empty",
            ),
            (
                "[shm]",
                "[punt]\nhealth_sources = [\"10.1.1.1/40\"]\n[shm]",
                "[punt] health_sources: ",
            ),
            ("name = \"tollgate\"", "name = \"../x\"", "[shm] name"),
            (
                "[shm]",
                "[worker]\nsteer_ring_size = 100\n[shm]",
                "steer_ring_size: 100",
            ),
            (
                "[shm]",
                "[firewall]\nflow_capacity = 10\n[shm]",
                "flow_capacity: 10",
            ),
            (
                "[shm]",
                "[firewall]\nendpoint_share = 0\n[shm]",
                "endpoint_share: 0 is out of range 1-100",
            ),
            (
                "[shm]",
                "[firewall]\nendpoint_share = 101\n[shm]",
                "endpoint_share: 101 is out of range 1-100",
            ),
            ("[shm]\nname = \"tollgate\"", "", "missing field `shm`"),
            (
                "name = \"tollgate\"",
                "name = \"tollgate\"\ngroup = \"\"",
                "[shm] group: must be a group name",
            ),
        ];
        for (from, to, expect) in cases {
            assert!(MINIMAL.contains(from), "fixture lacks {from}");
            let msg = err_of(&MINIMAL.replacen(from, to, 1));
            assert!(
                msg.contains(expect),
                "{from} -> {to}: got {msg:?}, want {expect:?}"
            );
            assert!(!msg.contains('\n'), "error must be one line: {msg:?}");
        }
    }

    #[test]
    fn firewall_timeouts_and_lap_reach_the_workers_firewall() {
        let text = format!(
            "{MINIMAL}[firewall]\nmidstream_pickup = false\nexpiry_lap_ms = 250\n\
             [firewall.timeouts]\nestablished = 7200\nudp_single = 150\n"
        );
        let c = Config::parse(&text).unwrap();
        let fw = c.firewall.per_worker(5_000).unwrap();
        let defaults = Timeouts::default();
        assert_eq!(fw.capacity, 5_000);
        assert!(!fw.mid_stream_pickup);
        assert_eq!(fw.expiry_lap, Duration::from_millis(250));
        assert_eq!(fw.timeouts.tcp_established, Duration::from_secs(7200));
        assert_eq!(fw.timeouts.udp_single, Duration::from_secs(150));
        assert_eq!(fw.timeouts.udp_stream, defaults.udp_stream);
        assert_eq!(fw.timeouts.tcp_syn_sent, defaults.tcp_syn_sent);
        fw.validate().unwrap();
        assert!(
            c.firewall.warnings().is_empty(),
            "{:?}",
            c.firewall.warnings()
        );

        let plain = Config::parse(MINIMAL)
            .unwrap()
            .firewall
            .per_worker(1024)
            .unwrap();
        assert_eq!(plain.timeouts, defaults);
        assert_eq!(
            plain.expiry_lap,
            tollgate_firewall::FirewallConfig::default().expiry_lap
        );
    }

    #[test]
    fn bad_firewall_timeouts_name_the_state_and_the_range() {
        let cases = [
            (
                "established = 0",
                "[firewall.timeouts] established: 0 s is out of range 1-",
            ),
            (
                "udp_single = 40000000",
                "udp_single: 40000000 s is out of range",
            ),
            (
                "establishd = 60",
                "establishd: no such flow state; one of syn_sent",
            ),
            ("ESTABLISHED = 60", "ESTABLISHED: no such flow state"),
            ("udp_single = \"2m\"", "invalid type: string"),
        ];
        for (line, expect) in cases {
            let msg = err_of(&format!("{MINIMAL}[firewall.timeouts]\n{line}\n"));
            assert!(msg.contains(expect), "{line}: got {msg:?}, want {expect:?}");
            assert!(!msg.contains('\n'), "error must be one line: {msg:?}");
        }
        for lap in ["0", "3600001"] {
            let msg = err_of(&format!("{MINIMAL}[firewall]\nexpiry_lap_ms = {lap}\n"));
            assert!(
                msg.contains(&format!("expiry_lap_ms: {lap} is out of range 1-3600000")),
                "{msg}"
            );
        }
    }

    #[test]
    fn timeouts_below_gwlbs_are_allowed_with_a_warning() {
        let text = format!(
            "{MINIMAL}[firewall.timeouts]\nudp_single = 30\nestablished = 60\nsyn_sent = 5\n"
        );
        let c = Config::parse(&text).unwrap();
        let warnings = c.firewall.warnings();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].starts_with("[firewall.timeouts] established = 60 s"));
        assert!(warnings[0].contains("GWLB's default TCP idle timeout (350 s)"));
        assert!(warnings[1].starts_with("[firewall.timeouts] udp_single = 30 s"));
        assert!(warnings[1].contains("GWLB's UDP idle timeout (120 s)"));
        assert!(Config::parse(MINIMAL)
            .unwrap()
            .firewall
            .warnings()
            .is_empty());
    }

    #[test]
    fn prefix_contains() {
        let any: Ipv4Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(any.contains([1, 2, 3, 4]));
        let net: Ipv4Cidr = "10.254.0.0/16".parse().unwrap();
        assert!(net.contains([10, 254, 200, 1]));
        assert!(!net.contains([10, 253, 0, 1]));
        let bare: Ipv4Cidr = "10.0.0.1".parse().unwrap();
        assert_eq!(bare.prefix_len, 32);
    }
}
