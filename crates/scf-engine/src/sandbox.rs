//! What isolation this machine allows, found once at start-up by `scf-sandbox --probe`, and the
//! launcher command line for one instance.
//!
//! The launcher (crate scf-sandbox, the only place with `unsafe`) is a tiny binary that the
//! server posix_spawns: forking the grown server for every instance would copy its page tables
//! (measured: 0.5 ms becomes 17 ms). It joins the instance's cgroups (memory, pids, freezer),
//! unshares namespaces, builds a root of the instance's own (the system's programs and
//! libraries and a few `/etc` files read-only, the code read-only at `/var/user`, the runtime
//! shims at `/var/runtime`, private size-capped `/tmp`, `/var/tmp`, `/dev/shm`, `/run/lock`, a
//! minimal `/dev`, its own `/proc`), sets rlimits, drops to an unprivileged user, sets
//! `no_new_privs`, installs a seccomp filter, and only then applies the function's environment
//! with the final `execve`. See docs/SECURITY.md.
//!
//! Fail closed: with `[sandbox] enabled = true` (the default), a launcher that is missing, a
//! probe that fails, or any mechanism above that this machine lacks stops the server at
//! start-up with the reason and the fix. Running unsandboxed takes `enabled = false`, and is
//! warned about at every start.

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Where a function's code appears inside the sandbox (SCF's `USER_CODE_ROOT`).
pub const USER_CODE_ROOT: &str = "/var/user";
/// Where the runtime shims appear inside the sandbox.
pub const RUNTIME_ROOT: &str = "/var/runtime";

/// Size of `/var/tmp` and `/dev/shm` in every instance (tmpfs: what is written there counts
/// against the instance's memory cgroup too).
const SMALL_TMPFS: &str = "64m";

/// The host's folders shown read-only in every instance (those that exist).
const SYSTEM_DIRS: &[&str] = &["/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32"];
/// The `/etc` entries shown read-only in every instance (those that exist): users and groups,
/// name resolution, the dynamic loader's cache, time zone, TLS roots, MIME types.
const ETC_FILES: &[&str] = &[
    "/etc/passwd",
    "/etc/group",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/nsswitch.conf",
    "/etc/host.conf",
    "/etc/gai.conf",
    "/etc/services",
    "/etc/protocols",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/alternatives",
    "/etc/mime.types",
    "/etc/os-release",
];

/// The launcher's `--plan-stdin` format (crate scf-sandbox, `cli::read_plan`): a 4-byte
/// little-endian length, then the arguments separated by NUL bytes. An argument holding a NUL
/// is refused: it would split into arguments of its own, and an environment value such as
/// `x\0--bind-ro\0/:/host` would become launcher options.
pub fn encode_plan(args: &[std::ffi::OsString]) -> Result<Vec<u8>, String> {
    use std::os::unix::ffi::OsStrExt;
    let mut body = Vec::new();
    for (i, a) in args.iter().enumerate() {
        if a.as_bytes().contains(&0) {
            return Err(format!(
                "the instance cannot start: {:?} holds a NUL byte",
                a.to_string_lossy()
            ));
        }
        if i > 0 {
            body.push(0);
        }
        body.extend_from_slice(a.as_bytes());
    }
    let mut out = (body.len() as u32).to_le_bytes().to_vec();
    out.extend(body);
    Ok(out)
}

/// Whether `program` is inside the system folders every instance sees.
pub fn in_system_dirs(program: &Path) -> bool {
    SYSTEM_DIRS.iter().any(|d| program.starts_with(d))
}

/// What network a sandboxed instance has beyond its own loopback (`[sandbox] network`).
/// Every sandboxed instance has a network namespace of its own either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Network {
    /// Outbound connections through `pasta` (SCF functions have outbound network by default).
    #[default]
    Outbound,
    /// Loopback only.
    None,
}

impl<'de> Deserialize<'de> for Network {
    /// `"outbound"` or `"none"`; also the `isolate_network = true/false` of earlier versions
    /// (`true` was no network, `false` the host's, whose closest now is outbound).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Network;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(r#""outbound" or "none""#)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Network, E> {
                match v {
                    "outbound" => Ok(Network::Outbound),
                    "none" => Ok(Network::None),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(v), &self)),
                }
            }
            fn visit_bool<E: serde::de::Error>(self, isolate: bool) -> Result<Network, E> {
                Ok(if isolate {
                    Network::None
                } else {
                    Network::Outbound
                })
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// Sandbox settings from the `[sandbox]` table of the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxConfig {
    /// Run instances through the launcher at all.
    pub enabled: bool,
    /// Outbound network or loopback only (`isolate_network` is its old name).
    #[serde(alias = "isolate_network")]
    pub network: Network,
    /// The `pasta` binary that gives instances outbound network; default: `pasta` on PATH.
    pub pasta: Option<PathBuf>,
    /// The unprivileged user instances run as.
    pub uid: u32,
    pub gid: u32,
    /// Size of each instance's private /tmp (SCF: 512 MB).
    pub tmp_size: String,
    /// Processes and open files per instance (SCF: 1024 each).
    pub max_processes: u32,
    pub max_open_files: u32,
    /// The launcher; default: `scf-sandbox` next to the server's binary.
    pub launcher: Option<PathBuf>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            enabled: true,
            network: Network::Outbound,
            pasta: None,
            uid: 65534,
            gid: 65534,
            tmp_size: "512m".into(),
            max_processes: 1024,
            max_open_files: 1024,
            launcher: None,
        }
    }
}

/// What the launcher hands the server in one message on the instance's stdin (crate
/// scf-sandbox, `network`): the descriptors, in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handoff {
    /// The instance's network namespace, for `pasta` (`network = "outbound"`).
    pub netns: bool,
    /// The custom runtime API's listener on the namespace's 127.0.0.1.
    pub listener: bool,
    /// The program waits for the server's go-ahead byte before `execve`: a custom runtime's
    /// `bootstrap` is the function's own code, which must find its outbound network up.
    pub wait_start: bool,
}

/// Finds `pasta` (`[sandbox] pasta`, else on PATH). Missing, the server does not start: an
/// instance without the network its function expects would fail in ways far from the cause.
fn find_pasta(configured: Option<&Path>) -> Result<PathBuf, String> {
    let found = match configured {
        Some(p) => p.is_file().then(|| p.to_path_buf()),
        None => std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|d| d.join("pasta"))
                .find(|p| p.is_file())
        }),
    };
    found.ok_or_else(|| {
        format!(
            "`[sandbox] network = \"outbound\"` (the default) gives instances outbound network \
             through pasta, which {}. Install it (Debian: `apt-get install passt`), name it with \
             `[sandbox] pasta = \"/path/to/pasta\"`, or set `network = \"none\"` in the \
             `[sandbox]` table for loopback-only instances.",
            match configured {
                Some(p) => format!("is not at {}", p.display()),
                None => "is not on PATH".to_string(),
            }
        )
    })
}

/// The launcher's `--probe` answer.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Probe {
    #[serde(default)]
    pub uid: u32,
    #[serde(default)]
    pub namespaces: std::collections::BTreeMap<String, bool>,
    pub cgroup_v1_memory: Option<PathBuf>,
    pub cgroup_v1_pids: Option<PathBuf>,
    pub cgroup_v1_freezer: Option<PathBuf>,
    pub cgroup_v2: Option<PathBuf>,
    #[serde(default)]
    pub seccomp: bool,
    #[serde(default)]
    pub no_new_privs: bool,
    #[serde(default)]
    pub cgroup_v2_memory: bool,
    #[serde(default)]
    pub errors: std::collections::BTreeMap<String, String>,
}

impl Probe {
    /// Why `mechanism` is unavailable, as the probe said.
    fn reason(&self, mechanism: &str) -> &str {
        self.errors
            .get(mechanism)
            .map_or("unavailable", String::as_str)
    }
}

/// The isolation in force.
#[derive(Debug, Clone)]
pub struct Sandbox {
    pub config: SandboxConfig,
    /// `None`: instances start directly (no launcher found, or disabled).
    pub launcher: Option<PathBuf>,
    pub probe: Probe,
    /// Parent of the instances' memory cgroups (v1), created by the server.
    pub memory_root: Option<PathBuf>,
    pub pids_root: Option<PathBuf>,
    /// Parent of the instances' freezer cgroups (v1): idle instances are frozen.
    pub freezer_root: Option<PathBuf>,
    /// The `pasta` that links instances to the outside (`network = "outbound"`).
    pub pasta: Option<PathBuf>,
    /// Those of [`SYSTEM_DIRS`] and [`ETC_FILES`] this host has, shown read-only in every
    /// instance at the same path (looked up once, not at every start).
    system_binds: Vec<PathBuf>,
}

/// Removes what a killed earlier run of this same server (same data dir) left under `mine`: the
/// instances' empty cgroups. A cgroup still holding processes refuses `rmdir` and stays (it is
/// frozen processes of the earlier run at worst, which the kernel keeps charging to it). Other
/// servers' cgroups (other `scfd-*` folders) are never touched: they may be alive.
fn remove_stale_cgroups(mine: &Path) {
    let Ok(entries) = std::fs::read_dir(mine) else {
        return;
    };
    for e in entries.flatten().filter(|e| e.path().is_dir()) {
        let state = e.path().join("freezer.state");
        if state.exists() {
            let _ = std::fs::write(&state, "THAWED");
        }
        let _ = std::fs::remove_dir(e.path());
    }
}

/// Without the launcher: `program args` started directly in `code_dir`, with exactly `env`
/// (`/dev/null` as stdin for a custom runtime).
fn direct_command(
    program: &Path,
    args: &[&str],
    code_dir: &Path,
    env: &[(String, String)],
    custom: bool,
) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(program);
    c.args(args)
        .current_dir(code_dir)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    if custom {
        c.stdin(std::process::Stdio::null());
    }
    c
}

/// The plan's cgroups, namespaces and, if `handoff` has one, the runtime API's listener.
fn plan_isolation(
    plan: &mut Vec<std::ffi::OsString>,
    cgroups: &[PathBuf],
    handoff: Option<Handoff>,
) {
    for cg in cgroups {
        plan_arg(plan, "--cgroup", cg.display().to_string());
    }
    plan_arg(plan, "--unshare", "pid,mount,ipc,uts,net".into());
    if handoff.is_some_and(|h| h.listener) {
        plan_arg(plan, "--listen", crate::RUNTIME_API_PORT.to_string());
    }
}

/// Adds the launcher option `option value` to `plan`.
fn plan_arg(plan: &mut Vec<std::ffi::OsString>, option: &str, value: String) {
    plan.push(option.into());
    plan.push(value.into());
}

fn has(probe: &Probe, ns: &str) -> bool {
    probe.namespaces.get(ns).copied().unwrap_or(false)
}

/// The name of this server's cgroup folders: one per data dir, so that two servers on one host
/// (each has its own data dir) never share or remove each other's.
fn cgroup_tag(data_dir: &Path) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    data_dir.hash(&mut h);
    format!("scfd-{:016x}", h.finish())
}

/// How to fix a sandbox that cannot start, said at the end of every such error.
const FIX: &str = "Fix that, or set `enabled = false` in the `[sandbox]` table of the config \
to run every function unsandboxed, as the server's user (only for code you trust).";

/// The launcher: `[sandbox] launcher`, else `scf-sandbox` next to the server's binary.
fn find_launcher(configured: Option<&Path>) -> Result<PathBuf, String> {
    let launcher = match configured {
        Some(l) => l.to_path_buf(),
        None => std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(|d| d.join("scf-sandbox")))
            .ok_or_else(|| format!("cannot locate the scfd binary's folder. {FIX}"))?,
    };
    if !launcher.is_file() {
        return Err(format!(
            "the sandbox launcher {} does not exist (it is built next to scfd by \
             `cargo build --release -p scfd --bins`; `[sandbox] launcher` names another). {FIX}",
            launcher.display()
        ));
    }
    Ok(launcher)
}

/// What `launcher --probe` (run with an empty environment) says this machine allows.
fn run_probe(launcher: &Path) -> Result<Probe, String> {
    let out = std::process::Command::new(launcher)
        .arg("--probe")
        .env_clear()
        .output()
        .map_err(|e| format!("cannot run {} --probe: {e}. {FIX}", launcher.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} --probe failed ({}): {}. {FIX}",
            launcher.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "{} --probe answered nonsense ({e}). {FIX}",
            launcher.display()
        )
    })
}

/// Refuses a machine where the sandbox cannot isolate instances as `uid`: not root, or any
/// namespace, cgroup hierarchy, seccomp or `no_new_privs` missing (all of them are named).
fn check_isolation(probe: &Probe, uid: u32) -> Result<(), String> {
    if probe.uid != 0 {
        return Err(format!(
            "the sandbox needs root: it runs each instance as uid {} in namespaces and \
             cgroups of its own, which uid {} cannot set up. Run scfd as root. {FIX}",
            uid, probe.uid
        ));
    }
    let missing: Vec<String> = ["pid", "mount", "ipc", "uts", "net"]
        .into_iter()
        .filter(|n| !has(probe, n))
        .map(|n| format!("{n} namespace: {}", probe.reason(n)))
        .chain(
            [
                ("cgroup_v1_memory", probe.cgroup_v1_memory.is_none()),
                ("cgroup_v1_pids", probe.cgroup_v1_pids.is_none()),
                ("cgroup_v1_freezer", probe.cgroup_v1_freezer.is_none()),
                ("seccomp", !probe.seccomp),
                ("no_new_privs", !probe.no_new_privs),
            ]
            .into_iter()
            .filter(|(_, missing)| *missing)
            .map(|(k, _)| format!("{k}: {}", probe.reason(k))),
        )
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "the sandbox cannot isolate instances on this machine: {}. {FIX}",
            missing.join("; ")
        ));
    }
    Ok(())
}

/// This server's parent cgroup (`tag`) under the hierarchy `base`, if the machine has it:
/// emptied of what a killed earlier run left, and created.
fn make_cgroup_root(base: &Option<PathBuf>, tag: &str) -> Result<Option<PathBuf>, String> {
    let Some(base) = base.as_ref() else {
        return Ok(None);
    };
    let dir = base.join(tag);
    remove_stale_cgroups(&dir);
    std::fs::create_dir_all(&dir)
        .map_err(|e| format!("cannot create the cgroup {}: {e}. {FIX}", dir.display()))?;
    Ok(Some(dir))
}

impl Sandbox {
    /// Finds the launcher, probes, prepares the cgroup parents, and logs what is active.
    /// Fails closed: with the sandbox enabled, anything it needs that is missing is an error
    /// (the server then refuses to start), never a silent downgrade.
    pub fn start(config: SandboxConfig, data_dir: &Path) -> Result<Sandbox, String> {
        if !config.enabled {
            return Ok(Self::disabled(config));
        }
        let launcher = find_launcher(config.launcher.as_deref())?;
        let probe = run_probe(&launcher)?;
        check_isolation(&probe, config.uid)?;
        let pasta = match config.network {
            Network::None => None,
            Network::Outbound => Some(find_pasta(config.pasta.as_deref())?),
        };
        let tag = cgroup_tag(data_dir);
        let memory_root = make_cgroup_root(&probe.cgroup_v1_memory, &tag)?;
        let pids_root = make_cgroup_root(&probe.cgroup_v1_pids, &tag)?;
        let freezer_root = make_cgroup_root(&probe.cgroup_v1_freezer, &tag)?;
        let sandbox = Sandbox {
            config,
            launcher: Some(launcher),
            probe,
            memory_root,
            pids_root,
            freezer_root,
            pasta,
            system_binds: SYSTEM_DIRS
                .iter()
                .chain(ETC_FILES)
                .map(PathBuf::from)
                .filter(|p| p.exists())
                .collect(),
        };
        sandbox.report();
        Ok(sandbox)
    }

    /// No sandbox (`[sandbox] enabled = false`), warned about.
    fn disabled(config: SandboxConfig) -> Sandbox {
        tracing::warn!(
            "sandbox disabled by the config ([sandbox] enabled = false): every function runs \
             as the server's user, unisolated, with no limits but the timeout"
        );
        Sandbox {
            config,
            launcher: None,
            probe: Probe::default(),
            memory_root: None,
            pids_root: None,
            freezer_root: None,
            pasta: None,
            system_binds: Vec::new(),
        }
    }

    fn report(&self) {
        let Some(l) = &self.launcher else { return };
        let ns: Vec<&str> = ["user", "pid", "mount", "ipc", "uts", "net"]
            .into_iter()
            .filter(|n| has(&self.probe, n))
            .collect();
        tracing::info!(
            launcher = %l.display(),
            namespaces = %ns.join(","),
            memory_cgroup = %self.memory_root.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "unavailable: MemUsage from VmHWM, no memory limit".into()),
            pids_cgroup = %self.pids_root.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "unavailable".into()),
            user = self.config.uid,
            network = %match &self.pasta {
                Some(p) => format!("own namespace, outbound through {}", p.display()),
                None => "own namespace, loopback only".into(),
            },
            "sandbox active"
        );
        for (mechanism, reason) in &self.probe.errors {
            tracing::warn!(mechanism = %mechanism, reason = %reason, "sandbox mechanism unavailable");
        }
    }

    /// The command that starts `program args` for one instance whose code is `code_dir`, with
    /// exactly the environment `env`, and the plan to write to its stdin first (`None`: none,
    /// without the launcher). `cgroups` are the instance's own cgroup directories (already
    /// created, limits written). `extra_ro` are `(source, target)` folders shown read-only (the
    /// runtime shims, an interpreter outside the system folders). `custom`: a custom runtime,
    /// which talks HTTP to its runtime API and gets `/dev/null` as stdin.
    ///
    /// The launcher itself starts with an empty environment and the single argument
    /// `--plan-stdin`: everything else, the function's environment included, travels in the
    /// plan and takes effect at its final `execve`.
    ///
    /// With the launcher, the instance has a network namespace of its own, and the launcher
    /// hands the server what [`Sandbox::handoff`] says over the instance's stdin.
    #[allow(clippy::too_many_arguments)]
    pub fn command(
        &self,
        program: &Path,
        args: &[&str],
        code_dir: &Path,
        extra_ro: &[(PathBuf, PathBuf)],
        cgroups: &[PathBuf],
        env: &[(String, String)],
        custom: bool,
    ) -> Result<(tokio::process::Command, Option<Vec<u8>>), String> {
        let Some(launcher) = &self.launcher else {
            return Ok((direct_command(program, args, code_dir, env, custom), None));
        };
        let handoff = self.handoff(custom);
        let mut plan: Vec<std::ffi::OsString> = Vec::with_capacity(64);
        plan_isolation(&mut plan, cgroups, handoff);
        self.plan_filesystem(&mut plan, code_dir, extra_ro);
        self.plan_process(&mut plan, env, custom, handoff);
        plan.push("--".into());
        plan.push(program.into());
        plan.extend(args.iter().map(Into::into));

        let mut c = tokio::process::Command::new(launcher);
        c.arg0("scf-sandbox")
            .arg("--plan-stdin")
            .env_clear()
            .current_dir("/");
        Ok((c, Some(encode_plan(&plan)?)))
    }

    /// The plan's filesystem: the system folders, the code and `extra_ro` read-only, and the
    /// private tmpfs folders.
    fn plan_filesystem(
        &self,
        plan: &mut Vec<std::ffi::OsString>,
        code_dir: &Path,
        extra_ro: &[(PathBuf, PathBuf)],
    ) {
        for path in &self.system_binds {
            plan_arg(plan, "--bind-ro", format!("{0}:{0}", path.display()));
        }
        plan_arg(
            plan,
            "--bind-ro",
            format!("{}:{USER_CODE_ROOT}", code_dir.display()),
        );
        for (src, dst) in extra_ro {
            plan_arg(
                plan,
                "--bind-ro",
                format!("{}:{}", src.display(), dst.display()),
            );
        }
        for (dir, size) in [
            ("/tmp", self.config.tmp_size.as_str()),
            ("/var/tmp", SMALL_TMPFS),
            ("/dev/shm", SMALL_TMPFS),
            ("/run/lock", "1m"),
        ] {
            plan_arg(plan, "--tmpfs", format!("{dir}:{size}"));
        }
    }

    /// The plan's process: rlimits, user, working folder, the function's environment, the
    /// final hardening flags, stdin, and what is handed back to the server.
    fn plan_process(
        &self,
        plan: &mut Vec<std::ffi::OsString>,
        env: &[(String, String)],
        custom: bool,
        handoff: Option<Handoff>,
    ) {
        plan_arg(
            plan,
            "--rlimit",
            format!("nofile={}", self.config.max_open_files),
        );
        if self.pids_root.is_none() {
            // RLIMIT_NPROC counts every process of the (shared) sandbox user, so it is only the
            // fallback when there is no per-instance pids cgroup.
            plan_arg(
                plan,
                "--rlimit",
                format!("nproc={}", self.config.max_processes),
            );
        }
        plan_arg(plan, "--rlimit", "core=0".into());
        plan_arg(plan, "--uid", self.config.uid.to_string());
        plan_arg(plan, "--gid", self.config.gid.to_string());
        plan_arg(plan, "--chdir", USER_CODE_ROOT.into());
        for (k, v) in env {
            plan_arg(plan, "--env", format!("{k}={v}"));
        }
        for flag in ["--new-root", "--no-new-privs", "--seccomp"] {
            plan.push(flag.into());
        }
        if custom {
            plan.push("--stdin-null".into());
        }
        if let Some(h) = handoff {
            if h.netns {
                plan.push("--hand-netns".into());
            }
            if h.wait_start {
                plan.push("--wait-start".into());
            }
        }
    }

    /// What the launcher hands back over the instance's stdin for an instance (`custom`: a
    /// custom runtime, whose API listens inside the namespace); `None`: nothing (no launcher,
    /// or loopback only without a runtime API).
    pub fn handoff(&self, custom: bool) -> Option<Handoff> {
        self.launcher.as_ref()?;
        let outbound = self.pasta.is_some();
        (outbound || custom).then_some(Handoff {
            netns: outbound,
            listener: custom,
            wait_start: custom && outbound,
        })
    }

    /// Where the function's code appears to the instance.
    pub fn code_root(&self, code_dir: &Path) -> PathBuf {
        if self.launcher.is_some() {
            PathBuf::from(USER_CODE_ROOT)
        } else {
            code_dir.to_path_buf()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::encode_plan;
    use std::ffi::OsString;

    #[test]
    fn a_nul_byte_cannot_smuggle_launcher_options_into_the_plan() {
        let plan =
            |args: &[&str]| encode_plan(&args.iter().map(OsString::from).collect::<Vec<_>>());
        let good = plan(&["--env", "A=1", "--", "/bin/true"]).expect("encodes");
        assert_eq!(&good[..4], &(good.len() as u32 - 4).to_le_bytes());
        assert_eq!(&good[4..], b"--env\0A=1\0--\0/bin/true");
        let err =
            plan(&["--env", "A=x\0--bind-ro\0/:/host", "--", "/bin/true"]).expect_err("refused");
        assert!(err.contains("NUL"), "{err}");
    }
}
