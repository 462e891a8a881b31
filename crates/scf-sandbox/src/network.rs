//! The instance's own network namespace, set up by the launcher right after `unshare`, while
//! it is still root and before anything of the function runs.
//!
//! - `lo` is brought up: a new namespace starts with it down.
//! - `--listen PORT`: a TCP listener on 127.0.0.1:PORT of the new namespace (the custom
//!   runtime's API; every instance has its own loopback, so the port can be SCF's fixed one).
//! - `--hand-netns`: a handle on the namespace itself, for the server to attach the outbound
//!   link (`pasta`) to.
//!
//! Both travel to the server in one message on stdin (the server's end of a Unix socket pair):
//! one byte `N` carrying the descriptors as `SCM_RIGHTS`, the namespace first. The launcher
//! then closes its own copies, so nothing of the instance ever holds them. Connections made
//! before the server accepts wait in the listener's backlog: there is no race to win.
//!
//! `--wait-start`: PROGRAM's process reads one byte from stdin right before `execve`, the
//! server's go-ahead once the outbound link is up (a custom runtime's `bootstrap` is the
//! function's own code and may reach out at once).

use std::fs::File;
use std::io::{IoSlice, Read};
use std::net::{Ipv4Addr, TcpListener};
use std::os::fd::{AsFd, AsRawFd, RawFd};

use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};

use crate::cli::Plan;
use crate::failure::{Context, Failure};
use crate::unsafe_calls::loopback_up;

/// The byte the descriptors ride on.
const HANDOFF_BYTE: &[u8] = b"N";

/// Brings `lo` up and hands the server what the plan asks for. Runs in the new namespace.
pub fn prepare(plan: &Plan) -> Result<(), Failure> {
    loopback_up().context(|| "bring up lo in the new network namespace")?;
    if plan.listen.is_none() && !plan.hand_netns {
        return Ok(());
    }
    let netns = if plan.hand_netns {
        Some(File::open("/proc/self/ns/net").context(|| "open /proc/self/ns/net")?)
    } else {
        None
    };
    let listener = match plan.listen {
        Some(port) => Some(
            TcpListener::bind((Ipv4Addr::LOCALHOST, port))
                .context(|| format!("--listen {port}: bind 127.0.0.1:{port}"))?,
        ),
        None => None,
    };
    let fds: Vec<RawFd> = netns
        .iter()
        .map(|f| f.as_raw_fd())
        .chain(listener.iter().map(|l| l.as_raw_fd()))
        .collect();
    sendmsg::<()>(
        std::io::stdin().as_fd().as_raw_fd(),
        &[IoSlice::new(HANDOFF_BYTE)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .context(|| "hand the network namespace to the server (stdin must be its Unix socket)")?;
    // `netns` and `listener` close here: the server holds the only copies now.
    Ok(())
}

/// `--wait-start`: blocks until the server sends its go-ahead byte on stdin.
pub fn wait_for_start() -> Result<(), Failure> {
    let fd = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .context(|| "--wait-start: dup stdin")?;
    let mut byte = [0u8; 1];
    match File::from(fd).read(&mut byte) {
        Ok(1) => Ok(()),
        Ok(_) => Err(Failure::setup(
            "--wait-start: the server closed stdin before its go-ahead",
        )),
        Err(e) => Err(Failure::setup(format!("--wait-start: read stdin: {e}"))),
    }
}
