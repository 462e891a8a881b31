//! The crate's only `unsafe` code: the five calls nix cannot offer safely.
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

/// Brings up the loopback interface of the calling process's network namespace; a new one
/// starts with `lo` down, so even 127.0.0.1 would be unreachable. One `SIOCGIFFLAGS` and one
/// `SIOCSIFFLAGS` ioctl: the smallest way (netlink would need a message builder for one flag).
#[allow(unsafe_code)]
pub fn loopback_up() -> std::io::Result<()> {
    use nix::libc;
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};
    use std::os::fd::AsRawFd;
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    // SAFETY: `ifreq` is plain data (a name array and a union of integers, addresses and a
    // pointer); all zeroes is a valid value of each.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: the request reads `ifr_name` and writes `ifru_flags` of `req`, which we own and
    // which outlives the call; `sock` is an open socket.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel has just written `ifru_flags`, an integer: any bit pattern is valid.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    req.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
    // SAFETY: as above; the request only reads `req`.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
