//! SCF's Custom Runtime API (reference §8.4), served by the host to one instance on
//! `127.0.0.1:<port>` (`SCF_RUNTIME_API`, `SCF_RUNTIME_API_PORT`):
//! `POST /runtime/init/ready`, `GET /runtime/invocation/next` (long poll; headers `request_id`,
//! `memory_limit_in_mb`, `time_limit_in_ms`), `POST /runtime/invocation/response` and
//! `POST /runtime/invocation/error` (the first answer counts).
//!
//! Sandboxed, the API listens on port 9001 of the instance's own loopback: the launcher binds
//! it inside the instance's network namespace and hands the listener over (see `network`), so
//! no other instance can reach it at all. The peer check below stays as a second wall: only a
//! process of the instance's cgroup is served. Unsandboxed, the API listens on a free port of
//! the host's loopback, unchecked (nothing separates instances there anyway).

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{Mutex, Notify, mpsc, oneshot};

/// Whose connections the API serves: the processes of `cgroup`, their sockets looked up in
/// `tcp_table` (the `/proc/PID/net/tcp` of a process in the instance's network namespace).
#[derive(Debug, Clone)]
pub struct Owner {
    pub cgroup: PathBuf,
    pub tcp_table: PathBuf,
}

/// One invocation waiting for the bootstrap to fetch it.
struct Pending {
    id: String,
    body: String,
    deadline_ms: i64,
    timeout: Duration,
    reply: oneshot::Sender<Result<String, String>>,
}

/// The invocation the bootstrap is working on.
struct Current {
    id: String,
    body: String,
    deadline_ms: i64,
    timeout: Duration,
    reply: Option<oneshot::Sender<Result<String, String>>>,
}

struct Shared {
    memory_mb: u64,
    ready: AtomicBool,
    ready_notify: Notify,
    queue: Mutex<mpsc::Receiver<Pending>>,
    current: Mutex<Option<Current>>,
}

/// The API of one instance.
pub struct CustomApi {
    port: u16,
    shared: Arc<Shared>,
    sender: mpsc::Sender<Pending>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for CustomApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn init_ready(State(s): State<Arc<Shared>>) -> StatusCode {
    // The first call counts; later ones change nothing.
    if !s.ready.swap(true, Ordering::SeqCst) {
        s.ready_notify.notify_waiters();
        s.ready_notify.notify_one();
    }
    StatusCode::OK
}

fn event_response(c: &Current, memory_mb: u64) -> Response {
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&c.id) {
        headers.insert("request_id", v);
    }
    let remaining = (c.deadline_ms - now_ms()).max(0);
    headers.insert("memory_limit_in_mb", HeaderValue::from(memory_mb));
    headers.insert(
        "time_limit_in_ms",
        HeaderValue::from(c.timeout.as_millis() as u64),
    );
    headers.insert("remaining_time_in_ms", HeaderValue::from(remaining as u64));
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    (StatusCode::OK, headers, c.body.clone()).into_response()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

async fn next(State(s): State<Arc<Shared>>) -> Response {
    {
        let current = s.current.lock().await;
        if let Some(c) = current.as_ref().filter(|c| c.reply.is_some()) {
            // Asked again within the same invocation: the same event.
            return event_response(c, s.memory_mb);
        }
    }
    let Some(p) = s.queue.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let c = Current {
        id: p.id,
        body: p.body,
        deadline_ms: p.deadline_ms,
        timeout: p.timeout,
        reply: Some(p.reply),
    };
    let resp = event_response(&c, s.memory_mb);
    *s.current.lock().await = Some(c);
    resp
}

async fn answer(s: &Shared, result: Result<String, String>) -> StatusCode {
    let mut current = s.current.lock().await;
    match current.as_mut().and_then(|c| c.reply.take()) {
        Some(reply) => {
            let _ = reply.send(result);
            StatusCode::OK
        }
        // No invocation in progress, or it was answered already: the first answer is final.
        None => StatusCode::CONFLICT,
    }
}

async fn response(State(s): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    answer(&s, Ok(String::from_utf8_lossy(&body).into_owned())).await
}

async fn error(State(s): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    answer(&s, Err(String::from_utf8_lossy(&body).into_owned())).await
}

/// Whether the TCP connection from `peer` to `api` on loopback belongs to a process of the
/// owner's cgroup. Each sandboxed instance has a loopback of its own, so no other tenant's
/// connection can arrive here; this is the second wall behind that one (on a shared loopback,
/// any function could long-poll another account's runtime API and read or answer its events).
/// The check finds the client socket's inode in the namespace's TCP table and looks for it
/// among the open files of the processes in the instance's cgroup. It runs once per
/// connection, and a connection keeps its peer for its whole life.
///
/// The socket is found by its whole 4-tuple, addresses included: loopback is all of 127/8,
/// so a process could bind 127.0.0.2 with another's source port, and a match on ports alone
/// would find the other's socket for that connection.
fn peer_in_cgroup(peer: SocketAddr, api: SocketAddr, owner: &Owner) -> bool {
    let Some(inode) = socket_inode(&owner.tcp_table, peer, api) else {
        return false;
    };
    let wanted = format!("socket:[{inode}]");
    let Ok(procs) = std::fs::read_to_string(owner.cgroup.join("cgroup.procs")) else {
        return false;
    };
    procs.lines().any(|pid| {
        std::fs::read_dir(format!("/proc/{}/fd", pid.trim()))
            .map(|fds| {
                fds.flatten().any(|fd| {
                    std::fs::read_link(fd.path()).is_ok_and(|t| t.as_os_str() == wanted.as_str())
                })
            })
            .unwrap_or(false)
    })
}

/// The inode of the TCP socket `local -> remote`, from a `/proc/.../net/tcp` table (IPv4; the
/// API only listens on 127.0.0.1).
fn socket_inode(table: &Path, local: SocketAddr, remote: SocketAddr) -> Option<u64> {
    let table = std::fs::read_to_string(table).ok()?;
    socket_inode_in(&table, local, remote)
}

fn socket_inode_in(table: &str, local: SocketAddr, remote: SocketAddr) -> Option<u64> {
    // "0100007F:1F90": the address as the kernel's native-endian u32 of the network-order
    // bytes, then the port, both in hex.
    let parse = |field: &str| -> Option<SocketAddr> {
        let (ip, port) = field.split_once(':')?;
        let ip = u32::from_str_radix(ip, 16).ok()?;
        let port = u16::from_str_radix(port, 16).ok()?;
        Some(SocketAddr::from((Ipv4Addr::from(ip.to_ne_bytes()), port)))
    };
    table.lines().skip(1).find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let (l, r, inode) = (cols.get(1)?, cols.get(2)?, cols.get(9)?);
        (parse(l)? == local && parse(r)? == remote).then(|| inode.parse().ok())?
    })
}

impl CustomApi {
    /// Serves the API of an unsandboxed instance on a free port of the host's loopback.
    pub async fn start(memory_mb: u64) -> std::io::Result<Arc<CustomApi>> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        Self::serve_on(listener, memory_mb, None)
    }

    /// Serves the API on `listener`, the one the launcher made in the instance's namespace;
    /// only `owner`'s processes are answered.
    pub fn serve(
        listener: std::net::TcpListener,
        memory_mb: u64,
        owner: Owner,
    ) -> std::io::Result<Arc<CustomApi>> {
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        Self::serve_on(listener, memory_mb, Some(owner))
    }

    fn serve_on(
        listener: tokio::net::TcpListener,
        memory_mb: u64,
        owner: Option<Owner>,
    ) -> std::io::Result<Arc<CustomApi>> {
        let (sender, receiver) = mpsc::channel(1);
        let api_addr = listener.local_addr()?;
        let port = api_addr.port();
        let shared = Arc::new(Shared {
            memory_mb,
            ready: AtomicBool::new(false),
            ready_notify: Notify::new(),
            queue: Mutex::new(receiver),
            current: Mutex::new(None),
        });
        let app = Router::new()
            .route("/runtime/init/ready", post(init_ready))
            .route("/runtime/invocation/next", get(next))
            .route("/runtime/invocation/response", post(response))
            .route("/runtime/invocation/error", post(error))
            // A response may be up to SCF's 6 MB (axum's default body limit is 2 MB).
            .layer(axum::extract::DefaultBodyLimit::max(
                crate::MAX_RESPONSE_BYTES + 64 * 1024,
            ))
            .with_state(Arc::clone(&shared));
        // Only a process in the instance's cgroup may talk to this API.
        let server = tokio::spawn(async move {
            while let Ok((stream, peer)) = listener.accept().await {
                let (app, owner) = (app.clone(), owner.clone());
                tokio::spawn(async move {
                    let allowed = match owner {
                        None => true,
                        Some(owner) => tokio::task::spawn_blocking(move || {
                            peer_in_cgroup(peer, api_addr, &owner)
                        })
                        .await
                        .unwrap_or(false),
                    };
                    // Another process's connection gets 403 to every request.
                    let app = if allowed {
                        app
                    } else {
                        Router::new().fallback(|| async { StatusCode::FORBIDDEN })
                    };
                    let _ = stream.set_nodelay(true);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(
                            hyper_util::rt::TokioIo::new(stream),
                            hyper_util::service::TowerToHyperService::new(app),
                        )
                        .await;
                });
            }
        });
        Ok(Arc::new(CustomApi {
            port,
            shared,
            sender,
            server,
        }))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Resolves once the bootstrap has called `/runtime/init/ready`.
    pub async fn ready(&self) {
        while !self.shared.ready.load(Ordering::SeqCst) {
            let notified = self.shared.ready_notify.notified();
            if self.shared.ready.load(Ordering::SeqCst) {
                break;
            }
            notified.await;
        }
    }

    /// Hands one invocation to the bootstrap and waits for its answer; `None` if the API went
    /// away.
    pub async fn invoke(
        &self,
        id: &str,
        body: String,
        deadline_ms: i64,
        timeout: Duration,
    ) -> Option<Result<String, String>> {
        let (reply, rx) = oneshot::channel();
        let pending = Pending {
            id: id.to_string(),
            body,
            deadline_ms,
            timeout,
            reply,
        };
        self.sender.send(pending).await.ok()?;
        let result = rx.await.ok();
        *self.shared.current.lock().await = None;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_socket_by_its_whole_four_tuple() {
        // Two connections to the API port 0x1F90 with the same source port 0xA000: the
        // victim's from 127.0.0.1, an attacker's from 127.0.0.2.
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:A000 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 111 1
   1: 0200007F:A000 0100007F:1F90 01 00000000:00000000 00:00000000 00000000 65534        0 222 1
";
        let api: SocketAddr = "127.0.0.1:8080".parse().expect("addr");
        let victim: SocketAddr = "127.0.0.1:40960".parse().expect("addr");
        let attacker: SocketAddr = "127.0.0.2:40960".parse().expect("addr");
        assert_eq!(socket_inode_in(table, victim, api), Some(111));
        assert_eq!(socket_inode_in(table, attacker, api), Some(222));
        let elsewhere: SocketAddr = "127.0.0.3:40960".parse().expect("addr");
        assert_eq!(socket_inode_in(table, elsewhere, api), None);
    }
}
