//! One instance: a long-lived process that loaded the handler once and serves invocations one
//! at a time, with its cgroups, its stray-output buffer and its measurements.
//!
//! Nothing the function controls is trusted for an answer or a figure: the protocol runs over
//! a socket of its own (the instance's stdin, a Unix socket pair; stdout and stderr are only
//! ever log), the duration is the server's wall clock around the exchange, the memory is the
//! instance's cgroup peak, and an instance idle for 20 ms is frozen whole (cgroup freezer),
//! so what an invocation leaves running uses no CPU while it waits (see [`Freezer`]).
//! Output is capped where it arrives: stdout/stderr are read in chunks and dropped past the
//! cap, and a protocol line longer than any valid answer fails the invocation at once.

use crate::custom::CustomApi;
use crate::lock;
use crate::network::{self, Outbound};
use crate::protocol::{self, InitKind, Message};
use crate::runtimes::{Language, Launch};
use crate::sandbox::{Handoff, Sandbox};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::process::Child;

use crate::MAX_RESPONSE_BYTES;
/// Longest protocol line read from an instance: a 6 MB result (sent as JSON in place, not
/// escaped again) and its log, with room. A longer one is an answer over the limit, however it
/// is escaped, and fails the invocation at once; so no instance makes the server hold more.
const MAX_LINE_BYTES: u64 = 8 << 20;
/// Stray output kept per invocation.
const MAX_STRAY_BYTES: usize = 64 << 10;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// This run of the server in its instances' cgroup names (`r<pid>-<start ms>-i<id>`). Ids
/// count from 1 in every run, and a run killed with -9 leaves its instances' cgroups behind
/// while their processes are still on their way out (frozen ones die only once thawed), so
/// the next run's start-up cannot always remove them (`remove_stale_cgroups`); named by id
/// alone, its first instances collided with them (EEXIST) and failed to start.
static RUN: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let start_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("r{}-{start_ms}", std::process::id())
});

/// Everything needed to start an instance of one function version.
#[derive(Debug, Clone)]
pub struct InstanceSpec {
    pub launch: Launch,
    pub code_dir: PathBuf,
    /// The instance's whole environment (the server's own is never passed on).
    pub env: Vec<(String, String)>,
    pub memory_mb: u64,
    pub init_timeout: Duration,
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

/// What came back on the protocol socket.
enum Answer {
    Given(protocol::Answer),
    /// A line longer than any answer within the limit.
    TooLong,
}

/// How long an instance stays idle before it is frozen.
const FREEZE_AFTER: Duration = Duration::from_millis(20);

/// An instance's `freezer.state` (kept open) and whether it is frozen. Writing `FROZEN` or
/// `THAWED` to a v1 freezer costs about 200 and 150 µs on this machine (measured), more than
/// the rest of a warm invocation; so an instance is frozen only once it has been idle for
/// [`FREEZE_AFTER`] (off the request path, on a blocking thread), and an invocation pays for a
/// thaw only if the instance had been frozen. What an invocation leaves running so gets at
/// most that long after it, or runs during the next invocation, never while the instance
/// waits.
struct Freezer {
    file: std::fs::File,
    state: Mutex<FreezeState>,
}

#[derive(Default)]
struct FreezeState {
    /// Counts every change of idleness: a pending freeze goes ahead only if none happened.
    generation: u64,
    frozen: bool,
    /// The instance is going: freeze no more.
    gone: bool,
}

impl Freezer {
    fn new(file: std::fs::File) -> Self {
        Freezer {
            file,
            state: Mutex::new(FreezeState::default()),
        }
    }

    fn write(&self, what: &[u8]) {
        use std::os::unix::fs::FileExt;
        let _ = self.file.write_at(what, 0);
    }

    fn idle(self: &Arc<Self>) {
        let generation = {
            let mut st = lock(&self.state);
            st.generation += 1;
            st.generation
        };
        let me = Arc::clone(self);
        tokio::spawn(async move {
            tokio::time::sleep(FREEZE_AFTER).await;
            let _ = tokio::task::spawn_blocking(move || {
                let mut st = lock(&me.state);
                if st.generation == generation && !st.frozen && !st.gone {
                    me.write(b"FROZEN");
                    st.frozen = true;
                }
            })
            .await;
        });
    }

    fn wake(&self) {
        let mut st = lock(&self.state);
        st.generation += 1;
        if st.frozen {
            self.write(b"THAWED");
            st.frozen = false;
        }
    }

    fn release(&self) {
        let mut st = lock(&self.state);
        st.gone = true;
        if st.frozen {
            self.write(b"THAWED");
            st.frozen = false;
        }
    }
}

/// The instance's cgroup directories (v1 memory, pids and freezer), removed when it goes.
struct Cgroups {
    memory: Option<PathBuf>,
    pids: Option<PathBuf>,
    freezer: Option<PathBuf>,
    freezer_state: Option<Arc<Freezer>>,
    /// `memory.max_usage_in_bytes`, kept open: it is reset and read around every invocation,
    /// and a path lookup in cgroupfs costs more than the read itself.
    peak_file: Option<std::fs::File>,
}

impl Cgroups {
    /// Makes the instance's cgroups under each root the sandbox has. Any that cannot be made,
    /// or whose limit cannot be set, fails the start: an instance never runs unlimited.
    fn create(
        sandbox: &Sandbox,
        id: u64,
        memory_mb: u64,
        max_processes: u32,
    ) -> Result<Cgroups, String> {
        let mut cgroups = Cgroups {
            memory: None,
            pids: None,
            freezer: None,
            freezer_state: None,
            peak_file: None,
        };
        let make = |root: &Option<PathBuf>,
                    settings: &[(&str, String)],
                    slot: &mut Option<PathBuf>|
         -> Result<(), String> {
            let Some(root) = root else { return Ok(()) };
            let dir = root.join(format!("{}-i{id}", *RUN));
            std::fs::create_dir(&dir)
                .map_err(|e| format!("cannot create the cgroup {}: {e}", dir.display()))?;
            *slot = Some(dir.clone());
            for (file, value) in settings {
                std::fs::write(dir.join(file), value).map_err(|e| {
                    format!("cannot set {file} of the cgroup {}: {e}", dir.display())
                })?;
            }
            Ok(())
        };
        // Filled in as made, so that a failure part-way still removes what was made (Drop).
        make(
            &sandbox.memory_root,
            &[("memory.limit_in_bytes", (memory_mb << 20).to_string())],
            &mut cgroups.memory,
        )?;
        make(
            &sandbox.pids_root,
            &[("pids.max", max_processes.to_string())],
            &mut cgroups.pids,
        )?;
        make(&sandbox.freezer_root, &[], &mut cgroups.freezer)?;
        let open = |dir: &Option<PathBuf>, file: &str| -> Result<Option<std::fs::File>, String> {
            let Some(dir) = dir else { return Ok(None) };
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(dir.join(file))
                .map(Some)
                .map_err(|e| format!("cannot open {file} of {}: {e}", dir.display()))
        };
        cgroups.peak_file = open(&cgroups.memory, "memory.max_usage_in_bytes")?;
        cgroups.freezer_state =
            open(&cgroups.freezer, "freezer.state")?.map(|file| Arc::new(Freezer::new(file)));
        Ok(cgroups)
    }

    /// The invocation ended: freeze the instance once it stays idle.
    fn idle(&self) {
        if let Some(f) = &self.freezer_state {
            f.idle();
        }
    }

    /// An invocation starts: thaw the instance if it was frozen.
    fn wake(&self) {
        if let Some(f) = &self.freezer_state {
            f.wake();
        }
    }

    fn dirs(&self) -> Vec<PathBuf> {
        self.memory
            .iter()
            .chain(self.pids.iter())
            .chain(self.freezer.iter())
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
    let mut dying = lock(&DYING_CGROUPS);
    dying.retain(|dir| std::fs::remove_dir(dir).is_err() && dir.exists());
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        // A frozen process does not die until thawed (the kill is pending until then).
        if let Some(f) = &self.freezer_state {
            f.release();
        }
        self.peak_file = None;
        self.freezer_state = None;
        for dir in self
            .memory
            .iter()
            .chain(self.pids.iter())
            .chain(self.freezer.iter())
        {
            // A cgroup refuses removal while its processes (killed with the instance) exit.
            if std::fs::remove_dir(dir).is_err() && dir.exists() {
                lock(&DYING_CGROUPS).push(dir.clone());
            }
        }
    }
}

enum Io {
    /// The instance's stdin: one end of a Unix socket pair, both directions of the protocol.
    Socket {
        writer: OwnedWriteHalf,
        reader: BufReader<OwnedReadHalf>,
    },
    Custom(Arc<CustomApi>),
}

/// A running instance.
pub struct Instance {
    pub id: u64,
    child: Child,
    io: Io,
    stray: Arc<Mutex<Vec<u8>>>,
    cgroups: Cgroups,
    /// Its pasta, kept for as long as the instance lives and killed with it.
    _outbound: Option<Outbound>,
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

/// One protocol line from the instance.
enum Line {
    Text(String),
    /// End of stream: the instance closed its socket or died.
    End,
    /// Longer than [`MAX_LINE_BYTES`]: no valid answer is that long.
    TooLong,
}

/// Reads one line of at most [`MAX_LINE_BYTES`].
async fn read_line(reader: &mut BufReader<OwnedReadHalf>) -> Line {
    let mut buf = Vec::new();
    let Ok(n) = (&mut *reader)
        .take(MAX_LINE_BYTES)
        .read_until(b'\n', &mut buf)
        .await
    else {
        return Line::End;
    };
    if n == 0 {
        return Line::End;
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
    } else if n as u64 >= MAX_LINE_BYTES {
        return Line::TooLong;
    }
    Line::Text(String::from_utf8_lossy(&buf).into_owned())
}

/// Keeps what the instance writes to stdout or stderr, up to [`MAX_STRAY_BYTES`] between two
/// takes; the rest is read and dropped as it arrives (never buffered: a flood without a
/// newline costs the server one 16 KB buffer), so the instance never blocks on a full pipe.
fn spawn_drain<R: tokio::io::AsyncRead + Unpin + Send + 'static>(
    mut reader: R,
    into: Arc<Mutex<Vec<u8>>>,
) {
    tokio::spawn(async move {
        let mut chunk = vec![0u8; 16 << 10];
        loop {
            match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let mut buf = lock(&into);
                    let room = MAX_STRAY_BYTES.saturating_sub(buf.len());
                    buf.extend_from_slice(&chunk[..n.min(room)]);
                }
            }
        }
    });
}

/// Empties a stray-output buffer into text.
fn take_text(stray: &Mutex<Vec<u8>>) -> String {
    let bytes = std::mem::take(&mut *lock(stray));
    String::from_utf8_lossy(&bytes).into_owned()
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
    stray: Arc<Mutex<Vec<u8>>>,
    /// What it wrote while starting.
    log: String,
    /// The pasta process of its outbound network, if it has one (killed with the instance).
    outbound: Option<Outbound>,
}

/// Waits until the instance's outbound network is up, within `timeout`.
async fn wait_outbound(outbound: &mut Outbound, timeout: Duration) -> Result<(), String> {
    tokio::time::timeout(timeout, outbound.ready())
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "the instance's outbound network was not up within {} s (init timeout)",
                timeout.as_secs()
            ))
        })
}

impl StartFailure {
    fn without_cgroups(message: String, since: Instant) -> Self {
        StartFailure {
            message,
            init_ms: since.elapsed().as_secs_f64() * 1000.0,
            mem_bytes: 0,
        }
    }

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
        let cgroups =
            match Cgroups::create(sandbox, id, spec.memory_mb, sandbox.config.max_processes) {
                Ok(c) => c,
                Err(message) => return Some(Err(StartFailure::without_cgroups(message, started))),
            };
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
                    mut outbound,
                },
            cgroups,
            uses_launcher,
        } = self;
        // The handler's module is the function's own code: it runs once the outbound network
        // is up (started with the process, so usually long since).
        if let Some(o) = outbound.as_mut()
            && let Err(message) = wait_outbound(o, spec.init_timeout).await
        {
            let _ = child.start_kill();
            return Err(StartFailure::new(message, since, &cgroups));
        }
        if let Io::Socket { writer, reader } = &mut io {
            let sent = writer.write_all(protocol::INIT_LINE).await.is_ok();
            let ready = await_init(
                &mut child,
                reader,
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
            _outbound: outbound,
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
    reader: &mut BufReader<OwnedReadHalf>,
    stray: &Mutex<Vec<u8>>,
    cgroups: &Cgroups,
    uses_launcher: bool,
    timeout: Duration,
    want: InitKind,
    log: &mut String,
) -> Result<(), String> {
    let waited = tokio::time::timeout(timeout, async {
        loop {
            let line = match read_line(reader).await {
                Line::Text(line) => line,
                Line::End | Line::TooLong => return Err(None),
            };
            if let Ok(m) = serde_json::from_str::<Message>(&line)
                && let Some(kind) = m.kind
            {
                append_capped(log, &m.log);
                if kind == want {
                    return Ok(());
                }
                if kind == InitKind::InitError {
                    return Err(Some(m.error));
                }
            }
        }
    })
    .await;
    // What reached stdout/stderr while starting belongs to the start's log.
    match waited {
        Ok(Ok(())) => {
            tokio::task::yield_now().await;
            let text = take_text(stray);
            append_capped(log, &text);
            Ok(())
        }
        Ok(Err(Some(error))) => {
            let _ = child.start_kill();
            let text = take_text(stray);
            Err(format!("{log}{text}{error}"))
        }
        Ok(Err(None)) => {
            let status = tokio::time::timeout(Duration::from_secs(2), child.wait())
                .await
                .ok()
                .and_then(Result::ok);
            tokio::time::sleep(Duration::from_millis(20)).await;
            let stray = take_text(stray);
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

/// A custom runtime's API, its address added to `env`. Unsandboxed, it listens on the host's
/// loopback, and is made here; `sandboxed`, inside the instance's namespace, on SCF's fixed
/// port, on the listener the launcher hands back (`None` here).
async fn runtime_api(
    memory_mb: u64,
    sandboxed: bool,
    env: &mut Vec<(String, String)>,
) -> Result<Option<Arc<CustomApi>>, String> {
    let mut custom_api = None;
    let port = if sandboxed {
        crate::RUNTIME_API_PORT
    } else {
        let api = CustomApi::start(memory_mb)
            .await
            .map_err(|e| format!("cannot serve the runtime API: {e}"))?;
        let port = api.port();
        custom_api = Some(api);
        port
    };
    env.push(("SCF_RUNTIME_API".into(), "127.0.0.1".into()));
    env.push(("SCF_RUNTIME_API_PORT".into(), port.to_string()));
    Ok(custom_api)
}

/// The program an instance runs and its arguments: the interpreter with its runtime's
/// bootstrap script, or a custom runtime's `bootstrap` (at `code_root`, as the instance sees
/// the code).
fn program_and_args(spec: &InstanceSpec, code_root: &Path) -> (PathBuf, Vec<String>) {
    match &spec.launch {
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
    }
}

/// Refuses a custom runtime's package without an executable `bootstrap`.
fn check_bootstrap(code_dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let bootstrap = code_dir.join("bootstrap");
    // Not followed if it is a link: the server is root, and the link is the tenant's.
    // A link is left for exec inside the sandbox to resolve.
    match std::fs::symlink_metadata(&bootstrap) {
        Ok(m) if m.file_type().is_symlink() => Ok(()),
        Ok(m) if m.permissions().mode() & 0o111 != 0 => Ok(()),
        Ok(_) => Err("the package's `bootstrap` is not executable".into()),
        Err(_) => Err("the package has no `bootstrap` file (a custom runtime needs one)".into()),
    }
}

/// Starts `cmd` (its `plan` written to it first, if it is the launcher), with the server's
/// end of the protocol socket returned.
async fn start_process(
    mut cmd: tokio::process::Command,
    plan: Option<Vec<u8>>,
    custom: bool,
    program: &Path,
) -> Result<(Child, tokio::net::UnixStream), String> {
    // The protocol's socket is the instance's stdin (the launcher reads its plan from it
    // first); stdout and stderr are pipes read only as log.
    let (host_end, instance_end) = std::os::unix::net::UnixStream::pair()
        .map_err(|e| format!("cannot make the instance's socket: {e}"))?;
    host_end
        .set_nonblocking(true)
        .map_err(|e| format!("cannot make the instance's socket: {e}"))?;
    let mut host_end = tokio::net::UnixStream::from_std(host_end)
        .map_err(|e| format!("cannot make the instance's socket: {e}"))?;
    if !(custom && plan.is_none()) {
        cmd.stdin(Stdio::from(std::os::fd::OwnedFd::from(instance_end)));
    }
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let spawned = cmd.spawn();
    // The command holds the instance's end of the socket: closed here, so the server sees
    // the end of the stream as soon as the instance is gone.
    drop(cmd);
    let child = spawned.map_err(|e| format!("cannot start {}: {e}", program.display()))?;
    if let Some(plan) = plan {
        host_end
            .write_all(&plan)
            .await
            .map_err(|e| format!("cannot hand the sandbox its plan: {e}"))?;
    }
    Ok((child, host_end))
}

/// Starts what the launcher `received` makes possible: the outbound network (pasta on the
/// instance's network namespace) and the runtime API on the listener inside it.
fn start_network(
    received: network::Received,
    sandbox: &Sandbox,
    cgroups: &Cgroups,
    child: &Child,
    memory_mb: u64,
) -> Result<(Option<Outbound>, Option<Arc<CustomApi>>), String> {
    let mut outbound = None;
    if let (Some(netns), Some(launcher), Some(pasta)) =
        (received.netns, &sandbox.launcher, &sandbox.pasta)
    {
        outbound = Some(Outbound::start(launcher, pasta, netns)?);
    }
    let Some(listener) = received.listener else {
        return Ok((outbound, None));
    };
    let owner = crate::custom::Owner {
        cgroup: cgroups
            .pids
            .clone()
            .or_else(|| cgroups.memory.clone())
            .ok_or("the runtime API needs the instance's cgroup to check its peers")?,
        // The launcher is in the instance's network namespace.
        tcp_table: PathBuf::from(format!(
            "/proc/{}/net/tcp",
            child.id().ok_or("the sandbox is gone")?
        )),
    };
    let api = CustomApi::serve(listener, memory_mb, owner)
        .map_err(|e| format!("cannot serve the runtime API: {e}"))?;
    Ok((outbound, Some(api)))
}

/// A process on its way up, for the steps of [`Instance::spawn`] after its start: the
/// process, its stray output (drained from its start), and what its failures are told with.
struct Starting {
    child: Child,
    stray: Arc<Mutex<Vec<u8>>>,
    uses_launcher: bool,
    init_timeout: Duration,
}

impl Starting {
    /// Starts draining `child`'s stdout and stderr into its stray output.
    fn new(mut child: Child, uses_launcher: bool, init_timeout: Duration) -> Starting {
        let stray = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().expect("stdout was piped");
        let stderr = child.stderr.take().expect("stderr was piped");
        spawn_drain(stderr, Arc::clone(&stray));
        spawn_drain(stdout, Arc::clone(&stray));
        Starting {
            child,
            stray,
            uses_launcher,
            init_timeout,
        }
    }

    /// What the launcher hands over on `host_end`, within the init timeout; else why not, with
    /// how the sandbox ended and what it wrote.
    async fn receive(
        &mut self,
        host_end: &tokio::net::UnixStream,
        want: Handoff,
    ) -> Result<network::Received, String> {
        let late = "the sandbox did not hand over the instance's network in time";
        let received = tokio::time::timeout(self.init_timeout, network::receive(host_end, want))
            .await
            .unwrap_or_else(|_| Err(late.into()));
        match received {
            Ok(r) => Ok(r),
            Err(message) => {
                let status = tokio::time::timeout(Duration::from_secs(2), self.child.wait())
                    .await
                    .ok()
                    .and_then(Result::ok);
                tokio::time::sleep(Duration::from_millis(10)).await;
                Err(format!(
                    "{message} ({}).\n{}",
                    describe_exit(status, self.uses_launcher),
                    take_text(&self.stray)
                ))
            }
        }
    }

    /// Waits until a custom runtime calls `/runtime/init/ready` on `api`, within the init
    /// timeout; `wait_start`: its bootstrap first gets the go-ahead, once `outbound` is up.
    /// Returns what it wrote while starting.
    async fn custom_ready(
        &mut self,
        api: &CustomApi,
        reader: OwnedReadHalf,
        mut writer: OwnedWriteHalf,
        wait_start: bool,
        outbound: Option<&mut Outbound>,
    ) -> Result<String, String> {
        if wait_start {
            // The bootstrap is the function's own code: it starts once its outbound
            // network is up.
            if let Some(o) = outbound {
                wait_outbound(o, self.init_timeout).await?;
            }
            writer
                .write_all(b"G")
                .await
                .map_err(|e| format!("cannot start the bootstrap: {e}"))?;
        }
        drop((reader, writer));
        tokio::select! {
            ready = tokio::time::timeout(self.init_timeout, api.ready()) => {
                if ready.is_err() {
                    let _ = self.child.start_kill();
                    return Err(format!("the custom runtime did not call /runtime/init/ready within {} s (init timeout)", self.init_timeout.as_secs()));
                }
            }
            status = self.child.wait() => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                let log = take_text(&self.stray);
                return Err(format!("bootstrap ended before it was ready: {}\n{log}", describe_exit(status.ok(), self.uses_launcher)));
            }
        }
        Ok(take_text(&self.stray))
    }

    /// Waits until an interpreter runtime says "standby" on `reader`; returns what it wrote
    /// while starting.
    async fn standby(
        &mut self,
        reader: &mut BufReader<OwnedReadHalf>,
        cgroups: &Cgroups,
    ) -> Result<String, String> {
        let mut log = String::new();
        await_init(
            &mut self.child,
            reader,
            &self.stray,
            cgroups,
            self.uses_launcher,
            self.init_timeout,
            InitKind::Standby,
            &mut log,
        )
        .await?;
        Ok(log)
    }
}

/// Sends `req` on the protocol socket and reads lines until its answer (others are skipped),
/// within `timeout`, unless `cancel` comes first. `Err(None)`: the instance went away.
async fn socket_exchange(
    writer: &mut OwnedWriteHalf,
    reader: &mut BufReader<OwnedReadHalf>,
    req: &protocol::Request<'_>,
    timeout: Duration,
    cancel: &tokio::sync::Notify,
) -> Result<Answer, Option<Failure>> {
    let line = req.to_line();
    let exchange = async {
        if writer.write_all(&line).await.is_err() {
            return Err(None);
        }
        loop {
            match read_line(reader).await {
                Line::Text(text) => {
                    if let Ok(m) = serde_json::from_str::<Message>(&text)
                        && let Some(a) = m.into_answer()
                        && a.id == req.id
                    {
                        return Ok(Answer::Given(a));
                    }
                }
                Line::TooLong => return Ok(Answer::TooLong),
                Line::End => return Err(None),
            }
        }
    };
    tokio::select! {
        r = tokio::time::timeout(timeout, exchange) => match r {
            Ok(outcome) => outcome,
            Err(_) => Err(Some(Failure::Timeout)),
        },
        () = cancel.notified() => Err(Some(Failure::Terminated)),
    }
}

/// Hands one invocation to a custom runtime's API and waits for its answer, within `timeout`,
/// unless `cancel` comes first or the bootstrap (`child`) ends. `Err(None)`: the instance
/// went away.
async fn custom_exchange(
    api: &CustomApi,
    child: &mut Child,
    request_id: &str,
    event: &serde_json::value::RawValue,
    deadline_ms: i64,
    timeout: Duration,
    cancel: &tokio::sync::Notify,
) -> Result<Answer, Option<Failure>> {
    let body = event.get().to_string();
    let exchange = api.invoke(request_id, body, deadline_ms, timeout);
    tokio::select! {
        r = tokio::time::timeout(timeout, exchange) => match r {
            Ok(Some(result)) => {
                // Moved, not copied: a result can be 6 MB.
                let ok = result.is_ok();
                let (result, error) = match result {
                    Ok(r) => (r, String::new()),
                    Err(e) => (String::new(), e),
                };
                Ok(Answer::Given(protocol::Answer {
                    id: request_id.to_string(),
                    ok,
                    result,
                    error,
                    log: String::new(),
                    fatal: false,
                }))
            }
            Ok(None) => Err(None),
            Err(_) => Err(Some(Failure::Timeout)),
        },
        status = child.wait() => {
            let _ = status;
            Err(None)
        }
        () = cancel.notified() => Err(Some(Failure::Terminated)),
    }
}

/// The error of an answer over the 6 MB limit (`bytes`: its size, if known).
fn too_big(bytes: Option<usize>) -> String {
    match bytes {
        Some(n) => format!("The function's response is {n} bytes, over the 6 MB limit."),
        None => "The function's response is over the 6 MB limit.".to_string(),
    }
}

/// The error message of an invocation that ended in `failure` (`timeout`: its timeout).
fn failure_message(failure: &Failure, timeout: Duration) -> String {
    match failure {
        Failure::Timeout => format!(
            "Invoking task timed out after {} seconds",
            timeout.as_secs_f64().round()
        ),
        Failure::MemoryLimit => {
            "Memory limit exceeded: the function used more than its MemorySize and was killed"
                .into()
        }
        Failure::Crashed(why) => format!("The function's instance crashed: {why}"),
        Failure::Terminated => "The request was terminated (TerminateAsyncEvent)".into(),
    }
}

impl Instance {
    /// Starts an instance and waits until its handler is loaded. The init duration is the
    /// whole wait: the process's start and the handler's loading.
    pub async fn start(spec: &InstanceSpec, sandbox: &Sandbox) -> Result<Instance, StartFailure> {
        let started = Instant::now();
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let cgroups = Cgroups::create(sandbox, id, spec.memory_mb, sandbox.config.max_processes)
            .map_err(|message| StartFailure::without_cgroups(message, started))?;
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
        let custom = spec.launch == Launch::Custom;
        // What the launcher hands back: the instance's network namespace (for pasta) and the
        // runtime API's listener inside it.
        let handoff = sandbox.handoff(custom);
        let mut custom_api = None;
        if custom {
            custom_api = runtime_api(spec.memory_mb, handoff.is_some(), &mut env).await?;
        }
        let (program, args) = program_and_args(spec, &code_root);
        if custom {
            check_bootstrap(&spec.code_dir)?;
        }
        let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let (cmd, plan) = sandbox.command(
            &program,
            &arg_refs,
            &spec.code_dir,
            &spec.extra_ro,
            &cgroups.dirs(),
            &env,
            custom,
        )?;
        let (child, host_end) = start_process(cmd, plan, custom, &program).await?;
        let mut starting = Starting::new(child, sandbox.launcher.is_some(), spec.init_timeout);

        let mut outbound = None;
        if let Some(want) = handoff {
            let received = starting.receive(&host_end, want).await?;
            let (started, served) =
                start_network(received, sandbox, cgroups, &starting.child, spec.memory_mb)?;
            outbound = started;
            if served.is_some() {
                custom_api = served;
            }
        }
        let (reader, writer) = host_end.into_split();

        let (io, log) = match custom_api {
            Some(api) => {
                let wait_start = handoff.is_some_and(|h| h.wait_start);
                let log = starting
                    .custom_ready(&api, reader, writer, wait_start, outbound.as_mut())
                    .await?;
                (Io::Custom(api), log)
            }
            None => {
                let mut reader = BufReader::new(reader);
                let log = starting.standby(&mut reader, cgroups).await?;
                (Io::Socket { writer, reader }, log)
            }
        };
        Ok(Spawned {
            child: starting.child,
            io,
            stray: starting.stray,
            log,
            outbound,
        })
    }

    fn take_stray(&self) -> String {
        take_text(&self.stray)
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
        self.cgroups.wake();
        let started = Instant::now();
        let outcome: Result<Answer, Option<Failure>> = match &mut self.io {
            Io::Socket { writer, reader } => {
                let req = protocol::Request {
                    id: request_id,
                    event,
                    context,
                    deadline_ms,
                };
                socket_exchange(writer, reader, &req, timeout, cancel).await
            }
            Io::Custom(api) => {
                let child = &mut self.child;
                custom_exchange(api, child, request_id, event, deadline_ms, timeout, cancel).await
            }
        };
        // The platform's figure, never the instance's: the wall clock around the exchange.
        let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        match outcome {
            Ok(Answer::Given(answer)) => self.answered(answer, duration_ms).await,
            Ok(Answer::TooLong) => self.too_long(duration_ms),
            Err(failure) => self.failed(failure, timeout, duration_ms).await,
        }
    }

    /// The run of an invocation the instance answered: its result (refused over the 6 MB
    /// limit), its log, and whether the instance can serve again (it is then frozen once idle).
    async fn answered(&mut self, answer: protocol::Answer, duration_ms: f64) -> Run {
        // Output that reached stderr/stdout outside the runtime's capture.
        tokio::task::yield_now().await;
        let mem_bytes = self.peak_memory();
        let mut log = String::new();
        append_capped(&mut log, &answer.log);
        append_capped(&mut log, &self.take_stray());
        let result = if answer.ok && answer.result.len() > MAX_RESPONSE_BYTES {
            Err(too_big(Some(answer.result.len())))
        } else if answer.ok {
            Ok(answer.result)
        } else {
            Err(answer.error)
        };
        let reusable = !answer.fatal;
        if reusable {
            self.cgroups.idle();
        }
        self.last_used = Instant::now();
        Run {
            result,
            failure: None,
            log,
            duration_ms,
            mem_bytes,
            reusable,
        }
    }

    /// The run of an invocation whose answer was longer than any within the limit: the
    /// instance is killed.
    fn too_long(&mut self, duration_ms: f64) -> Run {
        let mem_bytes = self.peak_memory();
        let _ = self.child.start_kill();
        let log = self.take_stray();
        Run {
            result: Err(too_big(None)),
            failure: None,
            log,
            duration_ms,
            mem_bytes,
            reusable: false,
        }
    }

    /// The run of an invocation that got no answer: `failure` (a timeout, a termination), or
    /// `None` when the instance went away on its own (a memory kill or a crash, told apart
    /// here). The instance is killed.
    async fn failed(
        &mut self,
        failure: Option<Failure>,
        timeout: Duration,
        duration_ms: f64,
    ) -> Run {
        let mem_bytes = self.peak_memory();
        let status = self.kill(failure.is_none()).await;
        let log = self.take_stray();
        let failure = match failure {
            Some(f) => f,
            // Each instance has its own memory cgroup, and an OOM kill ends it: any
            // kill counted there is this invocation's.
            None if self.cgroups.oom_kills() > 0 => Failure::MemoryLimit,
            None => Failure::Crashed(describe_exit(status, self.uses_launcher)),
        };
        Run {
            result: Err(failure_message(&failure, timeout)),
            failure: Some(failure),
            log,
            duration_ms,
            mem_bytes,
            reusable: false,
        }
    }

    /// Kills the instance and returns its exit status (if it came within 2 s), after 10 ms more
    /// for the drains to read its last output. `went_away`: it went away on its own, and is
    /// first given up to 500 ms to finish dying, so its exit status says how (a signal, an
    /// exit code).
    async fn kill(&mut self, went_away: bool) -> Option<std::process::ExitStatus> {
        if went_away {
            let _ = tokio::time::timeout(Duration::from_millis(500), self.child.wait()).await;
        }
        let _ = self.child.start_kill();
        let status = tokio::time::timeout(Duration::from_secs(2), self.child.wait())
            .await
            .ok()
            .and_then(Result::ok);
        tokio::time::sleep(Duration::from_millis(10)).await;
        status
    }

    /// Whether the process is still there.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}
