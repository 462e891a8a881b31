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
//!
//! # Concurrency
//! Each function has a cap (its reserved concurrency, else none) and the server has one
//! (`max_instances`). A synchronous call over a cap fails at once ([`EngineError::Concurrency`]);
//! an asynchronous one waits for a slot. An instance serves one invocation at a time; after it,
//! it goes back to its pool until the keep-alive passes (0 = never reused).

pub mod custom;
pub mod instance;
pub mod protocol;
pub mod runtimes;
pub mod sandbox;

use instance::{Instance, InstanceSpec, Run, Standby};
use runtimes::{InterpreterConfig, Interpreters, Launch};
use sandbox::{Sandbox, SandboxConfig};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// The `[engine]` table of the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// Seconds an idle instance stays warm; 0 = a fresh instance for every invocation.
    pub keep_alive_secs: u64,
    /// Instances busy at once across the server.
    pub max_instances: u32,
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
            spares: 1,
            interpreters: InterpreterConfig::default(),
        }
    }
}

/// One function version, as the engine runs it.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    /// Identifies the function (account, region, namespace, name) for its concurrency cap.
    pub function_id: String,
    /// Identifies this exact version and configuration: instances are shared only within it.
    pub pool_key: String,
    pub runtime: String,
    pub handler: String,
    pub memory_mb: u64,
    pub timeout: Duration,
    pub init_timeout: Duration,
    pub code_dir: PathBuf,
    /// Built-in variables and the function's own, in that order.
    pub env: Vec<(String, String)>,
    /// The function's cap, from its reserved concurrency; `None` = only the server's.
    pub max_concurrency: Option<u32>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EngineError {
    #[error("the function is at its concurrency limit")]
    Concurrency,
    #[error("{0}")]
    Runtime(String),
}

/// What an invocation produced, with its measurements.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub run: Run,
    pub cold_start: bool,
    pub init_ms: f64,
}

/// What [`Engine::stats`] counts.
#[derive(Debug, Clone, Copy, Default)]
pub struct EngineStats {
    pub warm: usize,
    pub busy: usize,
    pub spares: usize,
}

struct Pool {
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

struct FunctionSlots {
    cap: Option<u32>,
    semaphore: Arc<Semaphore>,
}

pub struct Engine {
    config: EngineConfig,
    interpreters: Interpreters,
    sandbox: Sandbox,
    runtime_dir: PathBuf,
    hide: Vec<PathBuf>,
    pools: Mutex<HashMap<String, Arc<Pool>>>,
    functions: Mutex<HashMap<String, FunctionSlots>>,
    global: Arc<Semaphore>,
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
        let mut hide = vec![data_dir];
        if Path::new("/root").is_dir() {
            hide.push("/root".into());
        }
        let sandbox = Sandbox::start(sandbox);
        let runtime_dir = std::fs::canonicalize(runtime_dir)?;
        let engine = Arc::new_cyclic(|me| Engine {
            global: Arc::new(Semaphore::new(config.max_instances.max(1) as usize)),
            config,
            interpreters,
            sandbox,
            runtime_dir,
            hide,
            pools: Mutex::new(HashMap::new()),
            functions: Mutex::new(HashMap::new()),
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

    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    fn reap(&self) {
        instance::remove_dead_cgroups();
        // Pools nobody uses any more (an old version or configuration), and the caps of
        // functions with nothing running.
        self.pools
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, p| {
                Arc::strong_count(p) > 1
                    || !p.idle.lock().unwrap_or_else(|e| e.into_inner()).is_empty()
                    || !p
                        .spares
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .is_empty()
            });
        self.functions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, s| s.semaphore.available_permits() < s.cap.unwrap_or(0) as usize);
        let keep = Duration::from_secs(self.config.keep_alive_secs);
        let pools: Vec<Arc<Pool>> = self
            .pools
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        let spare_ttl = keep.max(SPARE_TTL_MIN);
        for pool in pools {
            let mut idle = pool.idle.lock().unwrap_or_else(|p| p.into_inner());
            idle.retain_mut(|i| i.last_used.elapsed() < keep && i.alive());
            let unused = lock(&pool.last_used).elapsed() >= spare_ttl;
            lock(&pool.spares).retain_mut(|s| !unused && s.alive());
        }
    }

    /// Instances warm, busy and spare, for metrics.
    pub fn stats(&self) -> EngineStats {
        EngineStats {
            warm: self.idle_instances(),
            busy: (self.config.max_instances.max(1) as usize)
                .saturating_sub(self.global.available_permits()),
            spares: self.spare_instances(),
        }
    }

    /// Instances idle in the pools (for tests and metrics).
    pub fn idle_instances(&self) -> usize {
        let pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        pools
            .values()
            .map(|p| p.idle.lock().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }

    /// Spare instances started ahead of need (for tests and metrics).
    pub fn spare_instances(&self) -> usize {
        let pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        pools.values().map(|p| lock(&p.spares).len()).sum()
    }

    fn function_semaphore(&self, spec: &FunctionSpec) -> Option<Arc<Semaphore>> {
        let cap = spec.max_concurrency?;
        let mut functions = self.functions.lock().unwrap_or_else(|p| p.into_inner());
        let slots = functions
            .entry(spec.function_id.clone())
            .or_insert_with(|| FunctionSlots {
                cap: Some(cap),
                semaphore: Arc::new(Semaphore::new(cap as usize)),
            });
        if slots.cap != Some(cap) {
            // The reservation changed: new requests count against the new cap.
            *slots = FunctionSlots {
                cap: Some(cap),
                semaphore: Arc::new(Semaphore::new(cap as usize)),
            };
        }
        Some(Arc::clone(&slots.semaphore))
    }

    async fn admit(
        &self,
        spec: &FunctionSpec,
        wait: bool,
    ) -> Result<(Option<OwnedSemaphorePermit>, OwnedSemaphorePermit), EngineError> {
        // A reservation smaller than one instance means the function may not run at all: an
        // async call must fail rather than wait forever for a slot that cannot exist.
        if spec.max_concurrency == Some(0) {
            return Err(EngineError::Concurrency);
        }
        let function = self.function_semaphore(spec);
        let take = |s: Arc<Semaphore>| async move {
            if wait {
                s.acquire_owned().await.ok()
            } else {
                s.try_acquire_owned().ok()
            }
        };
        let fp = match function {
            Some(s) => Some(take(s).await.ok_or(EngineError::Concurrency)?),
            None => None,
        };
        let gp = take(Arc::clone(&self.global))
            .await
            .ok_or(EngineError::Concurrency)?;
        Ok((fp, gp))
    }

    fn pool(&self, key: &str) -> Arc<Pool> {
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(pools.entry(key.to_string()).or_insert_with(|| {
            Arc::new(Pool {
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
        if have >= want || self.spare_instances() >= cap {
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
                Some(Ok(spare)) => lock(&pool.spares).push(spare),
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
            // An interpreter inside a hidden folder (pyenv's under /root) is shown again.
            if let Some(prefix) = program.parent().and_then(Path::parent)
                && self.hide.iter().any(|h| prefix.starts_with(h))
            {
                extra_ro.push((prefix.to_path_buf(), prefix.to_path_buf()));
            }
        }
        let code_root = self.sandbox.code_root(&spec.code_dir);
        let mut env = spec.env.clone();
        env.push(("USER_CODE_ROOT".into(), code_root.display().to_string()));
        Ok(InstanceSpec {
            launch,
            code_dir: spec.code_dir.clone(),
            env,
            memory_mb: spec.memory_mb,
            init_timeout: spec.init_timeout,
            hide: self.hide.clone(),
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
        let _permits = self.admit(spec, wait).await?;
        let pool = self.pool(&spec.pool_key);
        *lock(&pool.last_used) = Instant::now();
        let warm = pop_alive(&mut lock(&pool.idle), Instance::alive);
        let mut replenish = None;
        let (mut instance, cold_start) = match warm {
            Some(i) => (i, false),
            None => {
                let ispec = self.instance_spec(spec)?;
                let spare = pop_alive(&mut lock(&pool.spares), Standby::alive);
                // The spare that replaces this one starts after this invocation: starting it
                // now would compete with it (a process moving into its cgroup blocks every
                // fork and exit on the machine for an RCU grace period).
                if pool.starts.fetch_add(1, Ordering::Relaxed) > 0
                    || self.config.keep_alive_secs == 0
                {
                    replenish = Some(ispec.clone());
                }
                let started = match spare {
                    Some(s) => s.activate(&ispec).await,
                    None => Instance::start(&ispec, &self.sandbox).await,
                };
                match started {
                    Ok(i) => (i, true),
                    Err(failure) => {
                        if let Some(ispec) = replenish {
                            self.replenish(&pool, &ispec);
                        }
                        return Ok(Outcome {
                            run: Run {
                                result: Err(failure.message),
                                failure: Some(instance::Failure::Crashed(
                                    "initialization failed".into(),
                                )),
                                log: String::new(),
                                duration_ms: 0.0,
                                mem_bytes: failure.mem_bytes,
                                reusable: false,
                            },
                            cold_start: true,
                            init_ms: failure.init_ms,
                        });
                    }
                }
            }
        };
        let cancel = Arc::new(Notify::new());
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(request_id.to_string(), Arc::clone(&cancel));
        let deadline_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default()
            + spec.timeout.as_millis() as i64;
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
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(request_id);
        let init_ms = if cold_start { instance.init_ms } else { 0.0 };
        if cold_start && !instance.init_log.is_empty() {
            run.log = format!("{}{}", std::mem::take(&mut instance.init_log), run.log);
        }
        if run.reusable && self.config.keep_alive_secs > 0 {
            instance.last_used = Instant::now();
            pool.idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(instance);
        }
        if let Some(ispec) = replenish {
            self.replenish(&pool, &ispec);
        }
        Ok(Outcome {
            run,
            cold_start,
            init_ms,
        })
    }

    /// Ends a running invocation (TerminateAsyncEvent). Whether it was running here.
    pub fn terminate(&self, request_id: &str) -> bool {
        match self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(request_id)
        {
            Some(n) => {
                n.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Locks a mutex of plain data, which a panic elsewhere cannot leave inconsistent.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
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
