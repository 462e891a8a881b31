//! `scf-sandbox`: the launcher scfd posix_spawns for every function instance.
//!
//! This crate is the library; the binary is `crates/scfd/src/bin/scf-sandbox.rs`, and its
//! integration tests are `crates/scfd/tests/sandbox.rs` (they run that binary).
//!
//! ```text
//! scf-sandbox [OPTIONS] -- PROGRAM [ARGS...]
//! scf-sandbox --plan-stdin          (the same arguments, length-prefixed on stdin)
//! scf-sandbox --probe
//! ```
//!
//! The server uses `--plan-stdin` and starts the launcher with an empty environment: the
//! launcher runs as root until its last step, so nothing a tenant controls (its environment
//! variables, which could name `LD_PRELOAD`) may reach it before then; the function's
//! environment is applied only by the final `execve`, after the user, the mounts, the
//! rlimits, `no_new_privs` and the seccomp filter are in place. And a plan read from stdin
//! does not show in `/proc/1/cmdline` inside the sandbox.
//!
//! A separate tiny binary because spawning it is cheap (posix_spawn of a small
//! image) where forking the large server to run setup code in `pre_exec` is
//! not (0.5 ms vs 16.9 ms for a 300 MiB server, measured on this machine), and
//! because it fences all of scfd's `unsafe` code into one crate.
//!
//! # Layout
//! - `cli`          the fixed command line, parsed by hand into a `Plan`
//! - `launch`       the sequence: session, cgroups, namespaces, fork/supervise, exec
//! - `namespaces`   `unshare` (+ user namespace and id maps when not root)
//! - `mounts`       `--hide`, `--tmpfs`, `--bind-ro`, fresh `/proc`
//! - `network`      a new network namespace: `lo` up, `--listen`/`--hand-netns` handed over, `--wait-start`
//! - `seccomp`      the syscall filter installed right before `execve`
//! - `probe`        `--probe`: what works here, as JSON
//! - `cgroups`      finding our own cgroup directories (for the probe)
//! - `failure`      exit codes 125/126/127 and stderr messages
//! - `unsafe_calls` the only `unsafe`: `fork`, `_exit`, SIGPIPE back to default, no-op handlers, `lo` up
//!
//! Never writes to stdout except the `--probe` report: stdout belongs to the
//! instance. Exit codes: PROGRAM's own (or 128 + signal with a PID
//! namespace), 125 setup failed, 126 cannot execute, 127 not found.

mod cgroups;
mod cli;
mod failure;
mod launch;
mod mounts;
mod namespaces;
mod network;
mod probe;
mod seccomp;
mod unsafe_calls;

use failure::SETUP_FAILED;
use std::os::fd::AsFd;

/// Runs the launcher with the process's arguments and returns its exit code. The `scf-sandbox`
/// binary is built by the scfd package (`crates/scfd/src/bin/scf-sandbox.rs`), so that
/// `cargo build -p scfd` always ships the launcher next to the server.
pub fn run() -> i32 {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let args = if args.len() == 1 && args[0] == "--plan-stdin" {
        // Unbuffered on purpose: not one byte past the plan may be taken from stdin.
        let mut stdin = std::fs::File::from(match std::io::stdin().as_fd().try_clone_to_owned() {
            Ok(fd) => fd,
            Err(e) => {
                eprintln!("scf-sandbox: --plan-stdin: {e}");
                return SETUP_FAILED;
            }
        });
        match cli::read_plan(&mut stdin) {
            Ok(args) => args,
            Err(e) => {
                eprintln!("scf-sandbox: {e}");
                return SETUP_FAILED;
            }
        }
    } else {
        args
    };
    match cli::parse(args) {
        Err(e) => {
            eprintln!("scf-sandbox: {e}\n{}", cli::USAGE);
            SETUP_FAILED
        }
        Ok(cli::Command::Probe) => probe::run(),
        Ok(cli::Command::Launch(plan)) => launch::launch(&plan).report(),
    }
}
