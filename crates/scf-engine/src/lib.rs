//! scf-engine: runs functions in sandboxed, warm instances.
//!
//! # Layout
//! * [`Engine`]: the pools of warm instances (one pool per function version and
//!   configuration), the concurrency caps, the keep-alive reaper, and [`Engine::invoke`].
//! * [`instance`]: one instance process: start (cold start, init duration), invoke over the
//!   protocol, measure (duration, peak memory from the instance's cgroup or its VmHWM), and
//!   tell a timeout, a memory kill and a crash apart.
//! * [`protocol`]: the JSON-line protocol of the Python and Node.js runtimes; the runtimes
//!   themselves are the two small scripts in `runtimes/`, embedded in the binary.
//! * [`custom`]: SCF's Custom Runtime HTTP API for `bootstrap` packages.
//! * [`runtimes`]: which interpreters this machine has, and how each runtime starts.
//! * [`sandbox`]: what isolation the machine allows (probed once) and the launcher command.
//! * [`network`]: each sandboxed instance's own network namespace: what the launcher hands
//!   back (the namespace, the runtime API's listener) and the `pasta` giving outbound network.
//!
//! # Concurrency
//! An invocation takes a slot under three caps at once: its function's (its reserved
//! concurrency, else none), its account's share of the server (`max_instances_per_account`),
//! and the server's (`max_instances`). A synchronous call over any of them fails at once
//! ([`EngineError::Concurrency`]); an asynchronous one may wait for a slot. The slots are
//! counters under one lock, not FIFO semaphores: a waiting call holds nothing and stands in
//! front of nobody, so a synchronous call finds a slot whenever one is free under its caps
//! (with FIFO semaphores, every freed slot went to the oldest waiter and a synchronous call
//! never saw one while any asynchronous call waited).
//!
//! An instance serves one invocation at a time; after it, it goes back to its pool until the
//! keep-alive passes (0 = never reused), unless its function keeps `max_idle_per_function`
//! idle already or the server `max_idle_instances` (the oldest idle one then goes first), or
//! its pool was drained ([`Engine::drain_function`]: the function was deleted or changed).

/// SCF's cap on a synchronous response (reference §9).
pub const MAX_RESPONSE_BYTES: usize = 6 << 20;
/// The runtime API's port inside a sandboxed instance's namespace (SCF's own).
pub const RUNTIME_API_PORT: u16 = 9001;

pub mod custom;
pub mod instance;
pub mod network;
pub mod protocol;
pub mod runtimes;
pub mod sandbox;

use instance::{Instance, InstanceSpec, Run, Standby};
use runtimes::{InterpreterConfig, Interpreters, Launch};
use sandbox::{Sandbox, SandboxConfig};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// The `[engine]` table of the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// Seconds an idle instance stays warm; 0 = a fresh instance for every invocation.
    pub keep_alive_secs: u64,
    /// Instances busy at once across the server.
    pub max_instances: u32,
    /// Instances busy at once for one account (app id), so that one account cannot take the
    /// whole server from the others; default (`None`) half of `max_instances`, rounded up.
    pub max_instances_per_account: Option<u32>,
    /// Idle (warm) instances kept across the server; default (`None`) `max_instances`. Over
    /// it, the oldest idle instance is stopped.
    pub max_idle_instances: Option<u32>,
    /// Idle instances kept per function (all its versions and configurations); default
    /// (`None`) a quarter of `max_instances`, at least 1.
    pub max_idle_per_function: Option<u32>,
    /// Spare instances kept started ahead of need (interpreter up, handler not loaded) for a
    /// function whose pool grows: one that needed a second instance, or runs with keep-alive
    /// 0. A cold start then skips the process start; 0 = none.
    pub spares: u32,
    pub interpreters: InterpreterConfig,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            keep_alive_secs: 300,
            max_instances: 64,
            max_instances_per_account: None,
            max_idle_instances: None,
            max_idle_per_function: None,
            spares: 1,
            interpreters: InterpreterConfig::default(),
        }
    }
}

impl EngineConfig {
    fn server_cap(&self) -> usize {
        self.max_instances.max(1) as usize
    }

    /// The busy instances one account may have.
    pub fn account_share(&self) -> usize {
        let share = self
            .max_instances_per_account
            .map_or(self.server_cap().div_ceil(2), |n| n as usize);
        share.clamp(1, self.server_cap())
    }

    fn idle_cap(&self) -> usize {
        self.max_idle_instances
            .map_or(self.server_cap(), |n| n as usize)
    }

    fn idle_per_function_cap(&self) -> usize {
        self.max_idle_per_function
            .map_or((self.server_cap() / 4).max(1), |n| n as usize)
    }
}

/// One function version, as the engine runs it.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    /// The account (app id) whose share of the server the invocation counts against.
    pub account_id: String,
    /// Identifies the function (account, region, namespace, name) for its concurrency cap,
    /// its idle cap and [`Engine::drain_function`].
    pub function_id: String,
    /// What the caller counts as one version of the function (its own id and the version
    /// name): instances are shared only within one version and one configuration (see
    /// [`FunctionSpec::pool_key`]).
    pub version_id: String,
    pub runtime: String,
    pub handler: String,
    pub memory_mb: u64,
    pub timeout: Duration,
    pub init_timeout: Duration,
    pub code_dir: PathBuf,
    /// Built-in variables and the function's own, in that order. The engine adds what the
    /// runtime needs to find the code (`USER_CODE_ROOT`, `PYTHONPATH`, `NODE_PATH`).
    pub env: Vec<(String, String)>,
    /// The function's cap, from its reserved concurrency; `None` = only the server's.
    pub max_concurrency: Option<u32>,
}

impl FunctionSpec {
    /// The pool an invocation's instance comes from: one per version and configuration, so
    /// that an instance never serves another version, handler, limit or environment (nor a
    /// function deleted and made again under the same name, whose version id differs).
    pub fn pool_key(&self) -> String {
        // Every string length-prefixed, so no value (a handler, a variable: the tenant's) can
        // make two configurations one key. Pushed rather than `format!`ed: this runs on every
        // invocation, and `format!` with `{:?}` of the environment cost 3.7 µs
        // (`cargo bench -p scf-bench --bench hot_paths -- pool_key`).
        fn part(key: &mut String, digits: &mut itoa::Buffer, s: &str) {
            key.push_str(digits.format(s.len()));
            key.push(':');
            key.push_str(s);
        }
        let mut digits = itoa::Buffer::new();
        let code_dir = self.code_dir.to_string_lossy();
        let len = self.function_id.len()
            + self.version_id.len()
            + code_dir.len()
            + self.runtime.len()
            + self.handler.len()
            + self
                .env
                .iter()
                .map(|(k, v)| k.len() + v.len() + 8)
                .sum::<usize>()
            + 96;
        let mut key = String::with_capacity(len);
        for s in [
            self.function_id.as_str(),
            &self.version_id,
            &code_dir,
            &self.runtime,
            &self.handler,
        ] {
            part(&mut key, &mut digits, s);
        }
        for n in [
            self.memory_mb,
            self.timeout.as_millis() as u64,
            self.init_timeout.as_millis() as u64,
        ] {
            key.push_str(digits.format(n));
            key.push(';');
        }
        for (k, v) in &self.env {
            part(&mut key, &mut digits, k);
            part(&mut key, &mut digits, v);
        }
        key
    }
}

/// The variables by which a runtime finds a function's code at `root` and its layers.
fn runtime_paths(runtime: &str, root: &str) -> Vec<(String, String)> {
    if runtime.starts_with("Python") {
        vec![
            ("PYTHONPATH".into(), format!("{root}:/opt")),
            ("PYTHONDONTWRITEBYTECODE".into(), "x".into()),
        ]
    } else if runtime.starts_with("Nodejs") {
        vec![(
            "NODE_PATH".into(),
            format!("{root}:{root}/node_modules:/opt:/opt/node_modules"),
        )]
    } else {
        vec![]
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EngineError {
    #[error("{}", .0.describe())]
    Concurrency(Limit),
    #[error("{0}")]
    Runtime(String),
}

/// The cap that refused an invocation (see the crate's Concurrency section).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// The function's reserved concurrency (or a reservation of 0).
    Function,
    /// The account's share of the server's instances.
    Account,
    /// The server's instances, all busy.
    Server,
}

impl Limit {
    pub fn describe(self) -> &'static str {
        match self {
            Limit::Function => "the function is at its reserved concurrency",
            Limit::Account => "the account is at its share of the server's instances",
            Limit::Server => "every instance of the server is busy",
        }
    }
}

/// What an invocation produced, with its measurements.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub run: Run,
    pub cold_start: bool,
    pub init_ms: f64,
}

impl Outcome {
    /// The outcome of an invocation whose instance failed to start.
    fn failed_start(failure: instance::StartFailure) -> Outcome {
        Outcome {
            run: Run {
                result: Err(failure.message),
                failure: Some(instance::Failure::Crashed("initialization failed".into())),
                log: String::new(),
                duration_ms: 0.0,
                mem_bytes: failure.mem_bytes,
                reusable: false,
            },
            cold_start: true,
            init_ms: failure.init_ms,
        }
    }
}

/// What [`Engine::stats`] counts.
#[derive(Debug, Clone, Copy, Default)]
pub struct EngineStats {
    pub warm: usize,
    pub busy: usize,
    pub spares: usize,
    /// Invocations waiting for a slot (`wait`).
    pub waiting: usize,
}

struct Pool {
    /// The function it belongs to ([`FunctionSpec::function_id`]).
    function_id: String,
    /// Set by [`Engine::drain_function`]: the pool is out of the map, and nothing goes back
    /// into it (a busy instance ends with its invocation).
    drained: AtomicBool,
    idle: Mutex<Vec<Instance>>,
    /// Started ahead of need (see [`EngineConfig::spares`]).
    spares: Mutex<Vec<Standby>>,
    spares_starting: AtomicUsize,
    /// Instances this pool has started.
    starts: AtomicUsize,
    last_used: Mutex<Instant>,
}

/// How long a pool keeps its spares after its last invocation, at least.
const SPARE_TTL_MIN: Duration = Duration::from_secs(60);

/// The busy slots, counted per server, account and function (see the crate's Concurrency
/// section for why counters and not semaphores). A std mutex: held for a few map operations,
/// never across an await.
#[derive(Default)]
struct Slots {
    busy: usize,
    accounts: HashMap<String, usize>,
    /// Only functions with a reserved concurrency are counted.
    functions: HashMap<String, usize>,
    /// Invocations waiting for a slot.
    waiting: usize,
}

/// A slot held by one invocation; given back when dropped (also if the invocation is
/// cancelled or panics).
struct Slot<'a> {
    engine: &'a Engine,
    account: String,
    function: Option<String>,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        {
            let mut slots = lock(&self.engine.slots);
            slots.busy = slots.busy.saturating_sub(1);
            release(&mut slots.accounts, &self.account);
            if let Some(f) = &self.function {
                release(&mut slots.functions, f);
            }
        }
        self.engine.freed.notify_waiters();
    }
}

fn release(counts: &mut HashMap<String, usize>, key: &str) {
    if let Some(n) = counts.get_mut(key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            counts.remove(key);
        }
    }
}

pub struct Engine {
    config: EngineConfig,
    interpreters: Interpreters,
    sandbox: Sandbox,
    runtime_dir: PathBuf,
    pools: Mutex<HashMap<String, Arc<Pool>>>,
    slots: Mutex<Slots>,
    /// Notified whenever a slot is given back.
    freed: Notify,
    running: Mutex<HashMap<String, Arc<Notify>>>,
    /// Itself, for the background tasks that start spares.
    me: std::sync::Weak<Engine>,
}

const PYTHON_BOOTSTRAP: &str = include_str!("runtimes/python_bootstrap.py");
const NODE_BOOTSTRAP: &str = include_str!("runtimes/node_bootstrap.js");
use sandbox::RUNTIME_ROOT as SANDBOX_RUNTIME_DIR;

impl Engine {
    /// Detects interpreters, probes the sandbox, writes the runtime shims into
    /// `data_dir/runtime`, and starts the keep-alive reaper.
    pub fn start(
        config: EngineConfig,
        sandbox: SandboxConfig,
        data_dir: &Path,
    ) -> std::io::Result<Arc<Engine>> {
        let interpreters = Interpreters::detect(&config.interpreters);
        tracing::info!(
            pythons = %interpreters.pythons.iter().map(|(a, b, p)| format!("{a}.{b}={}", p.display())).collect::<Vec<_>>().join(" "),
            node = %interpreters.node.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "none".into()),
            "runtimes found"
        );
        let runtime_dir = data_dir.join("runtime");
        std::fs::create_dir_all(&runtime_dir)?;
        std::fs::write(runtime_dir.join("python_bootstrap.py"), PYTHON_BOOTSTRAP)?;
        std::fs::write(runtime_dir.join("node_bootstrap.js"), NODE_BOOTSTRAP)?;
        let data_dir = std::fs::canonicalize(data_dir)?;
        // Fails closed: a sandbox that cannot isolate stops the server (see sandbox.rs).
        let sandbox = Sandbox::start(sandbox, &data_dir).map_err(std::io::Error::other)?;
        let runtime_dir = std::fs::canonicalize(runtime_dir)?;
        let engine = Arc::new_cyclic(|me| Engine {
            config,
            interpreters,
            sandbox,
            runtime_dir,
            pools: Mutex::new(HashMap::new()),
            slots: Mutex::new(Slots::default()),
            freed: Notify::new(),
            running: Mutex::new(HashMap::new()),
            me: me.clone(),
        });
        let weak = Arc::downgrade(&engine);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let Some(engine) = weak.upgrade() else { break };
                engine.reap();
            }
        });
        Ok(engine)
    }

    /// Whether `runtime` can run here; `Ok(Some(note))` when it runs on another version.
    pub fn check_runtime(&self, runtime: &str) -> Result<Option<String>, String> {
        self.interpreters.launch(runtime).map(|(_, note)| note)
    }

    fn reap(&self) {
        instance::remove_dead_cgroups();
        // Pools nobody uses any more (an old version or configuration).
        lock(&self.pools).retain(|_, p| {
            Arc::strong_count(p) > 1 || !lock(&p.idle).is_empty() || !lock(&p.spares).is_empty()
        });
        let keep = Duration::from_secs(self.config.keep_alive_secs);
        let pools: Vec<Arc<Pool>> = lock(&self.pools).values().cloned().collect();
        let spare_ttl = keep.max(SPARE_TTL_MIN);
        for pool in pools {
            let mut idle = lock(&pool.idle);
            idle.retain_mut(|i| i.last_used.elapsed() < keep && i.alive());
            let unused = lock(&pool.last_used).elapsed() >= spare_ttl;
            lock(&pool.spares).retain_mut(|s| !unused && s.alive());
        }
    }

    /// Instances warm, busy and spare, for metrics.
    pub fn stats(&self) -> EngineStats {
        let (busy, waiting) = {
            let slots = lock(&self.slots);
            (slots.busy, slots.waiting)
        };
        EngineStats {
            warm: self.idle_instances(),
            busy,
            spares: self.spare_instances(),
            waiting,
        }
    }

    /// Slots of the server that are free and that no waiting invocation is about to take: what
    /// the async dispatcher may start now without anything waiting.
    pub fn free_slots(&self) -> usize {
        let slots = lock(&self.slots);
        self.config
            .server_cap()
            .saturating_sub(slots.busy + slots.waiting)
    }

    /// Completes when a slot is given back (for a dispatcher waiting for room).
    pub async fn slot_freed(&self) {
        self.freed.notified().await
    }

    /// Instances idle in the pools (for tests and metrics).
    pub fn idle_instances(&self) -> usize {
        let pools = lock(&self.pools);
        pools.values().map(|p| lock(&p.idle).len()).sum()
    }

    /// Spare instances started ahead of need (for tests and metrics).
    pub fn spare_instances(&self) -> usize {
        let pools = lock(&self.pools);
        pools.values().map(|p| lock(&p.spares).len()).sum()
    }

    /// Takes a slot if every cap of `spec` has room, else says which cap is full.
    fn try_admit(&self, spec: &FunctionSpec) -> Result<Slot<'_>, Limit> {
        let mut slots = lock(&self.slots);
        if slots.busy >= self.config.server_cap() {
            return Err(Limit::Server);
        }
        let account = slots.accounts.get(&spec.account_id).copied().unwrap_or(0);
        if account >= self.config.account_share() {
            return Err(Limit::Account);
        }
        if let Some(cap) = spec.max_concurrency {
            let function = slots.functions.get(&spec.function_id).copied().unwrap_or(0);
            // A changed reservation applies at once, counting what already runs.
            if function >= cap as usize {
                return Err(Limit::Function);
            }
            *slots.functions.entry(spec.function_id.clone()).or_default() += 1;
        }
        *slots.accounts.entry(spec.account_id.clone()).or_default() += 1;
        slots.busy += 1;
        Ok(Slot {
            engine: self,
            account: spec.account_id.clone(),
            function: spec.max_concurrency.map(|_| spec.function_id.clone()),
        })
    }

    async fn admit(&self, spec: &FunctionSpec, wait: bool) -> Result<Slot<'_>, EngineError> {
        // A reservation smaller than one instance means the function may not run at all: an
        // async call must fail rather than wait forever for a slot that cannot exist.
        if spec.max_concurrency == Some(0) {
            return Err(EngineError::Concurrency(Limit::Function));
        }
        loop {
            // Registered before the look, so that a slot given back in between wakes it.
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            let full = match self.try_admit(spec) {
                Ok(slot) => return Ok(slot),
                Err(full) => full,
            };
            if !wait {
                return Err(EngineError::Concurrency(full));
            }
            lock(&self.slots).waiting += 1;
            let _waiting = Finally(Some(|| {
                let mut slots = lock(&self.slots);
                slots.waiting = slots.waiting.saturating_sub(1);
            }));
            freed.await;
        }
    }

    fn pool(&self, spec: &FunctionSpec) -> Arc<Pool> {
        // Built before the lock: every invocation of the server takes it.
        let key = spec.pool_key();
        let mut pools = lock(&self.pools);
        Arc::clone(pools.entry(key).or_insert_with(|| {
            Arc::new(Pool {
                function_id: spec.function_id.clone(),
                drained: AtomicBool::new(false),
                idle: Mutex::new(Vec::new()),
                spares: Mutex::new(Vec::new()),
                spares_starting: AtomicUsize::new(0),
                starts: AtomicUsize::new(0),
                last_used: Mutex::new(Instant::now()),
            })
        }))
    }

    /// Starts spares for `pool` in the background, up to [`EngineConfig::spares`].
    fn replenish(&self, pool: &Arc<Pool>, ispec: &InstanceSpec) {
        let want = self.config.spares as usize;
        let have = lock(&pool.spares).len() + pool.spares_starting.load(Ordering::Relaxed);
        // Spares are processes too: across all pools, no more than max_instances of them.
        let cap = self.config.max_instances.max(1) as usize;
        if have >= want || self.spare_instances() >= cap || pool.drained.load(Ordering::Relaxed) {
            return;
        }
        pool.spares_starting.fetch_add(1, Ordering::Relaxed);
        let (pool, me, ispec) = (Arc::clone(pool), self.me.clone(), ispec.clone());
        tokio::spawn(async move {
            let started = match me.upgrade() {
                Some(engine) => Standby::start(&ispec, &engine.sandbox).await,
                None => None,
            };
            pool.spares_starting.fetch_sub(1, Ordering::Relaxed);
            match started {
                // A pool drained meanwhile gets no spare (it stops here).
                Some(Ok(spare)) if !pool.drained.load(Ordering::Relaxed) => {
                    lock(&pool.spares).push(spare)
                }
                Some(Ok(_)) => {}
                Some(Err(f)) => {
                    tracing::debug!(error = %f.message, "a spare instance did not start")
                }
                None => {}
            }
        });
    }

    fn instance_spec(&self, spec: &FunctionSpec) -> Result<InstanceSpec, EngineError> {
        let (launch, _) = self
            .interpreters
            .launch(&spec.runtime)
            .map_err(EngineError::Runtime)?;
        let sandboxed = self.sandbox.code_root(&spec.code_dir) != spec.code_dir;
        let mut extra_ro = Vec::new();
        let runtime_dir = if sandboxed {
            extra_ro.push((self.runtime_dir.clone(), PathBuf::from(SANDBOX_RUNTIME_DIR)));
            PathBuf::from(SANDBOX_RUNTIME_DIR)
        } else {
            self.runtime_dir.clone()
        };
        if sandboxed && let Launch::Interpreter { program, .. } = &launch {
            // An interpreter outside the system folders (pyenv's under /root) is shown at its
            // own path, read-only.
            if let Some(prefix) = program.parent().and_then(Path::parent)
                && !sandbox::in_system_dirs(prefix)
            {
                extra_ro.push((prefix.to_path_buf(), prefix.to_path_buf()));
            }
        }
        let code_root = self.sandbox.code_root(&spec.code_dir);
        let root = code_root.display().to_string();
        // Where the runtime looks for the code and the layers (`/opt`): before the function's
        // own variables, which may set them otherwise.
        let mut env = runtime_paths(&spec.runtime, &root);
        env.extend(spec.env.iter().cloned());
        env.push(("USER_CODE_ROOT".into(), root));
        Ok(InstanceSpec {
            launch,
            code_dir: spec.code_dir.clone(),
            env,
            memory_mb: spec.memory_mb,
            init_timeout: spec.init_timeout,
            extra_ro,
            runtime_dir,
        })
    }

    /// Runs one invocation: a warm instance if one is idle, else a new one (a cold start).
    /// `wait`: queue for a concurrency slot (async) instead of failing at once (sync).
    pub async fn invoke(
        &self,
        spec: &FunctionSpec,
        request_id: &str,
        event: &serde_json::value::RawValue,
        context: &serde_json::Value,
        wait: bool,
    ) -> Result<Outcome, EngineError> {
        let _slot = self.admit(spec, wait).await?;
        let pool = self.pool(spec);
        *lock(&pool.last_used) = Instant::now();
        let warm = pop_alive(&mut lock(&pool.idle), Instance::alive);
        let mut replenish = None;
        let (mut instance, cold_start) = match warm {
            Some(i) => (i, false),
            None => match self.cold_start(spec, &pool, &mut replenish).await? {
                Ok(i) => (i, true),
                Err(failure) => {
                    if let Some(ispec) = replenish {
                        self.replenish(&pool, &ispec);
                    }
                    return Ok(Outcome::failed_start(failure));
                }
            },
        };
        let cancel = Arc::new(Notify::new());
        lock(&self.running).insert(request_id.to_string(), Arc::clone(&cancel));
        let deadline_ms = deadline_ms(spec.timeout);
        let mut run = instance
            .invoke(
                request_id,
                event,
                context,
                spec.timeout,
                deadline_ms,
                &cancel,
            )
            .await;
        lock(&self.running).remove(request_id);
        let init_ms = if cold_start { instance.init_ms } else { 0.0 };
        if cold_start && !instance.init_log.is_empty() {
            run.log = format!("{}{}", std::mem::take(&mut instance.init_log), run.log);
        }
        if run.reusable && self.config.keep_alive_secs > 0 && !pool.drained.load(Ordering::Relaxed)
        {
            self.keep_warm(&pool, instance, &spec.function_id);
        }
        // An instance not kept stops when it is dropped, at the end of this function: after
        // the spare below is asked for.
        if let Some(ispec) = replenish {
            self.replenish(&pool, &ispec);
        }
        Ok(Outcome {
            run,
            cold_start,
            init_ms,
        })
    }

    /// A cold start in `pool`: a spare's handler loaded, else a new instance. Sets `replenish`
    /// when a spare is to be started after the invocation (the pool grows, or keeps nothing).
    async fn cold_start(
        &self,
        spec: &FunctionSpec,
        pool: &Pool,
        replenish: &mut Option<InstanceSpec>,
    ) -> Result<Result<Instance, instance::StartFailure>, EngineError> {
        let ispec = self.instance_spec(spec)?;
        let spare = pop_alive(&mut lock(&pool.spares), Standby::alive);
        // The spare that replaces this one starts after this invocation: starting it
        // now would compete with it (a process moving into its cgroup blocks every
        // fork and exit on the machine for an RCU grace period).
        if pool.starts.fetch_add(1, Ordering::Relaxed) > 0 || self.config.keep_alive_secs == 0 {
            *replenish = Some(ispec.clone());
        }
        Ok(match spare {
            Some(s) => s.activate(&ispec).await,
            None => Instance::start(&ispec, &self.sandbox).await,
        })
    }

    /// Puts `instance` back in `pool` after an invocation, and caps the idle instances.
    #[inline]
    fn keep_warm(&self, pool: &Pool, mut instance: Instance, function_id: &str) {
        instance.last_used = Instant::now();
        lock(&pool.idle).push(instance);
        self.cap_idle(function_id);
    }

    /// Stops idle instances, oldest first, while `function_id` keeps more than
    /// `max_idle_per_function` idle or the server more than `max_idle_instances`.
    fn cap_idle(&self, function_id: &str) {
        let pools: Vec<Arc<Pool>> = lock(&self.pools).values().cloned().collect();
        let (per_function, server) = (self.config.idle_per_function_cap(), self.config.idle_cap());
        loop {
            let (mut mine, mut all) = (0, 0);
            let mut oldest_mine: Option<(Instant, &Arc<Pool>)> = None;
            let mut oldest_all: Option<(Instant, &Arc<Pool>)> = None;
            for pool in &pools {
                let idle = lock(&pool.idle);
                // Pushed as they come back: the first is the oldest.
                let Some(first) = idle.first().map(|i| i.last_used) else {
                    continue;
                };
                all += idle.len();
                if oldest_all.is_none_or(|(t, _)| first < t) {
                    oldest_all = Some((first, pool));
                }
                if pool.function_id == function_id {
                    mine += idle.len();
                    if oldest_mine.is_none_or(|(t, _)| first < t) {
                        oldest_mine = Some((first, pool));
                    }
                }
            }
            let victim = if mine > per_function {
                oldest_mine
            } else if all > server {
                oldest_all
            } else {
                return;
            };
            let Some((_, pool)) = victim else { return };
            let stopped = {
                let mut idle = lock(&pool.idle);
                (!idle.is_empty()).then(|| idle.remove(0))
            };
            // Dropped outside the lock: stopping a process and removing its cgroups.
            drop(stopped);
        }
    }

    /// Drops every pool of `function_id` (all its versions and configurations) with their
    /// idle and spare instances, at once: DeleteFunction, UpdateFunctionCode and
    /// UpdateFunctionConfiguration call it, so that what they replaced does not stay warm
    /// until its keep-alive. Busy instances finish their invocation and then stop. Returns
    /// the instances stopped.
    pub fn drain_function(&self, function_id: &str) -> usize {
        let drained: Vec<Arc<Pool>> = {
            let mut pools = lock(&self.pools);
            let keys: Vec<String> = pools
                .iter()
                .filter(|(_, p)| p.function_id == function_id)
                .map(|(k, _)| k.clone())
                .collect();
            keys.iter().filter_map(|k| pools.remove(k)).collect()
        };
        let mut stopped = 0;
        for pool in drained {
            pool.drained.store(true, Ordering::Relaxed);
            let idle = std::mem::take(&mut *lock(&pool.idle));
            let spares = std::mem::take(&mut *lock(&pool.spares));
            stopped += idle.len() + spares.len();
        }
        stopped
    }

    /// Ends a running invocation (TerminateAsyncEvent). Whether it was running here.
    pub fn terminate(&self, request_id: &str) -> bool {
        match lock(&self.running).get(request_id) {
            Some(n) => {
                n.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Runs its closure when dropped (also when the future holding it is cancelled).
struct Finally<F: FnOnce()>(Option<F>);

impl<F: FnOnce()> Drop for Finally<F> {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

/// The deadline of an invocation starting now with `timeout`, in ms since the epoch.
#[inline]
fn deadline_ms(timeout: Duration) -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
        + timeout.as_millis() as i64
}

/// Locks a mutex of plain data, which a panic elsewhere cannot leave inconsistent: the one
/// poison-recovering lock of the crate.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The most recently pushed item that is still `alive`, dropping the dead ones above it.
fn pop_alive<T>(items: &mut Vec<T>, mut alive: impl FnMut(&mut T) -> bool) -> Option<T> {
    while let Some(mut item) = items.pop() {
        if alive(&mut item) {
            return Some(item);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> FunctionSpec {
        FunctionSpec {
            account_id: "1".into(),
            function_id: "1/ap/default/f".into(),
            version_id: "lam-1@$LATEST".into(),
            runtime: "Python3.9".into(),
            handler: "index.main_handler".into(),
            memory_mb: 128,
            timeout: Duration::from_secs(3),
            init_timeout: Duration::from_secs(10),
            code_dir: PathBuf::from("/data/code/aa"),
            env: vec![("A".into(), "1".into())],
            max_concurrency: None,
        }
    }

    type Change = fn(&mut FunctionSpec);

    #[test]
    fn a_pool_holds_one_version_and_configuration() {
        let base = spec();
        assert_eq!(base.pool_key(), spec().pool_key());
        let changes: [(&str, Change); 6] = [
            ("version", |s| s.version_id = "lam-2@$LATEST".into()),
            ("code", |s| s.code_dir = PathBuf::from("/data/code/bb")),
            ("handler", |s| s.handler = "app.run".into()),
            ("memory", |s| s.memory_mb = 256),
            ("timeout", |s| s.timeout = Duration::from_secs(4)),
            ("environment", |s| s.env.push(("B".into(), "2".into()))),
        ];
        for (what, change) in changes {
            let mut other = spec();
            change(&mut other);
            assert_ne!(base.pool_key(), other.pool_key(), "{what}");
        }
        // A tenant's variables cannot be framed to look like another configuration's.
        let (mut a, mut b) = (spec(), spec());
        a.env = vec![("A".into(), "B".into()), ("C".into(), String::new())];
        b.env = vec![("A".into(), "B1:C0:".into())];
        assert_ne!(a.pool_key(), b.pool_key());
        a.env = vec![("AB".into(), String::new())];
        b.env = vec![("A".into(), "B".into())];
        assert_ne!(a.pool_key(), b.pool_key());
    }

    #[test]
    fn runtimes_find_the_code_and_the_layers() {
        assert_eq!(
            runtime_paths("Python3.9", "/var/user")[0],
            ("PYTHONPATH".into(), "/var/user:/opt".into())
        );
        assert_eq!(
            runtime_paths("Nodejs16.13", "/var/user")[0].1,
            "/var/user:/var/user/node_modules:/opt:/opt/node_modules"
        );
        assert!(runtime_paths("CustomRuntime", "/var/user").is_empty());
    }
}
