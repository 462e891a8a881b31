//! The load generator: one OS thread per client connection, each replaying pre-built request
//! bytes over its own keep-alive HTTP/1.1 connection and recording every round trip in an HDR
//! histogram (nanoseconds).
//!
//! Why a raw client over `std::net::TcpStream` rather than hyper or reqwest: on a 2-core machine
//! the client shares the CPUs with the server, so every microsecond it spends is a microsecond
//! the server loses. A blocking write of ready-made bytes and a read parsed with `httparse` cost
//! a few microseconds; an async client adds a reactor, wake-ups across threads (30-40 us each on
//! this VM, see rust-stack.md §3) and header maps. At most 32 connections are driven, so a thread
//! each is cheap and keeps the latency figures free of client-side scheduling.

use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// What one response said.
pub enum Outcome {
    Ok,
    /// `Response.Error.Code`, or `HTTP <status>` for a non-200 answer.
    Error(String),
}

/// A keep-alive connection to one server.
pub struct Connection {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// A parsed response: the outcome and the body.
pub struct Answer<'a> {
    pub outcome: Outcome,
    pub body: &'a [u8],
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The string value that follows `key` (e.g. `"Code":"`) in a JSON body, if any.
pub fn string_after<'a>(body: &'a [u8], key: &[u8]) -> Option<&'a str> {
    let start = find(body, key)? + key.len();
    let len = body[start..].iter().position(|&b| b == b'"')?;
    std::str::from_utf8(&body[start..start + len]).ok()
}

impl Connection {
    pub fn open(addr: &str) -> std::io::Result<Self> {
        let stream = TcpStream::connect(addr)?;
        // Requests go out in one write; without this, Nagle and delayed ACKs add ~40 ms to
        // any exchange that splits (REPORT.md, "keep-alive pitfall").
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(120)))?;
        Ok(Connection {
            stream,
            buf: Vec::with_capacity(64 * 1024),
        })
    }

    /// Sends `request` and reads one whole response (framed by Content-Length).
    pub fn round_trip(&mut self, request: &[u8]) -> std::io::Result<Answer<'_>> {
        self.stream.write_all(request)?;
        self.buf.clear();
        let mut chunk = [0u8; 16 * 1024];
        let (status, header_len, body_len) = loop {
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the server closed the connection",
                ));
            }
            self.buf.extend_from_slice(&chunk[..n]);
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut response = httparse::Response::new(&mut headers);
            match response.parse(&self.buf) {
                Ok(httparse::Status::Complete(len)) => {
                    let body_len = response
                        .headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                        .and_then(|h| std::str::from_utf8(h.value).ok())
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .ok_or_else(|| {
                            std::io::Error::new(
                                std::io::ErrorKind::InvalidData,
                                "a response without Content-Length",
                            )
                        })?;
                    break (response.code.unwrap_or(0), len, body_len);
                }
                Ok(httparse::Status::Partial) => continue,
                Err(e) => {
                    return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e));
                }
            }
        };
        while self.buf.len() < header_len + body_len {
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the server closed the connection mid-body",
                ));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
        let body = &self.buf[header_len..header_len + body_len];
        let outcome = if status != 200 {
            Outcome::Error(format!("HTTP {status}"))
        } else if let Some(code) = string_after(body, b"\"Error\":{\"Code\":\"") {
            Outcome::Error(code.to_string())
        } else if find(body, b"\"InvokeResult\":-1").is_some() {
            // A sync Invoke whose handler failed still answers a Result.
            Outcome::Error("InvokeResult=-1".into())
        } else {
            Outcome::Ok
        };
        Ok(Answer { outcome, body })
    }
}

/// One measured run.
pub struct LoadResult {
    /// Round trips in nanoseconds, successful or not.
    pub histogram: Histogram<u64>,
    pub ok: u64,
    pub errors: BTreeMap<String, u64>,
    pub seconds: f64,
    /// Values of the captured key from successful responses, in no particular order.
    pub captured: Vec<String>,
}

impl LoadResult {
    pub fn empty() -> Self {
        LoadResult {
            histogram: new_histogram(),
            ok: 0,
            errors: BTreeMap::new(),
            seconds: 0.0,
            captured: Vec::new(),
        }
    }

    pub fn total(&self) -> u64 {
        self.ok + self.errors.values().sum::<u64>()
    }
    pub fn throughput(&self) -> f64 {
        self.total() as f64 / self.seconds
    }
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
    /// A percentile in milliseconds.
    pub fn ms(&self, quantile: f64) -> f64 {
        self.histogram.value_at_quantile(quantile) as f64 / 1e6
    }
}

/// How a run is shaped.
pub struct LoadSpec<'a> {
    pub addr: &'a str,
    pub clients: usize,
    pub warmup: Duration,
    pub measure: Duration,
    /// Each client cycles through these, starting at its own offset.
    pub requests: Arc<Vec<Vec<u8>>>,
    /// A key like `"FunctionRequestId":"` whose value to keep from each measured response.
    pub capture: Option<&'static [u8]>,
    /// Stop after this many measured requests in all (0: none; the duration still applies).
    pub max_requests: u64,
    /// Each client waits this long after each answer (zero: back to back).
    pub pause: Duration,
}

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1_000, 600_000_000_000, 3).expect("static bounds are valid")
}

/// Runs `spec`: every client warms up for `warmup`, then all measure for `measure`.
pub fn run(spec: &LoadSpec<'_>) -> Result<LoadResult, String> {
    let barrier = Arc::new(Barrier::new(spec.clients + 1));
    let pace = Pace {
        warmup: spec.warmup,
        measure: spec.measure,
        capture: spec.capture,
        pause: spec.pause,
        cap: if spec.max_requests == 0 {
            u64::MAX
        } else {
            spec.max_requests.div_ceil(spec.clients as u64)
        },
    };
    let mut handles = Vec::new();
    for client in 0..spec.clients {
        handles.push(spawn_client(spec, client, pace, &barrier)?);
    }
    barrier.wait();
    let mut total = LoadResult::empty();
    for h in handles {
        let r = h
            .join()
            .map_err(|_| "a client thread panicked".to_string())??;
        total.absorb(r);
    }
    if total.seconds <= 0.0 {
        total.seconds = spec.measure.as_secs_f64();
    }
    Ok(total)
}

/// How one client of a run paces itself (a copy per thread: the spec is borrowed).
#[derive(Clone, Copy)]
struct Pace {
    warmup: Duration,
    measure: Duration,
    capture: Option<&'static [u8]>,
    pause: Duration,
    /// Measured requests this client sends at most (its share of `max_requests`).
    cap: u64,
}

/// Starts client `client`'s thread: it connects, waits at `barrier` for all the others, then
/// drives its connection.
fn spawn_client(
    spec: &LoadSpec<'_>,
    client: usize,
    pace: Pace,
    barrier: &Arc<Barrier>,
) -> Result<std::thread::JoinHandle<Result<LoadResult, String>>, String> {
    let addr = spec.addr.to_string();
    let requests = Arc::clone(&spec.requests);
    let barrier = Arc::clone(barrier);
    // Clients start at spread offsets, so distinct requests (GetRequestStatus ids) interleave.
    let first = client * requests.len() / spec.clients;
    std::thread::Builder::new()
        .name(format!("client-{client}"))
        .stack_size(256 * 1024)
        .spawn(move || -> Result<LoadResult, String> {
            let conn = Connection::open(&addr);
            barrier.wait();
            let mut conn = conn.map_err(|e| format!("connect {addr}: {e}"))?;
            drive(&mut conn, &requests, client, first, pace)
        })
        .map_err(|e| format!("cannot start a client thread: {e}"))
}

/// One client's loop: requests back to back (or `pause` apart) from `requests[first]` on,
/// recording those sent after the warm-up, until the run's end or the client's cap.
fn drive(
    conn: &mut Connection,
    requests: &[Vec<u8>],
    client: usize,
    first: usize,
    pace: Pace,
) -> Result<LoadResult, String> {
    let start = Instant::now();
    let measure_from = start + pace.warmup;
    let end = measure_from + pace.measure;
    let mut result = LoadResult::empty();
    let n = requests.len();
    let mut i = first;
    let mut measured = 0u64;
    let mut last = start;
    loop {
        let sent = Instant::now();
        if sent >= end || measured >= pace.cap {
            break;
        }
        let answer = conn
            .round_trip(&requests[i % n])
            .map_err(|e| format!("client {client}: {e}"))?;
        i += 1;
        let done = Instant::now();
        if sent >= measure_from {
            measured += 1;
            last = done;
            result.record(done - sent, answer, pace.capture);
        }
        if !pace.pause.is_zero() {
            std::thread::sleep(pace.pause);
        }
    }
    result.seconds = last.saturating_duration_since(measure_from).as_secs_f64();
    Ok(result)
}

impl LoadResult {
    /// Counts one measured answer: its round trip, its outcome and, from a successful one,
    /// the value of the `capture` key.
    fn record(&mut self, round_trip: Duration, answer: Answer<'_>, capture: Option<&[u8]>) {
        self.histogram
            .saturating_record(round_trip.as_nanos() as u64);
        match answer.outcome {
            Outcome::Ok => {
                self.ok += 1;
                if let Some(key) = capture
                    && let Some(v) = string_after(answer.body, key)
                {
                    self.captured.push(v.to_string());
                }
            }
            Outcome::Error(code) => *self.errors.entry(code).or_default() += 1,
        }
    }

    /// Adds another client's run: histograms, counts and captures sum; the measured window
    /// is the longest of the two.
    fn absorb(&mut self, r: LoadResult) {
        self.histogram
            .add(&r.histogram)
            .expect("histograms with the same bounds add");
        self.ok += r.ok;
        for (k, v) in r.errors {
            *self.errors.entry(k).or_default() += v;
        }
        self.seconds = self.seconds.max(r.seconds);
        self.captured.extend(r.captured);
    }
}

/// A burst: `clients` connections opened first, then one request each, all released at once.
/// Returns the histogram of each request's own round trip and the outcomes.
pub fn burst(addr: &str, clients: usize, request: Arc<Vec<u8>>) -> Result<LoadResult, String> {
    let barrier = Arc::new(Barrier::new(clients + 1));
    let mut handles = Vec::new();
    for client in 0..clients {
        let addr = addr.to_string();
        let barrier = Arc::clone(&barrier);
        let request = Arc::clone(&request);
        let handle = std::thread::Builder::new()
            .name(format!("burst-{client}"))
            .stack_size(128 * 1024)
            .spawn(move || -> Result<(u64, Outcome), String> {
                let conn = Connection::open(&addr);
                barrier.wait();
                let mut conn = conn.map_err(|e| format!("connect {addr}: {e}"))?;
                let sent = Instant::now();
                let answer = conn
                    .round_trip(&request)
                    .map_err(|e| format!("burst client {client}: {e}"))?;
                Ok((sent.elapsed().as_nanos() as u64, answer.outcome))
            })
            .map_err(|e| format!("cannot start a burst thread: {e}"))?;
        handles.push(handle);
    }
    let start = Instant::now();
    barrier.wait();
    let mut total = LoadResult::empty();
    for h in handles {
        let (ns, outcome) = h
            .join()
            .map_err(|_| "a burst thread panicked".to_string())??;
        total.histogram.saturating_record(ns);
        match outcome {
            Outcome::Ok => total.ok += 1,
            Outcome::Error(code) => *total.errors.entry(code).or_default() += 1,
        }
    }
    total.seconds = start.elapsed().as_secs_f64();
    Ok(total)
}
