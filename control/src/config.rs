//! `tollgate-control`'s configuration file (TOML, every key documented in
//! `configs/control.toml`). Unknown keys are errors; every error is one line.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub shm: ShmConfig,
    #[serde(default)]
    pub rules: RulesConfig,
    #[serde(default)]
    pub api: ApiConfig,
    #[serde(default)]
    pub health: HealthConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShmConfig {
    #[serde(default = "default_shm_name")]
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    /// Loaded at start and on SIGHUP; relative to the config file's directory.
    pub file: Option<PathBuf>,
    #[serde(default = "default_reply_timeout_ms")]
    pub reply_timeout_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    #[serde(default = "default_socket")]
    pub socket: PathBuf,
    /// Group allowed to use the socket besides root; `None`: root's group.
    pub group: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthProtocol {
    Http,
    Tcp,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthConfig {
    #[serde(default = "default_protocol")]
    pub protocol: HealthProtocol,
    #[serde(default = "default_port")]
    pub port: u16,
    #[serde(default = "default_path")]
    pub path: String,
    #[serde(default = "default_heartbeat_timeout_ms")]
    pub heartbeat_timeout_ms: u64,
    #[serde(default = "default_sockets")]
    pub sockets: usize,
    #[serde(default = "default_true")]
    pub drain_on_sigterm: bool,
    #[serde(default)]
    pub drain_seconds: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    #[serde(default = "default_max_endpoints")]
    pub max_endpoints: usize,
}

fn default_shm_name() -> String {
    "tollgate".into()
}
fn default_reply_timeout_ms() -> u64 {
    5000
}
fn default_socket() -> PathBuf {
    "/run/tollgate/control.sock".into()
}
fn default_protocol() -> HealthProtocol {
    HealthProtocol::Http
}
fn default_port() -> u16 {
    80
}
fn default_path() -> String {
    "/".into()
}
fn default_heartbeat_timeout_ms() -> u64 {
    1000
}
fn default_sockets() -> usize {
    16
}
fn default_true() -> bool {
    true
}
fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9469))
}
fn default_max_endpoints() -> usize {
    64
}

impl Default for ShmConfig {
    fn default() -> Self {
        ShmConfig {
            name: default_shm_name(),
        }
    }
}
impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            file: None,
            reply_timeout_ms: default_reply_timeout_ms(),
        }
    }
}
impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            socket: default_socket(),
            group: None,
        }
    }
}
impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            protocol: default_protocol(),
            port: default_port(),
            path: default_path(),
            heartbeat_timeout_ms: default_heartbeat_timeout_ms(),
            sockets: default_sockets(),
            drain_on_sigterm: true,
            drain_seconds: 0,
        }
    }
}
impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            listen: default_listen(),
            max_endpoints: default_max_endpoints(),
        }
    }
}
impl HealthConfig {
    pub fn heartbeat_timeout(&self) -> Duration {
        Duration::from_millis(self.heartbeat_timeout_ms)
    }
}

impl Config {
    /// Reads and checks `path`; a relative rules file is made relative to it.
    pub fn load(path: &Path) -> Result<Config, String> {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("config {}: {e}", path.display()))?;
        let mut config =
            Self::parse(&text).map_err(|e| format!("config {}: {e}", path.display()))?;
        if let Some(file) = &config.rules.file {
            if file.is_relative() {
                let dir = path.parent().unwrap_or(Path::new("."));
                config.rules.file = Some(dir.join(file));
            }
        }
        Ok(config)
    }

    /// Parses and validates config text; the error is one line.
    pub fn parse(text: &str) -> Result<Config, String> {
        let config: Config = toml::from_str(text).map_err(|e| one_line_toml_error(text, &e))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        tollgate_shm::segment_path(&self.shm.name).map_err(|e| format!("shm.name: {e}"))?;
        if self.health.port == 0 {
            return Err("health.port: must be 1-65535".into());
        }
        if !self.health.path.starts_with('/')
            || self
                .health
                .path
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(format!(
                "health.path: {:?} must start with '/' and contain no spaces or control characters",
                self.health.path
            ));
        }
        if !(1..=256).contains(&self.health.sockets) {
            return Err(format!(
                "health.sockets: {} is not in 1-256",
                self.health.sockets
            ));
        }
        if !(10..=60_000).contains(&self.health.heartbeat_timeout_ms) {
            return Err(format!(
                "health.heartbeat_timeout_ms: {} is not in 10-60000",
                self.health.heartbeat_timeout_ms
            ));
        }
        if self.health.drain_seconds > 3600 {
            return Err(format!(
                "health.drain_seconds: {} is over 3600",
                self.health.drain_seconds
            ));
        }
        if !(100..=600_000).contains(&self.rules.reply_timeout_ms) {
            return Err(format!(
                "rules.reply_timeout_ms: {} is not in 100-600000",
                self.rules.reply_timeout_ms
            ));
        }
        if !(1..=10_000).contains(&self.metrics.max_endpoints) {
            return Err(format!(
                "metrics.max_endpoints: {} is not in 1-10000",
                self.metrics.max_endpoints
            ));
        }
        if let Some(group) = &self.api.group {
            if group.is_empty() || group.contains('\0') {
                return Err("api.group: must be a group name".into());
            }
        }
        if self.api.socket.as_os_str().is_empty() {
            return Err("api.socket: must be a path".into());
        }
        Ok(())
    }
}

/// `line L: message` from toml's multi-line report.
fn one_line_toml_error(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().replace('\n', " ");
    match error.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}: {}", message.trim())
        }
        None => message.trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_documented_defaults() {
        let c = Config::parse("").unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.shm.name, "tollgate");
        assert_eq!(c.health.protocol, HealthProtocol::Http);
        assert_eq!(c.health.port, 80);
        assert_eq!(c.health.heartbeat_timeout(), Duration::from_secs(1));
        assert!(c.health.drain_on_sigterm);
        assert_eq!(c.metrics.listen.to_string(), "127.0.0.1:9469");
        assert_eq!(c.api.socket, PathBuf::from("/run/tollgate/control.sock"));
    }

    #[test]
    fn shipped_config_parses_and_equals_defaults_except_rules() {
        let text = include_str!("../../configs/control.toml");
        let c = Config::parse(text).unwrap();
        assert_eq!(c.health, HealthConfig::default());
        assert_eq!(c.metrics, MetricsConfig::default());
        assert_eq!(c.api.socket, PathBuf::from("/run/tollgate/control.sock"));
    }

    #[test]
    fn errors_are_one_precise_line() {
        let cases: &[(&str, &str)] = &[
            ("[health]\nprot = \"tcp\"\n", "line 2: unknown field `prot`"),
            (
                "[health]\nprotocol = \"udp\"\n",
                "line 2: unknown variant `udp`",
            ),
            ("[nope]\n", "line 1: unknown field `nope`"),
            ("[health]\nport = 0\n", "health.port: must be 1-65535"),
            ("[health]\nport = 70000\n", "line 2:"),
            ("[health]\npath = \"healthz\"\n", "health.path:"),
            (
                "[health]\nsockets = 0\n",
                "health.sockets: 0 is not in 1-256",
            ),
            (
                "[health]\nheartbeat_timeout_ms = 5\n",
                "health.heartbeat_timeout_ms: 5",
            ),
            ("[shm]\nname = \"a/b\"\n", "shm.name:"),
            (
                "[metrics]\nlisten = \"localhost\"\n",
                "line 2: invalid socket address",
            ),
            (
                "[rules]\nreply_timeout_ms = 1\n",
                "rules.reply_timeout_ms: 1",
            ),
            ("[api]\ngroup = \"\"\n", "api.group:"),
            ("[health\n", "line 1:"),
        ];
        for (text, want) in cases {
            let err = Config::parse(text).unwrap_err();
            assert!(
                err.starts_with(want),
                "{text:?}: got {err:?}, want prefix {want:?}"
            );
            assert!(!err.contains('\n'), "{err:?} spans lines");
        }
    }

    #[test]
    fn relative_rules_file_is_next_to_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control.toml");
        std::fs::write(&path, "[rules]\nfile = \"rules.toml\"\n").unwrap();
        let c = Config::load(&path).unwrap();
        assert_eq!(c.rules.file, Some(dir.path().join("rules.toml")));
        let missing = Config::load(&dir.path().join("absent.toml")).unwrap_err();
        assert!(
            missing.contains("absent.toml") && !missing.contains('\n'),
            "{missing}"
        );
    }
}
