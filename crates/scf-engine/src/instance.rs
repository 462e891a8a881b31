//! One instance: a long-lived process that loaded the handler once and serves invocations one
//! at a time, with its cgroups, its stray-output buffer and its measurements.

use crate::custom::CustomApi;
use crate::protocol::{self, InitKind, Message};
use crate::runtimes::{Language, Launch};
use crate::sandbox::Sandbox;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout};

/// SCF's cap on a synchronous response (reference §9).
pub const MAX_RESPONSE_BYTES: usize = 6 << 20;
/// Longest protocol line read from an instance: a 6 MB answer JSON-escaped, with room.
const MAX_LINE_BYTES: u64 = 16 << 20;
/// Stray output kept per invocation.
const MAX_STRAY_BYTES: usize = 64 << 10;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Everything needed to start an instance of one function version.
#[derive(Debug, Clone)]
pub struct InstanceSpec {
    pub launch: Launch,
    pub code_dir: PathBuf,
    /// The instance's whole environment (the server's own is never passed on).
    pub env: Vec<(String, String)>,
    pub memory_mb: u64,
    pub init_timeout: Duration,
    /// Folders the instance must not see (the data dir, other homes).
    pub hide: Vec<PathBuf>,
    /// `(source, target)` folders shown read-only: the runtime shims, an interpreter.
    pub extra_ro: Vec<(PathBuf, PathBuf)>,
    /// Where the runtime shims are, as the instance sees them.
    pub runtime_dir: PathBuf,
}

/// How an invocation ended, when it did not produce an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    Timeout,
    MemoryLimit,
    Crashed(String),
    Terminated,
}

/// The outcome of one invocation on an instance.
#[derive(Debug, Clone)]
pub struct Run {
    /// `Ok(result JSON)` or `Err(error message)`.
    pub result: Result<String, String>,
    /// The platform failure behind an `Err`, if it was not the function's own exception.
    pub failure: Option<Failure>,
    pub log: String,
    pub duration_ms: f64,
    pub mem_bytes: u64,
    /// The instance can serve again.
    pub reusable: bool,
}

/// The instance's cgroup directories (v1 memory and pids), removed when it goes.
struct Cgroups {
    memory: Option<PathBuf>,
    pids: Option<PathBuf>,
    /// `memory.max_usage_in_bytes`, kept open: it is reset and read around every invocation,
    /// and a path lookup in cgroupfs costs more than the read itself.
    peak_file: Option<std::fs::File>,
}

impl Cgroups {
    fn create(sandbox: &Sandbox, id: u64, memory_mb: u64, max_processes: u32) -> Cgroups {
        let make = |root: &Option<PathBuf>, settings: &[(&str, String)]| -> Option<PathBuf> {
            let dir = root.as_ref()?.join(format!("i{id}"));
            std::fs::create_dir(&dir).ok()?;
            for (file, value) in settings {
                if let Err(e) = std::fs::write(dir.join(file), value) {
                    tracing::warn!(cgroup = %dir.display(), file, error = %e, "cannot set a cgroup limit");
                }
            }
            Some(dir)
        };
        let memory = make(
            &sandbox.memory_root,
            &[("memory.limit_in_bytes", (memory_mb << 20).to_string())],
        );
        let peak_file = memory.as_ref().and_then(|m| {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(m.join("memory.max_usage_in_bytes"))
                .ok()
        });
        Cgroups {
            memory,
            pids: make(
                &sandbox.pids_root,
                &[("pids.max", max_processes.to_string())],
            ),
            peak_file,
        }
    }

    fn dirs(&self) -> Vec<PathBuf> {
        self.memory
            .iter()
            .chain(self.pids.iter())
            .cloned()
            .collect()
    }

    fn reset_peak(&self) {
        use std::os::unix::fs::FileExt;
        if let Some(f) = &self.peak_file {
            let _ = f.write_at(b"0", 0);
        }
    }

    fn peak(&self) -> Option<u64> {
        use std::os::unix::fs::FileExt;
        let f = self.peak_file.as_ref()?;
        let mut buf = [0u8; 32];
        let n = f.read_at(&mut buf, 0).ok()?;
        std::str::from_utf8(&buf[..n]).ok()?.trim().parse().ok()
    }

    fn oom_kills(&self) -> u64 {
        let Some(m) = &self.memory else { return 0 };
        std::fs::read_to_string(m.join("memory.oom_control"))
            .ok()
            .and_then(|t| {
                t.lines().find_map(|l| {
                    l.strip_prefix("oom_kill ")
                        .and_then(|n| n.trim().parse().ok())
                })
            })
            .unwrap_or(0)
    }
}

/// Cgroups whose processes were still dying when their instance went: the reaper removes them
/// later, so no runtime thread ever waits for the kernel here.
static DYING_CGROUPS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Removes the cgroups left by instances that have died since (called by the reaper).
pub fn remove_dead_cgroups() {
    let mut dying = DYING_CGROUPS.lock().unwrap_or_else(|p| p.into_inner());
    dying.retain(|dir| std::fs::remove_dir(dir).is_err() && dir.exists());
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        self.peak_file = None;
        for dir in self.memory.iter().chain(self.pids.iter()) {
            // A cgroup refuses removal while its processes (killed with the instance) exit.
            if std::fs::remove_dir(dir).is_err() && dir.exists() {
                DYING_CGROUPS
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(dir.clone());
            }
        }
    }
}

enum Io {
    Pipe {
        stdin: ChildStdin,
        stdout: BufReader<ChildStdout>,
    },
    Custom(Arc<CustomApi>),
}

/// A running instance.
pub struct Instance {
    pub id: u64,
    child: Child,
    io: Io,
    stray: Arc<Mutex<String>>,
    cgroups: Cgroups,
    uses_launcher: bool,
    /// Wall time from spawn to ready.
    pub init_ms: f64,
    /// Output of the initialization, given to the first invocation's log (as SCF does).
    pub init_log: String,
    pub last_used: Instant,
}

fn append_capped(buf: &mut String, text: &str) {
    let room = MAX_STRAY_BYTES.saturating_sub(buf.len());
    if room == 0 {
        return;
    }
    let mut cut = text.len().min(room);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    buf.push_str(&text[..cut]);
}

/// Reads one line of at most [`MAX_LINE_BYTES`]; `None` at end of stream.
async fn read_line(reader: &mut BufReader<ChildStdout>) -> Option<String> {
    let mut buf = Vec::new();
    let n = (&mut *reader)
        .take(MAX_LINE_BYTES)
        .read_until(b'\n', &mut buf)
        .await
        .ok()?;
    if n == 0 {
        return None;
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

fn spawn_drain<R: tokio::io::AsyncRead + Unpin + Send + 'static>(
    reader: R,
    into: Arc<Mutex<String>>,
) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(reader).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let mut buf = into.lock().unwrap_or_else(|p| p.into_inner());
            append_capped(&mut buf, &line);
            append_capped(&mut buf, "\n");
        }
    });
}

/// What an instance's exit status says, in words.
fn describe_exit(status: Option<std::process::ExitStatus>, uses_launcher: bool) -> String {
    use std::os::unix::process::ExitStatusExt;
    let signal_name = |s: i32| match s {
        6 => "SIGABRT",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        15 => "SIGTERM",
        7 => "SIGBUS",
        8 => "SIGFPE",
        _ => "a signal",
    };
    match status {
        Some(st) => match (st.code(), st.signal()) {
            (Some(code), _) if uses_launcher && code > 128 => {
                format!(
                    "the instance was killed by {} (signal {})",
                    signal_name(code - 128),
                    code - 128
                )
            }
            (Some(code), _) => format!("the instance exited with code {code}"),
            (None, Some(sig)) => format!(
                "the instance was killed by {} (signal {sig})",
                signal_name(sig)
            ),
            _ => "the instance stopped".into(),
        },
        None => "the instance stopped".into(),
    }
}

/// A start that failed, with what it cost.
#[derive(Debug, Clone)]
pub struct StartFailure {
    pub message: String,
    pub init_ms: f64,
    pub mem_bytes: u64,
}

/// A process that has started: up to its runtime's "standby" (or ready, a custom runtime).
struct Spawned {
    child: Child,
    io: Io,
    stray: Arc<Mutex<String>>,
    /// What it wrote while starting.
    log: String,
}

impl StartFailure {
    fn new(message: String, since: Instant, cgroups: &Cgroups) -> Self {
        StartFailure {
            message,
            init_ms: since.elapsed().as_secs_f64() * 1000.0,
            mem_bytes: cgroups.peak().unwrap_or(0),
        }
    }
}

/// An instance started ahead of need (a spare): its sandbox, cgroups and interpreter are up,
/// and the function's handler is loaded only by [`Standby::activate`], when a request needs
/// it. Starting a process (and moving it into its cgroups, which waits for an RCU grace
/// period) is so taken off the request's path, while the function's own initialization still
/// runs, and is measured, on it.
pub struct Standby {
    id: u64,
    spawned: Spawned,
    cgroups: Cgroups,
    uses_launcher: bool,
}

impl Standby {
    /// Starts a spare of an interpreter runtime (`None` for a custom runtime, whose
    /// `bootstrap` is the function's own code and cannot wait).
    pub async fn start(
        spec: &InstanceSpec,
        sandbox: &Sandbox,
    ) -> Option<Result<Standby, StartFailure>> {
        if spec.launch == Launch::Custom {
            return None;
        }
        let started = Instant::now();
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let cgroups = Cgroups::create(sandbox, id, spec.memory_mb, sandbox.config.max_processes);
        Some(match Instance::spawn(spec, sandbox, &cgroups).await {
            Ok(spawned) => Ok(Standby {
                id,
                spawned,
                cgroups,
                uses_launcher: sandbox.launcher.is_some(),
            }),
            Err(message) => Err(StartFailure::new(message, started, &cgroups)),
        })
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.spawned.child.try_wait(), Ok(None))
    }

    /// Loads the handler. The init duration is the wait for it.
    pub async fn activate(self, spec: &InstanceSpec) -> Result<Instance, StartFailure> {
        self.activate_from(spec, Instant::now()).await
    }

    async fn activate_from(
        self,
        spec: &InstanceSpec,
        since: Instant,
    ) -> Result<Instance, StartFailure> {
        let Standby {
            id,
            spawned:
                Spawned {
                    mut child,
                    mut io,
                    stray,
                    mut log,
                },
            cgroups,
            uses_launcher,
        } = self;
        if let Io::Pipe { stdin, stdout } = &mut io {
            let sent =
                stdin.write_all(protocol::INIT_LINE).await.is_ok() && stdin.flush().await.is_ok();
            let ready = await_init(
                &mut child,
                stdout,
                &stray,
                &cgroups,
                uses_launcher,
                spec.init_timeout,
                InitKind::Ready,
                &mut log,
            )
            .await;
            if let Err(message) = ready {
                let message = if sent {
                    message
                } else {
                    format!("the instance stopped before it could load the handler: {message}")
                };
                return Err(StartFailure::new(message, since, &cgroups));
            }
        }
        Ok(Instance {
            id,
            child,
            io,
            stray,
            cgroups,
            uses_launcher,
            init_ms: since.elapsed().as_secs_f64() * 1000.0,
            init_log: log,
            last_used: Instant::now(),
        })
    }
}

/// Reads an interpreter runtime's stdout until it says `want` ("standby" or "ready"); else
/// why it did not: its init error, the init timeout, or how it died.
#[allow(clippy::too_many_arguments)]
async fn await_init(
    child: &mut Child,
    stdout: &mut BufReader<ChildStdout>,
    stray: &Mutex<String>,
    cgroups: &Cgroups,
    uses_launcher: bool,
    timeout: Duration,
    want: InitKind,
    log: &mut String,
) -> Result<(), String> {
    let waited = tokio::time::timeout(timeout, async {
        loop {
            let Some(line) = read_line(stdout).await else {
                return Err(None);
            };
            let (text, msg) = protocol::split_line(&line);
            if !text.is_empty() {
                append_capped(log, text);
                append_capped(log, "\n");
            }
            if let Some(Ok(Message::Init(m))) = msg.map(serde_json::from_str::<Message>) {
                append_capped(log, &m.log);
                if m.kind == want {
                    return Ok(());
                }
                if m.kind == InitKind::InitError {
                    return Err(Some(m.error));
                }
            }
        }
    })
    .await;
    match waited {
        Ok(Ok(())) => Ok(()),
        Ok(Err(Some(error))) => {
            let _ = child.start_kill();
            Err(format!("{log}{error}"))
        }
        Ok(Err(None)) => {
            let status = tokio::time::timeout(Duration::from_secs(2), child.wait())
                .await
                .ok()
                .and_then(Result::ok);
            tokio::time::sleep(Duration::from_millis(20)).await;
            let stray = stray.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let why = if cgroups.oom_kills() > 0 {
                "the memory limit was exceeded".to_string()
            } else {
                describe_exit(status, uses_launcher)
            };
            Err(format!(
                "The function failed to start: {why}.\n{log}{stray}"
            ))
        }
        Err(_) => {
            let _ = child.start_kill();
            Err(format!(
                "The function did not finish initializing within {} s (init timeout).",
                timeout.as_secs()
            ))
        }
    }
}

impl Instance {
    /// Starts an instance and waits until its handler is loaded. The init duration is the
    /// whole wait: the process's start and the handler's loading.
    pub async fn start(spec: &InstanceSpec, sandbox: &Sandbox) -> Result<Instance, StartFailure> {
        let started = Instant::now();
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let cgroups = Cgroups::create(sandbox, id, spec.memory_mb, sandbox.config.max_processes);
        let uses_launcher = sandbox.launcher.is_some();
        let spawned = match Self::spawn(spec, sandbox, &cgroups).await {
            Ok(s) => s,
            Err(message) => return Err(StartFailure::new(message, started, &cgroups)),
        };
        let standby = Standby {
            id,
            spawned,
            cgroups,
            uses_launcher,
        };
        standby.activate_from(spec, started).await
    }

    /// Starts the process of an instance (in its sandbox and cgroups), for an interpreter
    /// runtime up to its "standby": the handler is not loaded yet. A custom runtime's
    /// `bootstrap` is the function's own code, so it is waited for until ready.
    async fn spawn(
        spec: &InstanceSpec,
        sandbox: &Sandbox,
        cgroups: &Cgroups,
    ) -> Result<Spawned, String> {
        let code_root = sandbox.code_root(&spec.code_dir);
        let mut env = spec.env.clone();
        let custom_api = if spec.launch == Launch::Custom {
            let api = CustomApi::start(
                spec.memory_mb,
                cgroups.pids.clone().or_else(|| cgroups.memory.clone()),
            )
            .await
            .map_err(|e| format!("cannot serve the runtime API: {e}"))?;
            env.push(("SCF_RUNTIME_API".into(), "127.0.0.1".into()));
            env.push(("SCF_RUNTIME_API_PORT".into(), api.port().to_string()));
            Some(api)
        } else {
            None
        };
        let (program, args): (PathBuf, Vec<String>) = match &spec.launch {
            Launch::Interpreter {
                program,
                kind: Language::Python,
            } => (
                program.clone(),
                vec![
                    "-u".into(),
                    "-B".into(),
                    spec.runtime_dir
                        .join("python_bootstrap.py")
                        .display()
                        .to_string(),
                ],
            ),
            Launch::Interpreter {
                program,
                kind: Language::Node,
            } => (
                program.clone(),
                vec![
                    spec.runtime_dir
                        .join("node_bootstrap.js")
                        .display()
                        .to_string(),
                ],
            ),
            Launch::Custom => (code_root.join("bootstrap"), vec![]),
        };
        if spec.launch == Launch::Custom {
            let bootstrap = spec.code_dir.join("bootstrap");
            use std::os::unix::fs::PermissionsExt;
            match std::fs::metadata(&bootstrap) {
                Ok(m) if m.permissions().mode() & 0o111 != 0 => {}
                Ok(_) => return Err("the package's `bootstrap` is not executable".into()),
                Err(_) => {
                    return Err(
                        "the package has no `bootstrap` file (a custom runtime needs one)".into(),
                    );
                }
            }
        }
        let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut cmd = sandbox.command(
            &program,
            &arg_refs,
            &spec.code_dir,
            &spec.hide,
            &spec.extra_ro,
            &cgroups.dirs(),
        );
        cmd.env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
        let stray = Arc::new(Mutex::new(String::new()));
        let stdin = child.stdin.take().expect("stdin was piped");
        let stdout = child.stdout.take().expect("stdout was piped");
        let stderr = child.stderr.take().expect("stderr was piped");
        spawn_drain(stderr, Arc::clone(&stray));
        let uses_launcher = sandbox.launcher.is_some();

        let (io, log) = match custom_api {
            Some(api) => {
                spawn_drain(stdout, Arc::clone(&stray));
                drop(stdin);
                tokio::select! {
                    ready = tokio::time::timeout(spec.init_timeout, api.ready()) => {
                        if ready.is_err() {
                            let _ = child.start_kill();
                            return Err(format!("the custom runtime did not call /runtime/init/ready within {} s (init timeout)", spec.init_timeout.as_secs()));
                        }
                    }
                    status = child.wait() => {
                        let log = stray.lock().unwrap_or_else(|p| p.into_inner()).clone();
                        return Err(format!("bootstrap ended before it was ready: {}\n{log}", describe_exit(status.ok(), uses_launcher)));
                    }
                }
                let log = std::mem::take(&mut *stray.lock().unwrap_or_else(|p| p.into_inner()));
                (Io::Custom(api), log)
            }
            None => {
                let mut stdout = BufReader::new(stdout);
                let mut log = String::new();
                await_init(
                    &mut child,
                    &mut stdout,
                    &stray,
                    cgroups,
                    uses_launcher,
                    spec.init_timeout,
                    InitKind::Standby,
                    &mut log,
                )
                .await?;
                (Io::Pipe { stdin, stdout }, log)
            }
        };
        Ok(Spawned {
            child,
            io,
            stray,
            log,
        })
    }

    fn take_stray(&self) -> String {
        std::mem::take(&mut *self.stray.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn peak_memory(&self) -> u64 {
        if let Some(p) = self.cgroups.peak() {
            return p;
        }
        // No memory cgroup: the process's own high-water mark (reset before each invocation).
        let Some(pid) = self.child.id() else { return 0 };
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
            .map(|kb| kb * 1024)
            .unwrap_or(0)
    }

    fn reset_peak(&self) {
        if self.cgroups.memory.is_some() {
            self.cgroups.reset_peak();
        } else if !self.uses_launcher
            && let Some(pid) = self.child.id()
        {
            let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
        }
    }

    /// Runs one invocation. `cancel` ends it early (TerminateAsyncEvent).
    pub async fn invoke(
        &mut self,
        request_id: &str,
        event: &serde_json::value::RawValue,
        context: &serde_json::Value,
        timeout: Duration,
        deadline_ms: i64,
        cancel: &tokio::sync::Notify,
    ) -> Run {
        self.reset_peak();
        let _ = self.take_stray();
        let started = Instant::now();
        let outcome = match &mut self.io {
            Io::Pipe { stdin, stdout } => {
                let req = protocol::Request {
                    id: request_id,
                    event,
                    context,
                    deadline_ms,
                };
                let mut line = serde_json::to_vec(&req).expect("a request always serializes");
                line.push(b'\n');
                let exchange = async {
                    if stdin.write_all(&line).await.is_err() || stdin.flush().await.is_err() {
                        return (None, String::new());
                    }
                    let mut stray = String::new();
                    loop {
                        let Some(line) = read_line(stdout).await else {
                            return (None, stray);
                        };
                        let (text, msg) = protocol::split_line(&line);
                        if !text.is_empty() {
                            append_capped(&mut stray, text);
                            append_capped(&mut stray, "\n");
                        }
                        if let Some(Ok(Message::Answer(a))) =
                            msg.map(serde_json::from_str::<Message>)
                            && a.id == request_id
                        {
                            return (Some(a), stray);
                        }
                    }
                };
                tokio::select! {
                    r = tokio::time::timeout(timeout, exchange) => match r {
                        Ok((Some(a), stray)) => Ok((a, stray)),
                        Ok((None, stray)) => Err((None, stray)),
                        Err(_) => Err((Some(Failure::Timeout), String::new())),
                    },
                    () = cancel.notified() => Err((Some(Failure::Terminated), String::new())),
                }
            }
            Io::Custom(api) => {
                let api = Arc::clone(api);
                let body = event.get().to_string();
                let exchange = api.invoke(request_id, body, deadline_ms, timeout);
                tokio::select! {
                    r = tokio::time::timeout(timeout, exchange) => match r {
                        Ok(Some(result)) => Ok((protocol::Answer {
                            id: request_id.to_string(),
                            ok: result.is_ok(),
                            result: result.clone().unwrap_or_default(),
                            error: result.err().unwrap_or_default(),
                            log: String::new(),
                            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
                            fatal: false,
                        }, String::new())),
                        Ok(None) => Err((None, String::new())),
                        Err(_) => Err((Some(Failure::Timeout), String::new())),
                    },
                    status = self.child.wait() => {
                        let _ = status;
                        Err((None, String::new()))
                    }
                    () = cancel.notified() => Err((Some(Failure::Terminated), String::new())),
                }
            }
        };
        let wall_ms = started.elapsed().as_secs_f64() * 1000.0;
        match outcome {
            Ok((answer, stray)) => {
                // Output that reached stderr/stdout outside the runtime's capture.
                tokio::task::yield_now().await;
                let mut log = stray;
                log.push_str(&answer.log);
                log.push_str(&self.take_stray());
                let mem_bytes = self.peak_memory();
                let too_big = answer.ok && answer.result.len() > MAX_RESPONSE_BYTES;
                let result = if too_big {
                    Err(format!(
                        "The function's response is {} bytes, over the 6 MB limit.",
                        answer.result.len()
                    ))
                } else if answer.ok {
                    Ok(answer.result)
                } else {
                    Err(answer.error)
                };
                let duration_ms = if answer.duration_ms > 0.0 {
                    answer.duration_ms
                } else {
                    wall_ms
                };
                self.last_used = Instant::now();
                Run {
                    result,
                    failure: None,
                    log,
                    duration_ms,
                    mem_bytes,
                    reusable: !answer.fatal,
                }
            }
            Err((failure, stray)) => {
                let mem_bytes = self.peak_memory();
                if failure.is_none() {
                    // The instance went away on its own: let it finish dying, so its exit
                    // status says how (a signal, an exit code), before making sure.
                    let _ =
                        tokio::time::timeout(Duration::from_millis(500), self.child.wait()).await;
                }
                let _ = self.child.start_kill();
                let status = tokio::time::timeout(Duration::from_secs(2), self.child.wait())
                    .await
                    .ok()
                    .and_then(Result::ok);
                tokio::time::sleep(Duration::from_millis(10)).await;
                let mut log = stray;
                log.push_str(&self.take_stray());
                let failure = match failure {
                    Some(f) => f,
                    // Each instance has its own memory cgroup, and an OOM kill ends it: any
                    // kill counted there is this invocation's.
                    None if self.cgroups.oom_kills() > 0 => Failure::MemoryLimit,
                    None => Failure::Crashed(describe_exit(status, self.uses_launcher)),
                };
                let message = match &failure {
                    Failure::Timeout => format!("Invoking task timed out after {} seconds", timeout.as_secs_f64().round()),
                    Failure::MemoryLimit => "Memory limit exceeded: the function used more than its MemorySize and was killed".into(),
                    Failure::Crashed(why) => format!("The function's instance crashed: {why}"),
                    Failure::Terminated => "The request was terminated (TerminateAsyncEvent)".into(),
                };
                Run {
                    result: Err(message),
                    failure: Some(failure),
                    log,
                    duration_ms: wall_ms,
                    mem_bytes,
                    reusable: false,
                }
            }
        }
    }

    /// Whether the process is still there.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}
