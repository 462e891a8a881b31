//! The config file (TOML), the accounts, and the secrets scfd keeps in its data dir.

use scf_core::Limits;
use scf_store::Synchronous;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Tencent Cloud's public regions (SCF's region list); a request for any other region is
/// `UnsupportedRegion` unless the config lists its own.
pub const TENCENT_REGIONS: &[&str] = &[
    "ap-guangzhou",
    "ap-shanghai",
    "ap-nanjing",
    "ap-beijing",
    "ap-chengdu",
    "ap-chongqing",
    "ap-hongkong",
    "ap-singapore",
    "ap-jakarta",
    "ap-seoul",
    "ap-tokyo",
    "ap-bangkok",
    "ap-mumbai",
    "na-siliconvalley",
    "na-ashburn",
    "na-toronto",
    "eu-frankfurt",
    "sa-saopaulo",
    "ap-shanghai-fsi",
    "ap-shenzhen-fsi",
    "ap-beijing-fsi",
];

/// The whole config file. Every key is optional.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `--listen` wins over this.
    pub listen: Option<String>,
    /// `--data-dir` wins over this.
    pub data_dir: Option<PathBuf>,
    /// The region of a request that names none.
    pub default_region: String,
    /// Regions served; default: Tencent's public regions.
    pub regions: Option<Vec<String>>,
    /// Base URL for links back to this server (GetFunctionAddress), e.g. behind a proxy.
    pub public_url: Option<String>,
    /// Offset of SCF's time strings, in hours east of UTC (SCF shows Beijing time).
    pub time_offset_hours: i32,
    /// Runtime of a function created without one.
    pub default_runtime: String,
    /// This node's name in a cluster (logs, request records, async leases); default: one made
    /// on first start and kept in the data dir's `node-id`. Two live nodes must not share one.
    pub node_id: Option<String>,
    /// Nodes serving one cluster: each node allows `1/cluster_nodes` of every rate limit.
    pub cluster_nodes: u32,
    /// A `/metrics` series not updated for this long is dropped (a deleted function's, a
    /// quiet one's: counters then start again from 0, which Prometheus reads as a reset).
    pub metrics_idle_seconds: u64,
    pub accounts: Vec<Account>,
    /// Requests per second per account for each action (`default` for the rest); 0 = unlimited.
    pub rate_limits: HashMap<String, u32>,
    pub limits: Limits,
    pub http: HttpLimits,
    pub store: StoreConfig,
    pub engine: scf_engine::EngineConfig,
    pub sandbox: scf_engine::sandbox::SandboxConfig,
    #[serde(rename = "async")]
    pub async_: AsyncConfig,
}

/// The `[async]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AsyncConfig {
    /// Seconds between a failed async run and its retry (SCF: 60).
    pub retry_interval_secs: u64,
    /// Hours request records and finished async events are kept (SCF keeps async status 3 days).
    pub retention_hours: u64,
    /// Seconds between runs of the retention purge.
    pub purge_interval_secs: u64,
    /// Seconds an async run's lease lasts unless its node renews it; after a node dies, its
    /// running events are taken over by another node once their leases run out.
    pub lease_secs: u64,
    /// Whether this node runs queued async events; `false` makes an API-only node that accepts
    /// them for the other nodes of its cluster to run.
    pub dispatch: bool,
}

impl Default for AsyncConfig {
    fn default() -> Self {
        AsyncConfig {
            retry_interval_secs: 60,
            retention_hours: 72,
            purge_interval_secs: 60,
            lease_secs: 30,
            dispatch: true,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: None,
            data_dir: None,
            default_region: "ap-guangzhou".into(),
            regions: None,
            public_url: None,
            time_offset_hours: 8,
            default_runtime: "Python3.9".into(),
            node_id: None,
            cluster_nodes: 1,
            metrics_idle_seconds: 3600,
            accounts: vec![],
            rate_limits: HashMap::new(),
            limits: Limits::default(),
            http: HttpLimits::default(),
            store: StoreConfig::default(),
            engine: scf_engine::EngineConfig::default(),
            sandbox: scf_engine::sandbox::SandboxConfig::default(),
            async_: AsyncConfig::default(),
        }
    }
}

/// Request size limits and the clock-skew window (reference §2.7 and §2.4).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpLimits {
    pub tc3_post_bytes: usize,
    pub v1_post_bytes: usize,
    /// The request line (path and query) of a GET.
    pub get_bytes: usize,
    pub max_clock_skew_seconds: i64,
    /// TC3 signatures remembered per `max_clock_skew_seconds` (16 bytes each), to refuse one
    /// sent again with another action or region (see `replay`).
    pub signature_cache_entries: usize,
    /// How long after a signature is first seen it may come with another action (two actions
    /// with the same body signed in the same second share a signature).
    pub signature_reuse_grace_ms: u64,
    /// Open connections (at most half the open-files limit); see `front_door`.
    pub max_connections: usize,
    /// Time a connection has to send a request's head, counted from when it starts waiting
    /// (so also the keep-alive idle timeout).
    pub header_read_timeout_seconds: u64,
    /// An oversized body is read and dropped up to this many bytes, so the client reads its
    /// `RequestSizeLimitExceeded` instead of a broken pipe; beyond it the connection is closed.
    pub discard_body_bytes: usize,
}

impl HttpLimits {
    pub fn seen_signatures(&self) -> crate::replay::SeenSignatures {
        crate::replay::SeenSignatures::new(
            std::time::Duration::from_secs(self.max_clock_skew_seconds.unsigned_abs()),
            std::time::Duration::from_millis(self.signature_reuse_grace_ms),
            self.signature_cache_entries,
        )
    }
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            tc3_post_bytes: 10 << 20,
            v1_post_bytes: 1 << 20,
            get_bytes: 32 << 10,
            max_clock_skew_seconds: 300,
            signature_cache_entries: 1_000_000,
            signature_reuse_grace_ms: 2000,
            max_connections: 1024,
            header_read_timeout_seconds: 10,
            discard_body_bytes: 64 << 20,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// A PostgreSQL URL (`postgres://user:password@host:port/db`): the shared store of a
    /// cluster. None: the embedded SQLite file in the data dir.
    pub url: Option<String>,
    /// `normal` (survives a killed process) or `full` (also survives power loss).
    pub synchronous: Synchronous,
    /// A sync request still running after this many milliseconds gets a running record in the
    /// store (a restart then marks it failed; other nodes see it). Quicker requests, most of
    /// them, write only their outcome; until then this node answers for them from memory.
    pub running_record_after_ms: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: None,
            synchronous: Synchronous::default(),
            running_record_after_ms: 100,
        }
    }
}

/// One API key of an account. Several keys may share an account (same `app_id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub secret_id: String,
    pub secret_key: String,
    #[serde(default = "default_app_id")]
    pub app_id: u64,
    #[serde(default = "default_uin")]
    pub uin: String,
    /// An isolated (suspended) account: every action answers `OperationDenied.AccountIsolate`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub isolated: bool,
}

fn default_app_id() -> u64 {
    1_250_000_000
}

fn default_uin() -> String {
    "100000000001".into()
}

#[derive(Serialize, Deserialize)]
struct AccountFile {
    accounts: Vec<Account>,
}

impl Config {
    pub fn load(path: Option<&Path>) -> Result<Config, String> {
        let Some(path) = path else {
            return Ok(Config::default());
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// Where the accounts came from, for the start-up message.
pub enum AccountSource {
    Config,
    Environment,
    Generated,
    DataDir,
}

/// The accounts to serve: the config's; else one from `SCFD_SECRET_ID`/`SCFD_SECRET_KEY`; else
/// the one kept in `DATA_DIR/account.toml`, generated there on the first start.
pub fn resolve_accounts(
    config: &Config,
    data_dir: &Path,
) -> Result<(Vec<Account>, AccountSource), String> {
    let (accounts, source) = if !config.accounts.is_empty() {
        (config.accounts.clone(), AccountSource::Config)
    } else if let (Ok(id), Ok(key)) = (
        std::env::var("SCFD_SECRET_ID"),
        std::env::var("SCFD_SECRET_KEY"),
    ) {
        let app_id = match std::env::var("SCFD_APP_ID") {
            Ok(v) => v
                .parse()
                .map_err(|_| format!("SCFD_APP_ID `{v}` is not a number"))?,
            Err(_) => default_app_id(),
        };
        let uin = std::env::var("SCFD_UIN").unwrap_or_else(|_| default_uin());
        (
            vec![Account {
                secret_id: id,
                secret_key: key,
                app_id,
                uin,
                isolated: false,
            }],
            AccountSource::Environment,
        )
    } else {
        let path = data_dir.join("account.toml");
        if path.exists() {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let file: AccountFile =
                toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            (file.accounts, AccountSource::DataDir)
        } else {
            let account = Account {
                secret_id: format!("AKID{}", random_token(32)),
                secret_key: random_token(32),
                app_id: default_app_id(),
                uin: default_uin(),
                isolated: false,
            };
            let file = AccountFile {
                accounts: vec![account.clone()],
            };
            let text = toml::to_string(&file).map_err(|e| e.to_string())?;
            write_private(&path, text.as_bytes())
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            (vec![account], AccountSource::Generated)
        }
    };
    let mut seen = std::collections::HashSet::new();
    for a in &accounts {
        if a.secret_id.is_empty() || a.secret_key.is_empty() {
            return Err("an account has an empty secret_id or secret_key".into());
        }
        if !seen.insert(&a.secret_id) {
            return Err(format!("secret_id `{}` is configured twice", a.secret_id));
        }
    }
    Ok((accounts, source))
}

/// Random letters and digits from the OS generator (through uuid's v4, already a dependency).
pub fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in uuid::Uuid::new_v4().into_bytes() {
            // 62 * 4 = 248: reject the top 8 values so every character is equally likely.
            if b < 248 && out.len() < len {
                out.push(ALPHABET[usize::from(b) % 62] as char);
            }
        }
    }
    out
}

/// Writes a file only the owner can read, durably and whole: a kill leaves either no file or
/// all of it (written aside, fsynced, renamed over, the folder fsynced).
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// The key that signs code download links, made on first start.
pub fn url_key(data_dir: &Path) -> std::io::Result<Vec<u8>> {
    let path = data_dir.join("url.key");
    match std::fs::read(&path) {
        Ok(key) if key.len() >= 32 => Ok(key),
        _ => {
            let key = random_token(48).into_bytes();
            write_private(&path, &key)?;
            Ok(key)
        }
    }
}

/// This node's name: from the config, else the one kept in the data dir (made on first start
/// as `<hostname>-<random>`), so that a restarted node finds the requests and async leases it
/// left, whatever port it comes back on.
pub fn node_id(config: &Config, data_dir: &Path) -> std::io::Result<String> {
    if let Some(id) = config.node_id.as_ref().filter(|id| !id.trim().is_empty()) {
        return Ok(id.trim().to_string());
    }
    let path = data_dir.join("node-id");
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => Ok(id.trim().to_string()),
        _ => {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .ok()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "scfd".into());
            let id = format!("{host}-{}", random_token(6).to_lowercase());
            // Whole or not at all: a torn name would make the restart another node.
            write_private(&path, format!("{id}\n").as_bytes())?;
            Ok(id)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_config() {
        let c: Config = toml::from_str(
            r#"
            default_region = "ap-shanghai"
            [[accounts]]
            secret_id = "AKIDexample"
            secret_key = "examplekey"
            app_id = 1250000000
            uin = "100000000001"
            [rate_limits]
            GetRequestStatus = 20
            default = 0
            [limits]
            max_namespaces = 3
            [store]
            synchronous = "full"
            "#,
        )
        .expect("valid");
        assert_eq!(c.accounts.len(), 1);
        assert_eq!(c.rate_limits["GetRequestStatus"], 20);
        assert_eq!(c.limits.max_namespaces, 3);
        assert_eq!(c.limits.max_functions_per_namespace, 50);
        assert_eq!(c.store.synchronous, Synchronous::Full);
        assert!(toml::from_str::<Config>("bogus = 1").is_err());
    }

    #[test]
    fn generates_then_reuses_an_account() {
        let dir = tempfile::tempdir().expect("tmp");
        // The environment must not interfere: this test only runs the data-dir path when the
        // variables are absent.
        if std::env::var("SCFD_SECRET_ID").is_ok() {
            return;
        }
        let (first, source) = resolve_accounts(&Config::default(), dir.path()).expect("generate");
        assert!(matches!(source, AccountSource::Generated));
        assert!(first[0].secret_id.starts_with("AKID") && first[0].secret_id.len() == 36);
        let (again, source) = resolve_accounts(&Config::default(), dir.path()).expect("reuse");
        assert!(matches!(source, AccountSource::DataDir));
        assert_eq!(first, again);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("account.toml"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
