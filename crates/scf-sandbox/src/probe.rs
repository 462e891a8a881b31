//! `scf-sandbox --probe`: try every mechanism in a throwaway child and print
//! one JSON object on stdout for the server to log and act on.
//!
//! Each namespace is tried the way `--unshare` would use it (so without root
//! the user namespace is added), in a forked child that exits afterwards; a
//! failure's reason comes back over a pipe. Cgroup directories are reported
//! only if a child cgroup can actually be created (mkdir + rmdir) in them.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::mount::{MsFlags, mount};
use nix::sys::prctl;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, geteuid, getpid, pipe2, sethostname};

use crate::cgroups;
use crate::cli::Namespaces;
use crate::namespaces;
use crate::unsafe_calls::{exit_now, fork};

const NAMESPACES: [&str; 6] = ["user", "pid", "mount", "ipc", "uts", "net"];

/// Runs the probe and prints the JSON report.
pub fn run() -> i32 {
    let mut report = Report::new();
    for (i, name) in NAMESPACES.iter().enumerate() {
        report.outcome(name, in_child(|| try_namespace(name)), i == 0);
    }
    report.json.push('}');
    let v2_dir = report.cgroups();
    report.outcome("seccomp", in_child(seccomp_works), false);
    let _ = write!(
        report.json,
        ",\"cgroup_v2_memory\":{}",
        v2_dir.is_some_and(|d| has_controller(&d, "memory"))
    );
    report.outcome("no_new_privs", in_child(no_new_privs_works), false);
    print(&report.finish())
}

/// The report as it is written: the JSON object so far, and the reason of each mechanism
/// that failed (listed under `errors` at its end, in the order they were tried).
struct Report {
    json: String,
    errors: Vec<(String, String)>,
}

impl Report {
    /// Opens the object with the uid and the `namespaces` object.
    fn new() -> Report {
        let mut json = String::new();
        let _ = write!(json, "{{\"uid\":{},\"namespaces\":{{", geteuid());
        Report {
            json,
            errors: Vec::new(),
        }
    }

    /// Writes `"key":<whether it works>` (after a comma unless `first`) and keeps why not.
    fn outcome(&mut self, key: &str, outcome: Result<(), String>, first: bool) {
        if let Err(reason) = &outcome {
            self.errors.push((key.to_string(), reason.clone()));
        }
        let comma = if first { "" } else { "," };
        let _ = write!(self.json, "{comma}\"{key}\":{}", outcome.is_ok());
    }

    /// Writes our own cgroup directories (`null` for each that is missing or where no child
    /// cgroup can be made); returns the v2 one, if any.
    fn cgroups(&mut self) -> Option<PathBuf> {
        let own = cgroups::discover();
        let v2_dir = own.v2.clone();
        self.cgroup(
            "cgroup_v1_memory",
            own.v1_memory,
            "no cgroup v1 memory hierarchy is mounted",
        );
        self.cgroup(
            "cgroup_v1_pids",
            own.v1_pids,
            "no cgroup v1 pids hierarchy is mounted",
        );
        self.cgroup(
            "cgroup_v1_freezer",
            own.v1_freezer,
            "no cgroup v1 freezer hierarchy is mounted",
        );
        self.cgroup("cgroup_v2", own.v2, "no cgroup v2 hierarchy is mounted");
        v2_dir
    }

    fn cgroup(&mut self, key: &str, dir: Option<PathBuf>, missing: &str) {
        let usable = match dir {
            None => Err(missing.to_string()),
            Some(dir) => writable(&dir).map(|()| dir),
        };
        let value = match usable {
            Ok(dir) => quote(&dir.to_string_lossy()),
            Err(reason) => {
                self.errors.push((key.to_string(), reason));
                "null".to_string()
            }
        };
        let _ = write!(self.json, ",\"{key}\":{value}");
    }

    /// Closes the object with the `errors` object.
    fn finish(mut self) -> String {
        self.json.push_str(",\"errors\":{");
        for (i, (key, reason)) in self.errors.iter().enumerate() {
            let comma = if i == 0 { "" } else { "," };
            let _ = write!(self.json, "{comma}{}:{}", quote(key), quote(reason));
        }
        self.json.push_str("}}\n");
        self.json
    }
}

/// Whether a seccomp filter can be installed (after `no_new_privs`, as an instance does) and
/// is in force: a denied call fails, an allowed one still works.
fn seccomp_works() -> Result<(), String> {
    prctl::set_no_new_privs().map_err(|e| format!("prctl(PR_SET_NO_NEW_PRIVS): {e}"))?;
    crate::seccomp::install()?;
    match nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUTS) {
        Err(nix::errno::Errno::EPERM) => Ok(()),
        other => Err(format!(
            "unshare under the filter gave {other:?}, not EPERM"
        )),
    }
}

/// Whether `no_new_privs` can be set, and then reads back as set.
fn no_new_privs_works() -> Result<(), String> {
    prctl::set_no_new_privs().map_err(|e| format!("prctl(PR_SET_NO_NEW_PRIVS): {e}"))?;
    match prctl::get_no_new_privs() {
        Ok(true) => Ok(()),
        Ok(false) => Err("PR_GET_NO_NEW_PRIVS still reads 0".to_string()),
        Err(e) => Err(format!("prctl(PR_GET_NO_NEW_PRIVS): {e}")),
    }
}

/// Writes the report on stdout: the exit code.
fn print(json: &str) -> i32 {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(json.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("scf-sandbox: write probe report: {e}");
            crate::failure::SETUP_FAILED
        }
    }
}

/// Unshares one namespace (plus a user namespace when not root) and checks
/// it is usable.
fn try_namespace(name: &str) -> Result<(), String> {
    let mut ns = Namespaces::default();
    match name {
        "user" => ns.user = true,
        "pid" => ns.pid = true,
        "mount" => ns.mount = true,
        "ipc" => ns.ipc = true,
        "uts" => ns.uts = true,
        _ => ns.net = true,
    }
    namespaces::enter(ns).map_err(|f| f.message)?;
    match name {
        "user" if !geteuid().is_root() => Err(format!("uid is {} after mapping, not 0", geteuid())),
        // Only children join a new PID namespace; the first one is PID 1.
        "pid" => in_child(|| match getpid().as_raw() {
            1 => Ok(()),
            pid => Err(format!("first child has pid {pid}, not 1")),
        }),
        "mount" => {
            let private = MsFlags::MS_REC | MsFlags::MS_PRIVATE;
            mount(None::<&str>, "/", None::<&str>, private, None::<&str>)
                .map_err(|e| format!("make / private: {e}"))?;
            mount(
                Some("scf-probe"),
                "/tmp",
                Some("tmpfs"),
                MsFlags::empty(),
                Some("size=4k"),
            )
            .map_err(|e| format!("mount tmpfs: {e}"))
        }
        "uts" => sethostname("scf-probe").map_err(|e| format!("sethostname: {e}")),
        // As an instance uses it: its own loopback, up, with a listener on it.
        _ => {
            crate::unsafe_calls::loopback_up().map_err(|e| format!("bring up lo: {e}"))?;
            std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
                .map(drop)
                .map_err(|e| format!("listen on 127.0.0.1 in the new namespace: {e}"))
        }
    }
}

/// Runs `f` in a forked child and reports its outcome; the child's error
/// message travels back through a pipe.
fn in_child(f: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    let (read_end, write_end): (OwnedFd, OwnedFd) =
        pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
    match fork().map_err(|e| format!("fork: {e}"))? {
        ForkResult::Child => {
            drop(read_end);
            let code = match f() {
                Ok(()) => 0,
                Err(message) => {
                    let _ = std::fs::File::from(write_end).write_all(message.as_bytes());
                    1
                }
            };
            exit_now(code)
        }
        ForkResult::Parent { child } => {
            drop(write_end);
            let mut message = String::new();
            let _ = std::fs::File::from(read_end).read_to_string(&mut message);
            match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, 0)) => Ok(()),
                Ok(WaitStatus::Exited(_, code)) if message.is_empty() => {
                    Err(format!("probe child exited with {code}"))
                }
                Ok(WaitStatus::Exited(..)) => Err(message),
                Ok(WaitStatus::Signaled(_, sig, _)) => Err(format!("probe child killed by {sig}")),
                Ok(other) => Err(format!("probe child: {other:?}")),
                Err(e) => Err(format!("waitpid: {e}")),
            }
        }
    }
}

/// Whether the server could create child cgroups in `dir`.
fn writable(dir: &Path) -> Result<(), String> {
    let probe = dir.join(format!("scf-probe-{}", getpid()));
    std::fs::create_dir(&probe).map_err(|e| format!("mkdir {}: {e}", probe.display()))?;
    std::fs::remove_dir(&probe).map_err(|e| format!("rmdir {}: {e}", probe.display()))
}

fn has_controller(dir: &Path, name: &str) -> bool {
    std::fs::read_to_string(dir.join("cgroup.controllers"))
        .is_ok_and(|list| list.split_whitespace().any(|c| c == name))
}

/// A JSON string literal.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn quotes_json_strings() {
        assert_eq!(quote("a\"b\\c\nd\u{1}é"), "\"a\\\"b\\\\c\\nd\\u0001é\"");
    }
}
