//! What isolation this machine allows, found once at start-up by `scf-sandbox --probe`, and the
//! launcher command line for one instance.
//!
//! The launcher (crate scf-sandbox, the only place with `unsafe`) is a tiny binary that the
//! server posix_spawns: forking the grown server for every instance would copy its page tables
//! (measured: 0.5 ms becomes 17 ms). It joins the instance's cgroups, unshares namespaces,
//! mounts the code read-only at `/var/user`, hides the data dir, caps `/tmp`, sets rlimits and
//! drops to an unprivileged user, then runs the runtime.

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Where a function's code appears inside the sandbox (SCF's `USER_CODE_ROOT`).
pub const USER_CODE_ROOT: &str = "/var/user";
/// Where the runtime shims appear inside the sandbox.
pub const RUNTIME_ROOT: &str = "/var/runtime";

/// Sandbox settings from the `[sandbox]` table of the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxConfig {
    /// Run instances through the launcher at all.
    pub enabled: bool,
    /// Give each instance its own network namespace (no network). SCF allows network, so off.
    pub isolate_network: bool,
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
            isolate_network: false,
            uid: 65534,
            gid: 65534,
            tmp_size: "512m".into(),
            max_processes: 1024,
            max_open_files: 1024,
            launcher: None,
        }
    }
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
    pub cgroup_v2: Option<PathBuf>,
    #[serde(default)]
    pub cgroup_v2_memory: bool,
    #[serde(default)]
    pub errors: std::collections::BTreeMap<String, String>,
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
}

/// Removes the empty cgroups an earlier scfd left under `base` (a killed server cannot clean
/// up). A cgroup still holding processes refuses `rmdir` and stays.
fn remove_stale_cgroups(base: &Path, ours: &str) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with("scfd-") || name == ours {
            continue;
        }
        if let Ok(children) = std::fs::read_dir(e.path()) {
            for c in children.flatten().filter(|c| c.path().is_dir()) {
                let _ = std::fs::remove_dir(c.path());
            }
        }
        let _ = std::fs::remove_dir(e.path());
    }
}

fn has(probe: &Probe, ns: &str) -> bool {
    probe.namespaces.get(ns).copied().unwrap_or(false)
}

impl Sandbox {
    /// Finds the launcher, probes, prepares the cgroup parents, and logs what is active.
    pub fn start(config: SandboxConfig) -> Sandbox {
        let launcher = config.launcher.clone().or_else(|| {
            let exe = std::env::current_exe().ok()?;
            let p = exe.parent()?.join("scf-sandbox");
            p.exists().then_some(p)
        });
        let (launcher, probe) = match (config.enabled, launcher) {
            (false, _) => {
                tracing::warn!(
                    "sandbox disabled by the config: instances run as the server's user with no limits but the timeout"
                );
                (None, Probe::default())
            }
            (true, None) => {
                tracing::warn!(
                    "sandbox launcher scf-sandbox not found next to scfd: instances run unsandboxed"
                );
                (None, Probe::default())
            }
            (true, Some(l)) => match std::process::Command::new(&l)
                .arg("--probe")
                .env_clear()
                .output()
            {
                Ok(out) if out.status.success() => {
                    match serde_json::from_slice::<Probe>(&out.stdout) {
                        Ok(p) => (Some(l), p),
                        Err(e) => {
                            tracing::warn!(error = %e, "scf-sandbox --probe answered nonsense: instances run unsandboxed");
                            (None, Probe::default())
                        }
                    }
                }
                other => {
                    tracing::warn!(outcome = ?other.map(|o| o.status), "scf-sandbox --probe failed: instances run unsandboxed");
                    (None, Probe::default())
                }
            },
        };
        let tag = format!("scfd-{}", std::process::id());
        let make_root = |base: &Option<PathBuf>| -> Option<PathBuf> {
            let base = base.as_ref()?;
            remove_stale_cgroups(base, &tag);
            let dir = base.join(&tag);
            match std::fs::create_dir_all(&dir) {
                Ok(()) => Some(dir),
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "cannot create a cgroup");
                    None
                }
            }
        };
        // The code and the runtime shims are mounted at SCF's paths; their mount points must
        // exist on the host (the launcher only creates mount points inside its own tmpfs).
        let mut launcher = launcher;
        if launcher.is_some() && has(&probe, "mount") {
            for dir in [USER_CODE_ROOT, RUNTIME_ROOT] {
                if let Err(e) = std::fs::create_dir_all(dir) {
                    tracing::warn!(dir, error = %e, "cannot create a mount point: instances run unsandboxed");
                    launcher = None;
                }
            }
        }
        let memory_root = if launcher.is_some() {
            make_root(&probe.cgroup_v1_memory)
        } else {
            None
        };
        let pids_root = if launcher.is_some() {
            make_root(&probe.cgroup_v1_pids)
        } else {
            None
        };
        let sandbox = Sandbox {
            config,
            launcher,
            probe,
            memory_root,
            pids_root,
        };
        sandbox.report();
        sandbox
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
            network = if self.config.isolate_network && has(&self.probe, "net") { "isolated" } else { "allowed" },
            "sandbox active"
        );
        for (mechanism, reason) in &self.probe.errors {
            tracing::warn!(mechanism = %mechanism, reason = %reason, "sandbox mechanism unavailable");
        }
    }

    /// The command that starts `program args` for one instance whose code is `code_dir`.
    /// `cgroups` are the instance's own cgroup directories (already created, limits written).
    /// `extra_ro` are `(source, target)` folders shown read-only (the runtime shims, an
    /// interpreter under a hidden folder).
    pub fn command(
        &self,
        program: &Path,
        args: &[&str],
        code_dir: &Path,
        hide: &[PathBuf],
        extra_ro: &[(PathBuf, PathBuf)],
        cgroups: &[PathBuf],
    ) -> tokio::process::Command {
        let Some(launcher) = &self.launcher else {
            let mut c = tokio::process::Command::new(program);
            c.args(args).current_dir(code_dir);
            return c;
        };
        let mut c = tokio::process::Command::new(launcher);
        for cg in cgroups {
            c.arg("--cgroup").arg(cg);
        }
        let mut ns: Vec<&str> = ["pid", "mount", "ipc", "uts"]
            .into_iter()
            .filter(|n| has(&self.probe, n))
            .collect();
        if self.config.isolate_network && has(&self.probe, "net") {
            ns.push("net");
        }
        let mounts = ns.contains(&"mount");
        if !ns.is_empty() {
            c.arg("--unshare").arg(ns.join(","));
        }
        let code_root = if mounts {
            // The private /tmp covers whatever the host has under /tmp already.
            for h in hide.iter().filter(|h| !h.starts_with("/tmp")) {
                c.arg("--hide").arg(h);
            }
            c.arg("--bind-ro")
                .arg(format!("{}:/var/user", code_dir.display()));
            for (src, dst) in extra_ro {
                c.arg("--bind-ro")
                    .arg(format!("{}:{}", src.display(), dst.display()));
            }
            c.arg("--tmpfs")
                .arg(format!("/tmp:{}", self.config.tmp_size));
            PathBuf::from(USER_CODE_ROOT)
        } else {
            code_dir.to_path_buf()
        };
        c.arg("--rlimit")
            .arg(format!("nofile={}", self.config.max_open_files));
        if self.pids_root.is_none() {
            // RLIMIT_NPROC counts every process of the (shared) sandbox user, so it is only the
            // fallback when there is no per-instance pids cgroup.
            c.arg("--rlimit")
                .arg(format!("nproc={}", self.config.max_processes));
        }
        c.arg("--rlimit").arg("core=0");
        c.arg("--uid")
            .arg(self.config.uid.to_string())
            .arg("--gid")
            .arg(self.config.gid.to_string());
        c.arg("--no-new-privs");
        c.arg("--chdir").arg(&code_root);
        c.arg("--").arg(program).args(args);
        c
    }

    /// Where the function's code appears to the instance.
    pub fn code_root(&self, code_dir: &Path) -> PathBuf {
        if self.launcher.is_some() && has(&self.probe, "mount") {
            PathBuf::from(USER_CODE_ROOT)
        } else {
            code_dir.to_path_buf()
        }
    }
}
