//! The launch sequence: session, cgroups, namespaces, then either exec in
//! place or (with a PID namespace) fork a child that becomes PID 1 while the
//! launcher waits outside and mirrors its exit status. PID 1 is a mini-init:
//! it forks once more and PROGRAM runs as PID 2, because the kernel shields
//! PID 1 from every signal it has no handler for; a runtime as PID 1 would
//! survive its own `kill(getpid(), SIGSEGV)` where it dies on SCF.
//!
//! Steps, in order (each failure exits 125 with a message on stderr):
//! 1. `setsid()` so the server can kill everything with `kill(-pgid)`;
//!    `PR_SET_PDEATHSIG(SIGKILL)` so we die with the server.
//! 2. Join every `--cgroup` (before forking: children inherit it, and the
//!    migration cost is paid once).
//! 3. `unshare` all namespaces in one call (+ user namespace when not root); in a new network
//!    namespace, `lo` up and the hand-over to the server (`network`).
//! 4. With `pid`: block SIGTERM/SIGINT/SIGCHLD, fork, the parent supervises.
//! 5. In the process that will exec: mounts, rlimits, credentials, chdir,
//!    `--wait-start`'s go-ahead, no_new_privs, PDEATHSIG again (a uid/gid change clears it),
//!    SIGPIPE back to default (Rust's runtime ignores it), exec.

use std::convert::Infallible;
use std::ffi::CString;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;
use nix::fcntl::{OFlag, open, openat};
use nix::sys::prctl;
use nix::sys::resource::{RLIM_INFINITY, Resource, setrlimit};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::stat::Mode;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{
    ForkResult, Gid, Pid, Uid, chdir, dup2_stdin, dup2_stdout, execv, execve, execvp, execvpe,
    getcwd, getpgrp, getpid, getppid, setgid, setgroups, setsid, setuid,
};

use crate::cli::{Limit, Plan, RlimitName};
use crate::failure::{CANNOT_EXECUTE, Context, Failure, NOT_FOUND, SETUP_FAILED};
use crate::mounts;
use crate::namespaces::{self, Entered};
use crate::network;
use crate::unsafe_calls::{exit_now, fork, install_noop_handler, restore_default_sigpipe};

/// Runs the plan. Returns only on failure; on success the process has become
/// PROGRAM or exits with its status.
pub fn launch(plan: &Plan) -> Failure {
    match prepare_and_run(plan) {
        Ok(never) => match never {},
        Err(failure) => failure,
    }
}

fn prepare_and_run(plan: &Plan) -> Result<Infallible, Failure> {
    new_session()?;
    let server = getppid();
    prctl::set_pdeathsig(Signal::SIGKILL).context(|| "prctl(PR_SET_PDEATHSIG)")?;
    if getppid() != server {
        return Err(Failure::setup(
            "the server exited before the sandbox was set up",
        ));
    }

    for dir in &plan.cgroups {
        let procs = dir.join("cgroup.procs");
        std::fs::write(&procs, getpid().to_string()).context(|| {
            format!(
                "--cgroup {}: join (write {})",
                dir.display(),
                procs.display()
            )
        })?;
    }

    let entered = namespaces::enter(plan.namespaces)?;
    if plan.namespaces.net {
        network::prepare(plan)?;
    }

    if !plan.namespaces.pid {
        become_program(plan, entered, true)?;
    }

    // A handle on the host's /proc, taken before the child mounts its own
    // over it: the supervisor reads the child's signal dispositions there.
    let host_proc = open(
        "/proc",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .context(|| "open /proc")?;

    let mut watched = SigSet::empty();
    for sig in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGCHLD] {
        watched.add(sig);
    }
    let mut original_mask = SigSet::empty();
    // Blocked before the fork, so a signal or the child's exit arriving at any
    // moment stays pending until `sigwait` picks it up.
    sigprocmask(
        SigmaskHow::SIG_BLOCK,
        Some(&watched),
        Some(&mut original_mask),
    )
    .context(|| "sigprocmask")?;

    match fork().context(|| "fork")? {
        ForkResult::Child => {
            let failure = child(plan, entered, &original_mask);
            exit_now(failure.report())
        }
        ForkResult::Parent { child } => {
            drop_stdio();
            let code = supervise(child, &watched, &host_proc);
            std::process::exit(code)
        }
    }
}

/// `setsid()`, accepting that a process group leader (the server may have
/// spawned us with POSIX_SPAWN_SETPGROUP) already has what we need.
fn new_session() -> Result<(), Failure> {
    match setsid() {
        Ok(_) => Ok(()),
        Err(Errno::EPERM) if getpgrp() == getpid() => Ok(()),
        Err(e) => Err(Failure::setup(format!("setsid: {e}"))),
    }
}

/// The forked child: PID 1 of the new namespace, a mini-init. It makes the
/// mounts (its fresh `/proc` belongs to the new PID namespace), forks PROGRAM
/// as PID 2, passes SIGTERM/SIGINT on to it, reaps every orphan, and exits
/// with PROGRAM's status (which takes the rest of the namespace down with it).
fn child(plan: &Plan, entered: Entered, original_mask: &SigSet) -> Failure {
    // Dies with the launcher (a fork clears the inherited setting).
    if let Err(e) = prctl::set_pdeathsig(Signal::SIGKILL) {
        return Failure::setup(format!("prctl(PR_SET_PDEATHSIG): {e}"));
    }
    if plan.namespaces.mount
        && let Err(failure) = mounts::apply(plan, true)
    {
        return failure;
    }
    let waited = [Signal::SIGTERM, Signal::SIGINT, Signal::SIGCHLD];
    for sig in waited {
        if let Err(e) = install_noop_handler(sig) {
            return Failure::setup(format!("sigaction({sig}): {e}"));
        }
    }
    let program = match fork() {
        Ok(ForkResult::Child) => {
            // PID 2: PROGRAM. exec resets the handlers; the mask must be undone here.
            if let Err(e) = prctl::set_pdeathsig(Signal::SIGKILL) {
                exit_now(Failure::setup(format!("prctl(PR_SET_PDEATHSIG): {e}")).report());
            }
            if let Err(e) = sigprocmask(SigmaskHow::SIG_SETMASK, Some(original_mask), None) {
                exit_now(Failure::setup(format!("sigprocmask: {e}")).report());
            }
            let failure = match become_program(plan, entered, false) {
                Ok(never) => match never {},
                Err(failure) => failure,
            };
            exit_now(failure.report())
        }
        Ok(ForkResult::Parent { child }) => child,
        Err(e) => return Failure::setup(format!("fork: {e}")),
    };
    drop_stdio();
    let mut watched = SigSet::empty();
    for sig in waited {
        watched.add(sig);
    }
    exit_now(init(program, &watched))
}

/// The mini-init's loop: returns PROGRAM's exit code (128 + signal when a
/// signal ended it).
fn init(program: Pid, watched: &SigSet) -> i32 {
    loop {
        let sig = match watched.wait() {
            Ok(sig) => sig,
            Err(e) => {
                eprintln!("scf-sandbox: init sigwait: {e}");
                return SETUP_FAILED;
            }
        };
        if sig != Signal::SIGCHLD {
            let _ = kill(program, sig);
            continue;
        }
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) if pid == program => return code,
                Ok(WaitStatus::Signaled(pid, sig, _)) if pid == program => return 128 + sig as i32,
                Ok(WaitStatus::StillAlive) => break,
                Ok(_) => continue,
                Err(Errno::EINTR) => continue,
                Err(Errno::ECHILD) => break,
                Err(e) => {
                    eprintln!("scf-sandbox: init waitpid: {e}");
                    return SETUP_FAILED;
                }
            }
        }
    }
}

/// The supervisor keeps no copy of the instance's stdin/stdout: the server
/// then sees EOF as soon as the instance closes them or dies. stderr stays
/// for our own diagnostics.
fn drop_stdio() {
    if let Ok(null) = open("/dev/null", OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty()) {
        let _ = dup2_stdin(&null);
        let _ = dup2_stdout(&null);
    }
}

/// Waits for the child, forwarding SIGTERM/SIGINT, and returns the exit code
/// the launcher should end with.
fn supervise(child: Pid, watched: &SigSet, host_proc: &OwnedFd) -> i32 {
    // Set when a signal was turned into SIGKILL (see `forward`): report the
    // original signal, as if its default action had run.
    let mut emulated: Option<Signal> = None;
    loop {
        let sig = match watched.wait() {
            Ok(sig) => sig,
            Err(e) => {
                eprintln!("scf-sandbox: sigwait: {e}");
                let _ = kill(child, Signal::SIGKILL);
                return SETUP_FAILED;
            }
        };
        if sig != Signal::SIGCHLD {
            if let Some(sent) = forward(child, sig, host_proc) {
                emulated = Some(sent);
            }
            continue;
        }
        loop {
            match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(_, code)) => return code,
                Ok(WaitStatus::Signaled(_, Signal::SIGKILL, _)) if emulated.is_some() => {
                    return 128 + emulated.map_or(Signal::SIGKILL as i32, |s| s as i32);
                }
                Ok(WaitStatus::Signaled(_, sig, _)) => return 128 + sig as i32,
                Ok(WaitStatus::StillAlive) => break,
                Ok(_) => continue,
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    eprintln!("scf-sandbox: waitpid: {e}");
                    return SETUP_FAILED;
                }
            }
        }
    }
}

/// Passes `sig` on to the child. PID 1 of a namespace is special: the kernel
/// drops any signal whose action there is "default" (even from outside, only
/// SIGKILL/SIGSTOP get through), so a runtime without a SIGTERM handler would
/// ignore the forwarded SIGTERM and never stop. When the child neither
/// catches nor ignores `sig`, its default action (terminate) is carried out
/// with SIGKILL instead, and `Some(sig)` is returned so the exit status can
/// still say `128 + sig`.
fn forward(child: Pid, sig: Signal, host_proc: &OwnedFd) -> Option<Signal> {
    let (caught, ignored) = dispositions(child, host_proc).unwrap_or((0, 0));
    let bit = 1u64 << (sig as u32 - 1);
    if caught & bit != 0 || ignored & bit != 0 {
        let _ = kill(child, sig);
        None
    } else {
        let _ = kill(child, Signal::SIGKILL);
        Some(sig)
    }
}

/// `SigCgt` and `SigIgn` masks from `/proc/PID/status`.
fn dispositions(pid: Pid, host_proc: &OwnedFd) -> Option<(u64, u64)> {
    let fd = openat(
        host_proc.as_fd(),
        format!("{pid}/status").as_str(),
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let mut status = String::new();
    File::from(fd).read_to_string(&mut status).ok()?;
    let mask = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
    };
    Some((mask("SigCgt:")?, mask("SigIgn:")?))
}

/// Everything between the namespaces and `execve`, in the process that will
/// become PROGRAM. `do_mounts`: false when the mini-init has made them already.
fn become_program(plan: &Plan, entered: Entered, do_mounts: bool) -> Result<Infallible, Failure> {
    if do_mounts && plan.namespaces.mount {
        mounts::apply(plan, false)?;
    }

    // Before setuid: raising a hard limit needs privilege, and RLIMIT_NPROC is
    // checked against the uid at fork time, so it must be in place for the
    // new uid's first fork.
    for limit in &plan.rlimits {
        let value = |l: Limit| match l {
            Limit::Value(v) => v,
            Limit::Unlimited => RLIM_INFINITY,
        };
        setrlimit(resource(limit.name), value(limit.soft), value(limit.hard))
            .context(|| format!("setrlimit({:?})", limit.name))?;
    }

    if plan.uid.is_some() || plan.gid.is_some() {
        // In a user namespace we created, setgroups is denied (that is what
        // made the gid map writable) and the supplementary groups of the
        // caller are unmapped anyway.
        if !entered.own_user_ns {
            setgroups(&[]).context(|| "setgroups([])")?;
        }
        let unmapped = if entered.own_user_ns {
            " (inside the launcher's user namespace only id 0 is mapped)"
        } else {
            ""
        };
        if let Some(gid) = plan.gid {
            setgid(Gid::from_raw(gid)).context(|| format!("setgid({gid}){unmapped}"))?;
        }
        if let Some(uid) = plan.uid {
            setuid(Uid::from_raw(uid)).context(|| format!("setuid({uid}){unmapped}"))?;
        }
    }

    if let Some(dir) = &plan.chdir {
        chdir(dir).context(|| format!("--chdir {}", dir.display()))?;
    } else if plan.namespaces.mount {
        // The inherited working directory still points into the old mount
        // tree (possibly below a hidden dir). Look its path up again in the
        // new tree, falling back to `/` if it is no longer reachable.
        let reopened = getcwd().ok().is_some_and(|cwd| chdir(&cwd).is_ok());
        if !reopened {
            chdir("/").context(|| "chdir /")?;
        }
    }

    if plan.wait_start {
        network::wait_for_start()?;
    }
    if plan.stdin_null {
        let null = open("/dev/null", OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty())
            .context(|| "open /dev/null")?;
        dup2_stdin(&null).context(|| "dup2(/dev/null, 0)")?;
    }

    // A seccomp filter needs no_new_privs once the process is unprivileged.
    if plan.no_new_privs || plan.seccomp {
        prctl::set_no_new_privs().context(|| "prctl(PR_SET_NO_NEW_PRIVS)")?;
    }
    // A change of euid/egid clears the parent-death signal; set it again.
    prctl::set_pdeathsig(Signal::SIGKILL).context(|| "prctl(PR_SET_PDEATHSIG)")?;
    restore_default_sigpipe().context(|| "reset SIGPIPE")?;
    // Last: from here on the filter applies to every call, exec included.
    if plan.seccomp {
        crate::seccomp::install().map_err(Failure::setup)?;
    }

    Err(exec(plan))
}

fn resource(name: RlimitName) -> Resource {
    match name {
        RlimitName::Nofile => Resource::RLIMIT_NOFILE,
        RlimitName::Nproc => Resource::RLIMIT_NPROC,
        RlimitName::As => Resource::RLIMIT_AS,
        RlimitName::Cpu => Resource::RLIMIT_CPU,
        RlimitName::Fsize => Resource::RLIMIT_FSIZE,
        RlimitName::Core => Resource::RLIMIT_CORE,
    }
}

/// `execv`, or `execvp` when PROGRAM has no `/`; with `--env`, `execve`/`execvpe` with exactly
/// that environment, which so takes effect only now.
fn exec(plan: &Plan) -> Failure {
    let argv: Result<Vec<CString>, _> = plan
        .program
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect();
    let Ok(argv) = argv else {
        return Failure::setup("PROGRAM or an argument contains a NUL byte");
    };
    let program = &argv[0];
    let env: Option<Result<Vec<CString>, _>> = plan
        .env
        .as_ref()
        .map(|env| env.iter().map(|e| CString::new(e.as_bytes())).collect());
    let result = match (env, program.as_bytes().contains(&b'/')) {
        (Some(Err(_)), _) => {
            return Failure::setup("an --env value contains a NUL byte");
        }
        (Some(Ok(env)), true) => execve(program, &argv, &env),
        (Some(Ok(env)), false) => execvpe(program, &argv, &env),
        (None, true) => execv(program, &argv),
        (None, false) => execvp(program, &argv),
    };
    let Err(errno) = result;
    let shown = plan.program[0].to_string_lossy();
    match errno {
        Errno::ENOENT | Errno::ENOTDIR => Failure {
            code: NOT_FOUND,
            message: format!("{shown}: not found ({errno})"),
        },
        _ => Failure {
            code: CANNOT_EXECUTE,
            message: format!("{shown}: cannot execute ({errno})"),
        },
    }
}
