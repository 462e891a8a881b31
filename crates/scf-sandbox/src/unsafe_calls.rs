//! The crate's only `unsafe` code: the four calls nix cannot offer safely.
//!
//! Everything else goes through nix's safe wrappers.

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction, signal};
use nix::unistd::ForkResult;

/// Forks the (single-threaded) launcher.
#[allow(unsafe_code)]
pub fn fork() -> nix::Result<ForkResult> {
    // SAFETY: scf-sandbox never starts a second thread, so the child is a
    // complete copy of the only thread: no lock can be held by a thread that
    // does not exist in the child, and the child may allocate and run any code
    // until it execs or exits.
    unsafe { nix::unistd::fork() }
}

/// Ends a forked child at once: no atexit handlers, no flushing of stdio
/// buffers that were copied from the parent.
#[allow(unsafe_code)]
pub fn exit_now(code: i32) -> ! {
    // SAFETY: `_exit` has no preconditions and never returns.
    unsafe { nix::libc::_exit(code) }
}

/// Undoes the Rust runtime's start-up `signal(SIGPIPE, SIG_IGN)`, which would
/// otherwise survive `execve` and make PROGRAM ignore SIGPIPE. The server's
/// own spawn (std's `Command`) hands us SIGPIPE at its default, so this
/// restores what we were given.
#[allow(unsafe_code)]
pub fn restore_default_sigpipe() -> nix::Result<()> {
    // SAFETY: installing SIG_DFL runs no code of ours in signal context; the
    // call is unsafe in nix only because other handlers could.
    unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) }.map(drop)
}

extern "C" fn ignore_signal(_: nix::libc::c_int) {}

/// Gives `sig` a handler that does nothing. PID 1 of a namespace is only sent
/// the signals it has a handler for (the kernel drops the rest even while they
/// are blocked), so the mini-init installs these and then takes the signals
/// with `sigwait`; the handler itself never runs while they stay blocked.
#[allow(unsafe_code)]
pub fn install_noop_handler(sig: Signal) -> nix::Result<()> {
    let action = SigAction::new(
        SigHandler::Handler(ignore_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the handler is an empty `extern "C"` function: it touches no
    // state, so it is async-signal-safe whenever it might run.
    unsafe { sigaction(sig, &action) }.map(drop)
}
