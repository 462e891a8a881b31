//! The HTTP front door: accepting connections so that slow or excess clients cannot take the
//! server down.
//!
//! `axum::serve` has no header-read timeout and no connection cap: 1,100 connections that
//! never finish their headers held every file descriptor of a server with `ulimit -n 1024`
//! and `/healthz` with them. This accept loop serves the same router through hyper with:
//! - **a header-read timeout** (`[http] header_read_timeout_seconds`): hyper starts it when a
//!   connection begins to wait for a request, so it bounds both a slow request head and an
//!   idle keep-alive connection;
//! - **a connection cap** (`[http] max_connections`, at most half the file-descriptor limit,
//!   which is raised to its hard limit at start). A connection over the cap takes the place of
//!   the one that has waited longest for its next request (a slow or idle one); only when
//!   every connection is inside a request is the newcomer refused, at once, with
//!   `RequestLimitExceeded` in Tencent's envelope. A client that holds connections open cannot
//!   keep a new one out: each new one evicts the oldest waiter, so `/healthz` still answers;
//! - accept errors (`EMFILE`) answered by a short pause, never by stopping.

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tower::ServiceExt;

/// How the front door admits connections.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
}

/// One live connection, as the registry sees it.
struct Entry {
    busy: Arc<AtomicBool>,
    /// When it began waiting for its next request, in ms since the registry's start.
    waiting_since: Arc<AtomicU64>,
    close: Arc<Notify>,
}

/// The live connections.
struct Registry {
    started: Instant,
    next_id: AtomicU64,
    max: usize,
    live: Mutex<HashMap<u64, Entry>>,
}

/// A connection's slot; dropping it frees the slot.
struct Slot {
    registry: Arc<Registry>,
    id: u64,
    busy: Arc<AtomicBool>,
    waiting_since: Arc<AtomicU64>,
    close: Arc<Notify>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.id);
    }
}

impl Slot {
    fn begin_request(&self) {
        self.busy.store(true, Ordering::Relaxed);
    }
    fn end_request(&self) {
        self.waiting_since
            .store(self.registry.now_ms(), Ordering::Relaxed);
        self.busy.store(false, Ordering::Relaxed);
    }
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Entry>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// A slot for a new connection, evicting the longest waiter when full; `None` when every
    /// connection is inside a request.
    fn admit(self: &Arc<Self>) -> Option<Slot> {
        let mut live = self.lock();
        if live.len() >= self.max {
            let oldest = live
                .iter()
                .filter(|(_, e)| !e.busy.load(Ordering::Relaxed))
                .min_by_key(|(_, e)| e.waiting_since.load(Ordering::Relaxed))
                .map(|(id, _)| *id)?;
            if let Some(e) = live.remove(&oldest) {
                // `notify_one` keeps the wake-up for a task that is not waiting yet.
                e.close.notify_one();
                metrics::counter!("scf_http_connections_evicted_total").increment(1);
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let busy = Arc::new(AtomicBool::new(false));
        let waiting_since = Arc::new(AtomicU64::new(self.now_ms()));
        let close = Arc::new(Notify::new());
        live.insert(
            id,
            Entry {
                busy: Arc::clone(&busy),
                waiting_since: Arc::clone(&waiting_since),
                close: Arc::clone(&close),
            },
        );
        Some(Slot {
            registry: Arc::clone(self),
            id,
            busy,
            waiting_since,
            close,
        })
    }
}

/// Raises the soft file-descriptor limit to the hard one; returns the limit in force.
pub fn raise_fd_limit() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => hard,
            Err(e) => {
                tracing::warn!(soft, hard, error = %e, "cannot raise the open-files limit");
                soft
            }
        },
        Ok((soft, _)) => soft,
        Err(_) => 1024,
    }
}

/// The cap in force: the configured one, but at most half the descriptors (instances,
/// the database and the runtime's sockets need the rest).
pub fn effective_cap(configured: usize, fd_limit: u64) -> usize {
    let half = (fd_limit / 2).max(16) as usize;
    configured.clamp(1, half)
}

/// What a connection over the cap is told before it is closed.
fn refusal(max: usize) -> Vec<u8> {
    let error = scf_types::ApiError::new(
        scf_types::ErrorCode::RequestLimitExceeded,
        format!("The server is serving its maximum of {max} connections, all busy; retry shortly."),
    );
    let body = scf_types::envelope::error(&error, &uuid::Uuid::new_v4().to_string());
    let mut out = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        scf_types::envelope::CONTENT_TYPE,
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

/// Serves `app` on `listener` until `shutdown` completes, then lets requests in flight finish
/// (for up to 10 s).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let registry = Arc::new(Registry {
        started: Instant::now(),
        next_id: AtomicU64::new(0),
        max: limits.max_connections.max(1),
        live: Mutex::new(HashMap::new()),
    });
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors (or a connection reset before accept): wait a little
                    // for some to free instead of spinning or stopping.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let Some(slot) = registry.admit() else {
            metrics::counter!("scf_http_connections_refused_total").increment(1);
            let answer = refusal(registry.max);
            tokio::spawn(async move {
                let mut stream = stream;
                let _ =
                    tokio::time::timeout(Duration::from_secs(1), stream.write_all(&answer)).await;
            });
            continue;
        };
        let slot = Arc::new(slot);
        let close = Arc::clone(&slot.close);
        let app = app.clone();
        let in_service = Arc::clone(&slot);
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let slot = Arc::clone(&in_service);
            slot.begin_request();
            let answer = app.clone().oneshot(request.map(Body::new));
            async move {
                let response = answer.await;
                slot.end_request();
                response
            }
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            tokio::select! {
                _ = connection => {}
                () = close.notified() => {}
            }
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(10)) => {
            tracing::warn!("requests still running 10 s after the stop signal; stopping anyway");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(max: usize) -> Arc<Registry> {
        Arc::new(Registry {
            started: Instant::now(),
            next_id: AtomicU64::new(0),
            max,
            live: Mutex::new(HashMap::new()),
        })
    }

    #[test]
    fn a_full_registry_evicts_the_longest_waiter_and_spares_busy_ones() {
        let r = registry(2);
        let a = r.admit().expect("a");
        let b = r.admit().expect("b");
        a.begin_request();
        // Full: the newcomer takes b's place (a is busy).
        let c = r.admit().expect("c evicts b");
        assert!(r.lock().contains_key(&a.id) && r.lock().contains_key(&c.id));
        assert!(!r.lock().contains_key(&b.id));
        // b's task is told to close (the permit is kept for a task not waiting yet).
        let notified = b.close.notified();
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut notified = std::pin::pin!(notified);
        assert!(notified.as_mut().poll(&mut cx).is_ready());
        // Everyone busy: refused.
        c.begin_request();
        assert!(r.admit().is_none());
        // A finished request makes its connection a waiter again, evictable.
        a.end_request();
        let d = r.admit().expect("d evicts a");
        assert!(!r.lock().contains_key(&a.id));
        drop(d);
        assert_eq!(r.lock().len(), 1, "a dropped slot frees its place");
    }

    #[test]
    fn the_cap_leaves_descriptors_for_the_rest() {
        assert_eq!(effective_cap(1024, 1024), 512);
        assert_eq!(effective_cap(1024, 1 << 20), 1024);
        assert_eq!(effective_cap(0, 1 << 20), 1);
    }

    #[test]
    fn the_refusal_is_tencents_envelope() {
        let text = String::from_utf8(refusal(7)).expect("utf8");
        let (head, body) = text.split_once("\r\n\r\n").expect("head");
        assert!(
            head.contains("content-type: application/json\r\n"),
            "{head}"
        );
        let v: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(v["Response"]["Error"]["Code"], "RequestLimitExceeded");
    }
}
