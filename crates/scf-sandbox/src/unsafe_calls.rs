//! The crate's only `unsafe` code: the three calls nix cannot offer safely.
//!
//! Everything else goes through nix's safe wrappers.

use nix::sys::signal::{SigHandler, Signal, signal};
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
