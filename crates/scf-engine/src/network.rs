//! Each sandboxed instance's network: a namespace of its own, whose loopback is its own, and
//! (with `[sandbox] network = "outbound"`, the default) outbound connections through `pasta`.
//!
//! Why a namespace per instance: on the host's, a function could read `/proc/net/tcp` (every
//! loopback connection of the host), reach scfd's API and `/metrics` on 127.0.0.1, and connect
//! to another instance's custom-runtime API; only a peer check stood in the way of the last.
//!
//! # The custom runtime API inside the namespace
//!
//! The launcher, still root and already in the new namespace, binds 127.0.0.1:9001 (SCF's own
//! port: each instance has its own loopback, so one fixed port serves all) and hands the
//! listening socket to the server over the instance's stdin, a Unix socket pair, as
//! `SCM_RIGHTS` ([`receive`]); it then closes its copy. The server serves the API on that
//! listener: the socket stays in the instance's namespace wherever its descriptor is, so
//! scfd needs no `setns` (which would have to run on a thread of its own, switched into each
//! instance's namespace and back) and there is no race (a connection made before the server
//! accepts waits in the backlog). Receiving a descriptor is safe code with rustix.
//!
//! # Outbound
//!
//! The launcher hands over the namespace too, and the server starts
//! `pasta --config-net --netns /proc/self/fd/0` with that descriptor as pasta's stdin: it
//! adds a tap device holding the host's IPv4 address and default route, and carries the
//! instance's connections out through sockets of its own on the host. Options, and why:
//! - `-t none -u none -T none -U none`: no port is forwarded into the namespace, nor from the
//!   namespace's loopback to the host's (pasta's default forwards every bound port);
//! - `--no-map-gw`: the gateway's address is not translated to the host's loopback;
//! - `-4` (IPv4 only): over IPv6, the host's link-local address is pasta's router address,
//!   and a connection to it reached services the host serves on `[::]`;
//! - `--runas 0`: pasta drops to `nobody` otherwise and can then no longer join a namespace
//!   owned by root; it keeps `CAP_SYS_ADMIN` and `CAP_NET_BIND_SERVICE` only, in an empty mount
//!   namespace of its own, under its own seccomp filter.
//!
//! The instance holds the host's primary IPv4 address itself, so a connection to that address
//! stays inside the namespace: it does not reach the host's services. Other addresses of the
//! host (a second interface) do, as would any other machine: docs/SECURITY.md.
//!
//! pasta is started through the launcher (`scf-sandbox -- pasta ...`, no namespaces) only for
//! `PR_SET_PDEATHSIG`: it dies with the server as the instances do. It runs in the server's
//! cgroups, not the instance's: a tenant cannot make it the victim of its own memory limit, nor
//! freeze its own traffic's carrier; its CPU and memory (about 20 MB, its fixed buffers) are
//! the server's. It is killed when the instance goes (it would otherwise keep the empty
//! namespace alive: pasta does not notice that the namespace's processes are gone).
//!
//! pasta takes about 20-25 ms to be ready, longer than a Python runtime's boot, so it starts as
//! soon as the namespace exists and is waited for only before the function's own code runs:
//! before the handler is loaded (interpreter runtimes), or before the custom runtime's
//! `bootstrap` is executed (the launcher waits for a go-ahead byte, `--wait-start`).

use crate::lock;
use crate::sandbox::Handoff;
use std::io::IoSliceMut;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::UnixStream;

/// What the launcher handed over.
#[derive(Debug, Default)]
pub struct Received {
    pub netns: Option<OwnedFd>,
    pub listener: Option<std::net::TcpListener>,
}

/// Reads the launcher's one hand-over message from the instance's socket: one byte carrying
/// the descriptors `want` names, in its order. Exactly one byte is read, so whatever the
/// runtime writes afterwards stays for the protocol.
pub async fn receive(socket: &UnixStream, want: Handoff) -> Result<Received, String> {
    let expected = usize::from(want.netns) + usize::from(want.listener);
    let (bytes, truncated, mut fds) = socket
        .async_io(tokio::io::Interest::READABLE, || recv_fds(socket))
        .await
        .map_err(|e| format!("cannot receive the instance's network from the sandbox: {e}"))?;
    if bytes == 0 {
        return Err(
            "the sandbox stopped before it handed over the instance's network namespace".into(),
        );
    }
    if truncated || fds.len() != expected {
        return Err(format!(
            "the sandbox handed over {} descriptors, not {expected}",
            fds.len()
        ));
    }
    let listener = if want.listener {
        fds.pop().map(std::net::TcpListener::from)
    } else {
        None
    };
    Ok(Received {
        netns: if want.netns { fds.pop() } else { None },
        listener,
    })
}

/// One `recvmsg` of one byte: `(bytes read, control data truncated, descriptors)`. The
/// descriptors arrive close-on-exec, so no other child of the server inherits them.
fn recv_fds(socket: &UnixStream) -> std::io::Result<(usize, bool, Vec<OwnedFd>)> {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags};
    let mut byte = [0u8; 1];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let msg = rustix::net::recvmsg(
        socket,
        &mut [IoSliceMut::new(&mut byte)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    let mut fds = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = message {
            fds.extend(received);
        }
    }
    Ok((msg.bytes, msg.flags.contains(ReturnFlags::CTRUNC), fds))
}

/// pasta's command line after its path (see the module's documentation for each choice).
/// Its stdin is the namespace; it writes its pid to stdout (`--pid`) once the namespace's
/// interface, address and route are set up, which is the readiness signal.
const PASTA_ARGS: &[&str] = &[
    "--foreground",
    "--quiet",
    "--runas",
    "0",
    "--config-net",
    "--ipv4-only",
    "--no-dhcp",
    "--no-map-gw",
    "--tcp-ports",
    "none",
    "--udp-ports",
    "none",
    "--tcp-ns",
    "none",
    "--udp-ns",
    "none",
    "--netns",
    "/proc/self/fd/0",
    "--pid",
    "/proc/self/fd/1",
];

/// What pasta writes on stderr that is kept for an error message.
const MAX_PASTA_LOG: usize = 4 << 10;

/// The pasta process giving one instance outbound network; killed when this is dropped.
pub struct Outbound {
    child: tokio::process::Child,
    stdout: Option<BufReader<tokio::process::ChildStdout>>,
    log: Arc<Mutex<Vec<u8>>>,
    ready: Option<Result<(), String>>,
}

impl Outbound {
    /// Starts pasta on the namespace `netns` (through `launcher`, for its parent-death
    /// signal), with an empty environment.
    pub fn start(launcher: &Path, pasta: &Path, netns: OwnedFd) -> Result<Outbound, String> {
        let mut cmd = tokio::process::Command::new(launcher);
        cmd.arg0("scf-sandbox")
            .arg("--")
            .arg(pasta)
            .args(PASTA_ARGS)
            .env_clear()
            .current_dir("/")
            .stdin(Stdio::from(netns))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", pasta.display()))?;
        let stdout = child.stdout.take().map(BufReader::new);
        let log = Arc::new(Mutex::new(Vec::new()));
        if let Some(mut stderr) = child.stderr.take() {
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                let mut chunk = [0u8; 1024];
                while let Ok(n @ 1..) = stderr.read(&mut chunk).await {
                    let mut kept = lock(&log);
                    let room = MAX_PASTA_LOG.saturating_sub(kept.len());
                    kept.extend_from_slice(&chunk[..n.min(room)]);
                }
            });
        }
        Ok(Outbound {
            child,
            stdout,
            log,
            ready: None,
        })
    }

    /// Resolves once the instance's outbound network is configured, or says why it never
    /// will be. Only the first call waits.
    pub async fn ready(&mut self) -> Result<(), String> {
        if let Some(outcome) = &self.ready {
            return outcome.clone();
        }
        let mut line = String::new();
        let read = match self.stdout.as_mut() {
            Some(out) => out.read_line(&mut line).await.ok(),
            None => None,
        };
        let outcome = if read.unwrap_or(0) > 0 && line.trim().parse::<u32>().is_ok() {
            Ok(())
        } else {
            let status = tokio::time::timeout(Duration::from_secs(1), self.child.wait())
                .await
                .ok()
                .and_then(Result::ok);
            // Its stderr may still be draining.
            tokio::time::sleep(Duration::from_millis(10)).await;
            let log = String::from_utf8_lossy(&lock(&self.log))
                .lines()
                .filter(|l| !l.starts_with("Failed to send") || !l.ends_with("to syslog"))
                .collect::<Vec<_>>()
                .join("; ");
            Err(format!(
                "the instance's outbound network could not be set up: pasta {}{}",
                status.map_or_else(|| "did not answer".to_string(), |s| format!("ended ({s})")),
                if log.is_empty() {
                    String::new()
                } else {
                    format!(": {log}")
                }
            ))
        };
        self.stdout = None;
        self.ready = Some(outcome.clone());
        outcome
    }
}
