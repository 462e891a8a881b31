//! The server under test: `target/release/scfd serve` as a child process with a config the
//! suite writes, plus a blocking API client for set-up calls (deploy, configure, poll).

use crate::load::{Connection, Outcome};
use crate::packages::Kind;
use crate::presign::{Credentials, signed_request};
use base64::Engine as _;
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The knobs a scenario turns.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub keep_alive_secs: u64,
    pub max_instances: u32,
    /// A PostgreSQL URL; `None`: the embedded SQLite store.
    pub store_url: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            keep_alive_secs: 300,
            max_instances: 64,
            store_url: None,
        }
    }
}

/// Every action with a documented rate (README): all set to 0 (unlimited), as is the default.
const RATE_LIMITED_ACTIONS: &[&str] = &[
    "Invoke",
    "InvokeFunction",
    "GetRequestStatus",
    "GetAsyncEventStatus",
    "ListAsyncEvents",
];

/// `[sandbox] network` of every server the suite starts (`--network`); unset: scfd's default.
pub static NETWORK: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn config_toml(creds: &Credentials, cfg: &ServerConfig) -> String {
    let mut rates = String::from("default = 0\n");
    for a in RATE_LIMITED_ACTIONS {
        rates.push_str(&format!("{a} = 0\n"));
    }
    let store = match &cfg.store_url {
        Some(url) => format!("[store]\nurl = \"{url}\"\n"),
        None => String::new(),
    };
    format!(
        "[[accounts]]\nsecret_id = \"{}\"\nsecret_key = \"{}\"\napp_id = {}\nuin = \"{}\"\n\n\
         [rate_limits]\n{rates}\n\
         [engine]\nkeep_alive_secs = {}\nmax_instances = {}\n\n\
         [async]\nretry_interval_secs = 1\n\n{store}{sandbox}",
        creds.secret_id,
        creds.secret_key,
        creds.app_id,
        creds.uin,
        cfg.keep_alive_secs,
        cfg.max_instances,
        sandbox = NETWORK
            .get()
            .map(|n| format!("\n[sandbox]\nnetwork = \"{n}\"\n"))
            .unwrap_or_default(),
    )
}

/// A free port on 127.0.0.1 (bound, read, released).
pub fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

/// Waits until `GET /healthz` answers on `addr`.
pub fn wait_healthy(addr: &str, child: &mut Child, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let probe = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").into_bytes();
    loop {
        if let Ok(mut c) = Connection::open(addr)
            && c.round_trip(&probe).is_ok()
        {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("the server exited before it was ready: {status}"));
        }
        if Instant::now() > deadline {
            return Err(format!("{addr} not healthy after {timeout:?}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Sends SIGTERM to `pid`, waits up to `grace`, then SIGKILL.
pub fn stop_child(child: &mut Child, grace: Duration) {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A running scfd.
pub struct Scfd {
    child: Child,
    pub pid: u32,
    pub addr: String,
    pub creds: Credentials,
    /// Start to healthy.
    pub startup: Duration,
}

impl Scfd {
    /// Starts scfd from `bin_dir` on a free port with `data_dir` (kept as it is: a restart sees
    /// the same database).
    pub fn start(bin_dir: &Path, data_dir: &Path, cfg: &ServerConfig) -> Result<Self, String> {
        let creds = Credentials::bench();
        std::fs::create_dir_all(data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
        let config = data_dir.join("scfd.toml");
        std::fs::write(&config, config_toml(&creds, cfg)).map_err(|e| e.to_string())?;
        let port = free_port()?;
        let addr = format!("127.0.0.1:{port}");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data_dir.join("scfd.log"))
            .map_err(|e| e.to_string())?;
        let started = Instant::now();
        let mut child = Command::new(bin_dir.join("scfd"))
            .arg("serve")
            .arg("--listen")
            .arg(&addr)
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin_dir.join("scfd").display()))?;
        if let Err(e) = wait_healthy(&addr, &mut child, Duration::from_secs(120)) {
            stop_child(&mut child, Duration::from_secs(2));
            return Err(format!("{e} (see {})", data_dir.join("scfd.log").display()));
        }
        Ok(Scfd {
            pid: child.id(),
            child,
            addr,
            creds,
            startup: started.elapsed(),
        })
    }

    /// A signed request for `action`, ready to replay.
    pub fn request(&self, action: &str, params: &Value) -> Vec<u8> {
        signed_request(&self.creds, &self.addr, action, params)
    }

    /// Calls `action` once; `Response` on success, the error code and message otherwise.
    pub fn call(&self, action: &str, params: Value) -> Result<Value, String> {
        let mut conn = Connection::open(&self.addr).map_err(|e| e.to_string())?;
        let answer = conn
            .round_trip(&self.request(action, &params))
            .map_err(|e| format!("{action}: {e}"))?;
        let body: Value = serde_json::from_slice(answer.body)
            .map_err(|e| format!("{action}: the answer is not JSON: {e}"))?;
        match answer.outcome {
            Outcome::Ok => Ok(body["Response"].clone()),
            Outcome::Error(code) => Err(format!(
                "{action}: {code}: {}",
                body["Response"]["Error"]["Message"]
            )),
        }
    }

    /// CreateFunction, then GetFunction until it is Active.
    pub fn deploy(&self, name: &str, kind: Kind, memory_mb: u32) -> Result<(), String> {
        let zip = base64::engine::general_purpose::STANDARD.encode(kind.zip());
        // A custom runtime ignores the handler, but SCF still wants `file.method`.
        let handler = "index.main_handler";
        self.call(
            "CreateFunction",
            json!({
                "FunctionName": name,
                "Runtime": kind.runtime(),
                "Handler": handler,
                "MemorySize": memory_mb,
                "Timeout": 10,
                "Code": {"ZipFile": zip},
            }),
        )?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let f = self.call("GetFunction", json!({"FunctionName": name}))?;
            match f["Status"].as_str() {
                Some("Active") => return Ok(()),
                Some("CreateFailed") => {
                    return Err(format!("{name}: CreateFailed: {}", f["StatusReasons"]));
                }
                _ if Instant::now() > deadline => {
                    return Err(format!("{name}: not Active after 60 s: {}", f["Status"]));
                }
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    /// The Invoke parameters of a sync (or async) hello call.
    pub fn invoke_params(name: &str, is_async: bool) -> Value {
        if is_async {
            json!({"FunctionName": name, "ClientContext": "{}", "InvocationType": "Event"})
        } else {
            json!({"FunctionName": name, "ClientContext": "{}"})
        }
    }

    /// SIGTERM, then SIGKILL after 10 s; then any instance left behind, by its pid.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let left: Vec<(u32, Option<u64>)> = crate::proc_stats::descendants(self.pid)
            .into_iter()
            .map(|p| (p, crate::proc_stats::start_time(p)))
            .collect();
        stop_child(&mut self.child, Duration::from_secs(10));
        // Same pid and same start time: the very process scfd started, not a reused pid.
        let alive = |(pid, started): &(u32, Option<u64>)| {
            started.is_some() && crate::proc_stats::start_time(*pid) == *started
        };
        // Instances die with scfd (PR_SET_PDEATHSIG), which takes the kernel a moment.
        let deadline = Instant::now() + Duration::from_secs(3);
        while left.iter().any(alive) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        for (pid, _) in left.iter().filter(|p| alive(p)) {
            eprintln!("scf-bench: instance process {pid} outlived scfd by 3 s; killing it");
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(*pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

impl Drop for Scfd {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.shutdown();
        }
    }
}
