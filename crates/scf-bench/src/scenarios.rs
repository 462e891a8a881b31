//! The scenarios of issue 4, in the order the suite runs them, each adding rows to the report.

use crate::baselines;
use crate::bulk_load;
use crate::load::{self, LoadResult, LoadSpec};
use crate::packages::Kind;
use crate::presign::REGION;
use crate::proc_stats::{self, Cpu};
use crate::report::{Row, fmt_int, fmt_ms, mb};
use crate::scfd_process::{Scfd, ServerConfig, stop_child, wait_healthy};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long each part runs; `--quick` shrinks everything.
pub struct Plan {
    pub quick: bool,
    pub warmup: Duration,
    pub measure: Duration,
    pub ceiling_measure: Duration,
    pub floor_round_trips: usize,
    pub fork_calls: usize,
    pub cold_python: u64,
    pub cold_node: u64,
    pub grs_sizes: Vec<u64>,
    pub grs_distinct: usize,
    pub burst: usize,
}

impl Plan {
    pub fn new(quick: bool) -> Self {
        if quick {
            Plan {
                quick,
                warmup: Duration::from_millis(500),
                measure: Duration::from_secs(2),
                ceiling_measure: Duration::from_millis(1500),
                floor_round_trips: 5_000,
                fork_calls: 30,
                cold_python: 40,
                cold_node: 20,
                grs_sizes: vec![1_000, 100_000],
                grs_distinct: 1_000,
                burst: 1_000,
            }
        } else {
            Plan {
                quick,
                warmup: Duration::from_secs(1),
                measure: Duration::from_secs(5),
                ceiling_measure: Duration::from_secs(3),
                floor_round_trips: 20_000,
                fork_calls: 100,
                cold_python: 200,
                cold_node: 100,
                grs_sizes: vec![1_000, 1_000_000, 10_000_000],
                grs_distinct: 4_000,
                burst: 1_000,
            }
        }
    }
}

/// The baselines' figures the scfd rows are compared with.
#[derive(Default)]
struct Baselines {
    floor_p50: Option<f64>,
    fork_p50: Option<f64>,
    /// clients -> (p50 ms, throughput)
    ceiling: BTreeMap<usize, (f64, f64)>,
    interpreter_rss_kb: u64,
    /// `label metric` -> value
    peers: BTreeMap<String, f64>,
}

pub struct Suite {
    pub plan: Plan,
    pub out: PathBuf,
    pub bin_dir: PathBuf,
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
    base: Baselines,
    /// Appended to the group names of the rows measured on another store than the embedded one.
    store_label: String,
}

fn fail_on_errors(what: &str, r: &LoadResult) -> Result<(), String> {
    if r.error_count() > 0 {
        return Err(format!(
            "{what}: {} errors where none are expected: {:?}",
            r.error_count(),
            r.errors
        ));
    }
    if r.total() == 0 {
        return Err(format!("{what}: no request completed"));
    }
    Ok(())
}

fn say(msg: &str) {
    eprintln!("scf-bench: {msg}");
}

/// A baseline's row from its histogram (ns): one client, throughput from the mean latency.
fn histogram_row(g: &str, scenario: &str, hist: &Histogram<u64>) -> Row {
    let mut row = Row::new(g, scenario, 1);
    row.requests = hist.len();
    row.p50_ms = Some(hist.value_at_quantile(0.5) as f64 / 1e6);
    row.p99_ms = Some(hist.value_at_quantile(0.99) as f64 / 1e6);
    row.p999_ms = Some(hist.value_at_quantile(0.999) as f64 / 1e6);
    row.throughput = Some(1e9 / hist.mean());
    row
}

/// The warm Python targets: latency with one client, throughput and p99 with eight.
fn warm_targets(row: Row, kind: Kind, clients: usize, r: &LoadResult) -> Row {
    match (kind, clients) {
        (Kind::Python, 1) => {
            let (p50, p99) = (r.ms(0.5), r.ms(0.99));
            row.target("p50 ≤ 0.15 ms", format!("{} ms", fmt_ms(p50)), p50 <= 0.15)
                .target("p99 ≤ 0.5 ms", format!("{} ms", fmt_ms(p99)), p99 <= 0.5)
        }
        (Kind::Python, 8) => {
            let (rps, p99) = (r.throughput(), r.ms(0.99));
            row.target(
                "8 clients ≥ 20,000/s",
                format!("{}/s", fmt_int(rps)),
                rps >= 20_000.0,
            )
            .target(
                "8 clients p99 ≤ 5 ms",
                format!("{} ms", fmt_ms(p99)),
                p99 <= 5.0,
            )
        }
        _ => row,
    }
}

impl Suite {
    pub fn new(plan: Plan, out: PathBuf, bin_dir: PathBuf) -> Self {
        Suite {
            plan,
            out,
            bin_dir,
            rows: Vec::new(),
            notes: Vec::new(),
            base: Baselines::default(),
            store_label: String::new(),
        }
    }

    fn fresh_dir(&self, name: &str) -> Result<PathBuf, String> {
        let dir = self.out.join(name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(dir)
    }

    /// A warm-up run, then a measured one with the CPU of scfd and its descendants around it.
    fn measured(
        &self,
        server: Option<&Scfd>,
        spec: LoadSpec<'_>,
    ) -> Result<(LoadResult, Cpu), String> {
        if !spec.warmup.is_zero() {
            load::run(&LoadSpec {
                addr: spec.addr,
                clients: spec.clients,
                measure: spec.warmup,
                warmup: Duration::ZERO,
                capture: None,
                max_requests: 0,
                pause: spec.pause,
                requests: Arc::clone(&spec.requests),
            })?;
        }
        let before = server.map(|s| proc_stats::cpu(s.pid)).unwrap_or_default();
        let result = load::run(&LoadSpec {
            warmup: Duration::ZERO,
            ..spec
        })?;
        let after = server.map(|s| proc_stats::cpu(s.pid)).unwrap_or_default();
        Ok((result, after - before))
    }

    // ---------------------------------------------------------------- baselines

    /// The figures the scfd rows are compared with, measured without scfd: the raw floor,
    /// fork-per-invoke, the interpreter's own memory, the fixed-JSON ceiling and the peers.
    pub fn baselines(&mut self) -> Result<(), String> {
        let g = "Baselines (no scfd)";
        say("baseline: the raw floor (warm python over a pipe)");
        let dir = self.fresh_dir("baseline-handler")?;
        self.raw_floor(g, &dir)?;
        say("baseline: fork-per-invoke python");
        self.fork_per_invoke(g, &dir)?;
        self.interpreter_alone(g)?;
        say("baseline: the fixed-JSON ceiling (axum + tokio)");
        self.fixed_json_ceiling(g)?;
        self.peer_figures(g);
        Ok(())
    }

    /// The handler in a warm interpreter, called over pipes: what any invoke costs at least.
    fn raw_floor(&mut self, g: &str, dir: &Path) -> Result<(), String> {
        let (hist, hwm) = baselines::pipe_floor(dir, 1_000, self.plan.floor_round_trips)?;
        let row = histogram_row(
            g,
            "Raw floor: handler in a warm /usr/bin/python3, JSON lines over std pipes",
            &hist,
        );
        self.base.floor_p50 = row.p50_ms;
        self.rows
            .push(row.note(format!("worker VmHWM {:.1} MB", mb(hwm))));
        Ok(())
    }

    /// A fresh interpreter per call: the naive cold start.
    fn fork_per_invoke(&mut self, g: &str, dir: &Path) -> Result<(), String> {
        let hist = baselines::fork_per_invoke(dir, self.plan.fork_calls)?;
        let row = histogram_row(
            g,
            "Naive cold: `/usr/bin/python3 -c '<import handler, call, print>'` per call",
            &hist,
        );
        self.base.fork_p50 = row.p50_ms;
        self.rows.push(row);
        Ok(())
    }

    /// The RSS of an idle interpreter, which a warm instance's memory is measured beyond.
    fn interpreter_alone(&mut self, g: &str) -> Result<(), String> {
        let rss = baselines::interpreter_rss_kb()?;
        self.base.interpreter_rss_kb = rss;
        let mut row = Row::new(
            g,
            "Interpreter alone: `/usr/bin/python3 -c 'import time; time.sleep(1)'` RSS",
            0,
        );
        row.instances_rss_mb = Some(mb(rss));
        self.rows.push(row);
        Ok(())
    }

    /// The fixed-JSON server (this binary's `fixed-json-server`), run for the rows and
    /// stopped whether they succeeded or not.
    fn fixed_json_ceiling(&mut self, g: &str) -> Result<(), String> {
        let port = crate::scfd_process::free_port()?;
        let addr = format!("127.0.0.1:{port}");
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = std::process::Command::new(exe)
            .arg("fixed-json-server")
            .arg("--listen")
            .arg(&addr)
            .spawn()
            .map_err(|e| format!("fixed-json-server: {e}"))?;
        let result = self.ceiling_rows(g, &addr, &mut child);
        stop_child(&mut child, Duration::from_secs(5));
        result
    }

    /// The ceiling at 1, 8, 16 and 32 clients, with the server's own CPU and memory.
    fn ceiling_rows(&mut self, g: &str, addr: &str, child: &mut Child) -> Result<(), String> {
        wait_healthy(addr, child, Duration::from_secs(10))?;
        let requests = Arc::new(vec![crate::presign::plain_post(addr, "{}")]);
        for clients in [1, 8, 16, 32] {
            let before = proc_stats::cpu(child.id());
            let (r, _) = self.measured(
                None,
                LoadSpec {
                    addr,
                    clients,
                    warmup: self.plan.warmup,
                    measure: self.plan.ceiling_measure,
                    requests: Arc::clone(&requests),
                    capture: None,
                    max_requests: 0,
                    pause: Duration::ZERO,
                },
            )?;
            let cpu = proc_stats::cpu(child.id()) - before;
            fail_on_errors("fixed-JSON server", &r)?;
            self.base
                .ceiling
                .insert(clients, (r.ms(0.5), r.throughput()));
            let mut row = Row::new(
                g,
                "Ceiling: fixed-JSON axum server (`scf-bench fixed-json-server`)",
                clients,
            )
            .with_load(&r);
            row.server_cpu_s = Some(cpu.server);
            row.server_hwm_mb = proc_stats::status_kb(child.id(), "VmHWM:").map(mb);
            self.rows.push(row);
        }
        Ok(())
    }

    /// The peers' figures when they are installed (a row), or a note saying why not.
    fn peer_figures(&mut self, g: &str) {
        match baselines::peers(self.plan.quick) {
            Ok(figures) => {
                for (label, metric, value) in figures {
                    self.base.peers.insert(format!("{label} {metric}"), value);
                }
                let mut row = Row::new(g, "Peers (/work/shared/bench/run_peer_bench.sh)", 0);
                row.note = self
                    .base
                    .peers
                    .iter()
                    .filter(|(k, _)| k.contains("p50") || k.contains("rps"))
                    .map(|(k, v)| format!("{k} {v:.3}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                self.rows.push(row);
            }
            Err(why) => self.notes.push(format!("Peers: {why}.")),
        }
    }

    fn ceiling_rps(&self, clients: usize) -> Option<f64> {
        self.base.ceiling.get(&clients).map(|c| c.1)
    }

    fn ceiling_p50(&self, clients: usize) -> Option<f64> {
        self.base.ceiling.get(&clients).map(|c| c.0)
    }

    fn peer(&self, key: &str) -> Option<f64> {
        self.base.peers.get(key).copied()
    }

    // ---------------------------------------------------------------- warm server

    /// Idle memory, memory per warm instance, warm sync invokes, async, burst: one server.
    pub fn warm_server(&mut self) -> Result<(), String> {
        let dir = self.fresh_dir("warm-data")?;
        let server = Scfd::start(&self.bin_dir, &dir, &ServerConfig::default())?;
        self.notes.push(format!(
            "scfd start-up to a healthy /healthz: {:.0} ms (fresh data dir).",
            server.startup.as_secs_f64() * 1000.0
        ));

        say("memory: idle server");
        std::thread::sleep(Duration::from_secs(1));
        let idle_kb = proc_stats::status_kb(server.pid, "VmRSS:").unwrap_or(0);
        let g = "Memory";
        let mut row = Row::new(g, "Idle server: scfd VmRSS after start-up, no functions", 0);
        row.server_hwm_mb = Some(mb(idle_kb));
        self.rows.push(row.target(
            "idle server RSS ≤ 30 MB",
            format!("{:.1} MB", mb(idle_kb)),
            mb(idle_kb) <= 30.0,
        ));

        say("memory: one warm Python instance");
        server.deploy("py-mem", Kind::Python, 128)?;
        server.call("Invoke", Scfd::invoke_params("py-mem", false))?;
        std::thread::sleep(Duration::from_millis(300));
        let procs: Vec<(u32, u64, String)> = proc_stats::descendants(server.pid)
            .into_iter()
            .map(|p| {
                (
                    p,
                    proc_stats::status_kb(p, "VmRSS:").unwrap_or(0),
                    proc_stats::exe(p),
                )
            })
            .collect();
        let total_kb: u64 = procs.iter().map(|p| p.1).sum();
        let beyond = mb(total_kb) - mb(self.base.interpreter_rss_kb);
        let mut row = Row::new(g, "One warm Python instance: RSS of all its processes", 0);
        row.instances_rss_mb = Some(mb(total_kb));
        row.server_hwm_mb = proc_stats::status_kb(server.pid, "VmHWM:").map(mb);
        let detail = procs
            .iter()
            .map(|(_, kb, exe)| format!("{exe} {:.1} MB", mb(*kb)))
            .collect::<Vec<_>>()
            .join(" + ");
        self.rows.push(
            row.note(format!(
                "{detail}; interpreter alone {:.1} MB",
                mb(self.base.interpreter_rss_kb)
            ))
            .target(
                "warm Python instance ≤ 12 MB beyond the interpreter",
                format!("+{beyond:.1} MB"),
                beyond <= 12.0,
            ),
        );

        for kind in [Kind::Python, Kind::Node, Kind::Custom] {
            self.warm_invokes(&server, kind)?;
        }
        self.async_invokes(&server)?;
        self.burst(&server)?;
        server.stop();
        Ok(())
    }

    /// Warm sync invokes of one runtime's hello function at 1, 8 and 32 clients.
    fn warm_invokes(&mut self, server: &Scfd, kind: Kind) -> Result<(), String> {
        let name = match kind {
            Kind::Python => "py-hello",
            Kind::Node => "node-hello",
            Kind::Custom => "custom-hello",
        };
        server.deploy(name, kind, 128)?;
        let first = server.call("Invoke", Scfd::invoke_params(name, false))?;
        if first["Result"]["InvokeResult"] != json!(0) {
            return Err(format!("{name}: the first invoke failed: {first}"));
        }
        let requests = Arc::new(vec![
            server.request("Invoke", &Scfd::invoke_params(name, false)),
        ]);
        let g = &format!("Warm sync invoke (hello){}", self.store_label);
        for clients in [1, 8, 32] {
            say(&format!(
                "warm sync invoke: {} with {clients} clients",
                kind.label()
            ));
            let (r, cpu) = self.measured(
                Some(server),
                self.steady_load(&server.addr, clients, &requests),
            )?;
            fail_on_errors(&format!("warm {} {clients} clients", kind.label()), &r)?;
            let row = Row::new(g, format!("{}, {}", kind.label(), kind.runtime()), clients)
                .with_load(&r)
                .with_cpu(cpu)
                .with_memory(server.pid)
                .note(format!(
                    "{} processes below scfd (every function's warm instances so far)",
                    proc_stats::descendants(server.pid).len()
                ));
            let row = self.warm_baselines(row, clients);
            self.rows.push(warm_targets(row, kind, clients, &r));
        }
        Ok(())
    }

    /// A warm row's comparisons: latency with one client, throughput with more.
    fn warm_baselines(&self, row: Row, clients: usize) -> Row {
        if clients == 1 {
            row.vs_latency("raw floor", self.base.floor_p50)
                .vs_latency("fixed-JSON", self.ceiling_p50(1))
                .vs_latency("sls-warm", self.peer("sls-warm seq_p50_ms"))
        } else {
            row.vs_throughput("fixed-JSON", self.ceiling_rps(clients))
                .vs_throughput(
                    "sls-warm 8c",
                    if clients == 8 {
                        self.peer("sls-warm conc_rps")
                    } else {
                        None
                    },
                )
        }
    }

    /// A load of `clients` back-to-back clients for the plan's warm-up and measured time.
    fn steady_load<'a>(
        &self,
        addr: &'a str,
        clients: usize,
        requests: &Arc<Vec<Vec<u8>>>,
    ) -> LoadSpec<'a> {
        LoadSpec {
            addr,
            clients,
            warmup: self.plan.warmup,
            measure: self.plan.measure,
            requests: Arc::clone(requests),
            capture: None,
            max_requests: 0,
            pause: Duration::ZERO,
        }
    }

    /// GetRequestStatus RetCode of one request: Some(code) when found.
    fn ret_code(
        conn: &mut load::Connection,
        server: &Scfd,
        name: &str,
        id: &str,
    ) -> Result<Option<i64>, String> {
        let req = server.request(
            "GetRequestStatus",
            &json!({"FunctionName": name, "FunctionRequestId": id}),
        );
        let answer = conn.round_trip(&req).map_err(|e| e.to_string())?;
        let body: Value = serde_json::from_slice(answer.body).map_err(|e| e.to_string())?;
        if let Some(e) = body["Response"].get("Error") {
            return Err(format!("GetRequestStatus: {e}"));
        }
        Ok(body["Response"]["Data"][0]["RetCode"].as_i64())
    }

    /// Waits until every id has a final RetCode; returns when the last one was seen final and
    /// how many failed. Polls a sample first, so the polling itself does not load the server
    /// while it drains; then checks every id.
    fn wait_drained(server: &Scfd, name: &str, ids: &[String]) -> Result<(Instant, u64), String> {
        let mut conn = load::Connection::open(&server.addr).map_err(|e| e.to_string())?;
        let deadline = Instant::now() + Duration::from_secs(300);
        let mut pending: Vec<&String> = ids.iter().collect();
        let mut failed = 0u64;
        let mut done_at = Instant::now();
        while !pending.is_empty() {
            if Instant::now() > deadline {
                return Err(format!(
                    "async drain: {} events not final after 300 s",
                    pending.len()
                ));
            }
            let stride = (pending.len() / 100).max(1);
            let mut sample_done = true;
            for id in pending.iter().step_by(stride) {
                let code = Self::ret_code(&mut conn, server, name, id)?;
                if !matches!(code, Some(0) | Some(-1)) {
                    sample_done = false;
                    break;
                }
            }
            if !sample_done {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            done_at = Instant::now();
            let mut still = Vec::new();
            for id in pending {
                match Self::ret_code(&mut conn, server, name, id)? {
                    Some(0) => {}
                    Some(-1) => failed += 1,
                    _ => still.push(id),
                }
            }
            if !still.is_empty() {
                // Not all done after all: the time counts from when these are.
                std::thread::sleep(Duration::from_millis(20));
            }
            pending = still;
        }
        Ok((done_at, failed))
    }

    /// Returns the ids of the requests accepted in the measured run.
    fn async_invokes(&mut self, server: &Scfd) -> Result<Vec<String>, String> {
        let name = "py-hello";
        let g = &format!("Async invoke (Event){}", self.store_label);
        let requests = Arc::new(vec![
            server.request("Invoke", &Scfd::invoke_params(name, true)),
        ]);
        let spec = |measure: Duration| LoadSpec {
            addr: &server.addr,
            clients: 8,
            warmup: Duration::ZERO,
            measure,
            requests: Arc::clone(&requests),
            capture: Some(b"\"FunctionRequestId\":\""),
            max_requests: 0,
            pause: Duration::ZERO,
        };
        say("async: warm-up (accept, then drain)");
        let warm = load::run(&spec(self.plan.warmup))?;
        fail_on_errors("async warm-up", &warm)?;
        Self::wait_drained(server, name, &warm.captured)?;

        say("async: accept rate with 8 clients, then the drain");
        let before = proc_stats::cpu(server.pid);
        let started = Instant::now();
        let r = load::run(&spec(self.plan.measure))?;
        let accept_cpu = proc_stats::cpu(server.pid) - before;
        let accepted_at = Instant::now();
        fail_on_errors("async accept", &r)?;
        if r.captured.len() as u64 != r.ok {
            return Err(format!(
                "async accept: {} answers without a FunctionRequestId",
                r.ok - r.captured.len() as u64
            ));
        }
        let mut row = Row::new(g, "Accept rate (durable before the answer)", 8)
            .with_load(&r)
            .with_cpu(accept_cpu)
            .with_memory(server.pid)
            .vs_throughput("fixed-JSON", self.ceiling_rps(8));
        let rps = r.throughput();
        row = row.target(
            "async accept ≥ 10,000/s",
            format!("{}/s", fmt_int(rps)),
            rps >= 10_000.0,
        );
        self.rows.push(row);

        let (done_at, failed) = Self::wait_drained(server, name, &r.captured)?;
        let total = done_at.duration_since(started).as_secs_f64();
        let cpu = proc_stats::cpu(server.pid) - before;
        let mut row = Row::new(g, "Drain, end to end: accepted → every RetCode final", 8)
            .with_cpu(cpu)
            .with_memory(server.pid);
        row.requests = r.captured.len() as u64;
        row.throughput = Some(r.captured.len() as f64 / total);
        if failed > 0 {
            row.errors.insert("RetCode=-1".into(), failed);
        }
        self.rows.push(row.note(format!(
            "{:.1} s from the first accept to the last final RetCode; {:.1} s after accepting stopped",
            total,
            done_at.saturating_duration_since(accepted_at).as_secs_f64()
        )));
        if failed > 0 {
            return Err(format!("async drain: {failed} events failed"));
        }
        Ok(r.captured)
    }

    /// The same scenarios on the PostgreSQL store at `url` (an empty database): warm Python
    /// invokes, async accept and drain, and GetRequestStatus over the async run's records.
    /// Targets are the embedded store's; these rows carry none.
    pub fn postgres(&mut self, url: &str) -> Result<(), String> {
        let dir = self.fresh_dir("pg-data")?;
        let server = Scfd::start(
            &self.bin_dir,
            &dir,
            &ServerConfig {
                store_url: Some(url.to_string()),
                ..ServerConfig::default()
            },
        )?;
        let first = self.rows.len();
        self.store_label = " — PostgreSQL store".into();
        let result = self
            .warm_invokes(&server, Kind::Python)
            .and_then(|()| self.async_invokes(&server))
            .and_then(|ids| self.request_status_of(&server, "py-hello", &ids));
        self.store_label.clear();
        for row in &mut self.rows[first..] {
            row.targets.clear();
        }
        server.stop();
        result
    }

    /// GetRequestStatus over records that exist (`ids` of function `name`), 1 and 16 clients.
    fn request_status_of(
        &mut self,
        server: &Scfd,
        name: &str,
        ids: &[String],
    ) -> Result<(), String> {
        if ids.is_empty() {
            return Err("no request ids to look up".into());
        }
        let g = &format!("GetRequestStatus (existing ids){}", self.store_label);
        let requests: Vec<Vec<u8>> = ids
            .iter()
            .take(self.plan.grs_distinct)
            .map(|id| {
                server.request(
                    "GetRequestStatus",
                    &json!({"FunctionName": name, "FunctionRequestId": id}),
                )
            })
            .collect();
        let requests = Arc::new(requests);
        for clients in [1, 16] {
            say(&format!(
                "GetRequestStatus{}: {} records, {clients} clients",
                self.store_label,
                fmt_int(ids.len() as f64)
            ));
            let (r, cpu) = self.measured(
                Some(server),
                self.steady_load(&server.addr, clients, &requests),
            )?;
            fail_on_errors("GetRequestStatus", &r)?;
            let row = Row::new(
                g,
                format!("{} records (the async run's)", fmt_int(ids.len() as f64)),
                clients,
            )
            .with_load(&r)
            .with_cpu(cpu)
            .with_memory(server.pid)
            .vs_latency("fixed-JSON", self.ceiling_p50(clients))
            .vs_throughput("fixed-JSON", self.ceiling_rps(clients));
            self.rows.push(row);
        }
        Ok(())
    }

    fn burst(&mut self, server: &Scfd) -> Result<(), String> {
        let name = "py-burst";
        server.deploy(name, Kind::Python, 128)?;
        server.call(
            "PutReservedConcurrencyConfig",
            json!({"FunctionName": name, "ReservedConcurrencyMem": 10 * 128}),
        )?;
        server.call("Invoke", Scfd::invoke_params(name, false))?;
        say(&format!(
            "burst: {} concurrent sync invokes, reserved concurrency 10",
            self.plan.burst
        ));
        let before = proc_stats::cpu(server.pid);
        let request = Arc::new(server.request("Invoke", &Scfd::invoke_params(name, false)));
        let r = load::burst(&server.addr, self.plan.burst, request)?;
        let cpu = proc_stats::cpu(server.pid) - before;
        let quota = r.errors.get("LimitExceeded.Quota").copied().unwrap_or(0);
        let other: u64 = r.error_count() - quota;
        let mut row = Row::new(
            "Burst",
            "1,000 concurrent sync invokes, reserved concurrency 10 (1280 MB / 128 MB)",
            self.plan.burst,
        )
        .with_load(&r)
        .with_cpu(cpu)
        .with_memory(server.pid);
        row.throughput = None;
        row = row.note(format!(
            "{} succeeded, {quota} LimitExceeded.Quota, {other} other; slowest {} ms; all answered within {:.0} ms",
            r.ok,
            fmt_ms(r.histogram.max() as f64 / 1e6),
            r.seconds * 1000.0
        ));
        self.rows.push(row);
        if other > 0 {
            return Err(format!("burst: unexpected errors {:?}", r.errors));
        }
        Ok(())
    }

    // ---------------------------------------------------------------- cold starts

    /// Cold starts of Python and Node.js on a server that keeps no instance warm.
    pub fn cold_starts(&mut self) -> Result<(), String> {
        let dir = self.fresh_dir("cold-data")?;
        let server = Scfd::start(
            &self.bin_dir,
            &dir,
            &ServerConfig {
                keep_alive_secs: 0,
                ..ServerConfig::default()
            },
        )?;
        for (kind, n) in [
            (Kind::Python, self.plan.cold_python),
            (Kind::Node, self.plan.cold_node),
        ] {
            self.cold_starts_of(&server, kind, n)?;
        }
        server.stop();
        Ok(())
    }

    /// One runtime's cold starts: `n / 2` requests 100 ms apart, then `n` back to back.
    fn cold_starts_of(&mut self, server: &Scfd, kind: Kind, n: u64) -> Result<(), String> {
        const COLD_PAUSE: Duration = Duration::from_millis(100);
        let g = "Cold start (keep_alive_secs = 0: a fresh sandboxed instance per invocation)";
        let name = if kind == Kind::Python {
            "py-cold"
        } else {
            "node-cold"
        };
        server.deploy(name, kind, 128)?;
        let requests = Arc::new(vec![
            server.request("Invoke", &Scfd::invoke_params(name, false)),
        ]);
        // Two loads: requests 100 ms apart (each finds the function idle: the cold
        // start a caller meets, the target) and back to back (how fast fresh instances
        // can be made, when every request waits for the previous one's replacement).
        for (pause, count, label) in [
            (COLD_PAUSE, n / 2, "an idle function, requests 100 ms apart"),
            (Duration::ZERO, n, "back to back"),
        ] {
            say(&format!("cold start: {} x{count}, {label}", kind.label()));
            let (r, cpu) = self.measured(
                Some(server),
                LoadSpec {
                    addr: &server.addr,
                    clients: 1,
                    warmup: Duration::from_millis(300),
                    measure: Duration::from_secs(120),
                    requests: Arc::clone(&requests),
                    capture: None,
                    max_requests: count,
                    pause,
                },
            )?;
            fail_on_errors(&format!("cold {}", kind.label()), &r)?;
            let row = Row::new(
                g,
                format!("{}, {}: {label}", kind.label(), kind.runtime()),
                1,
            )
            .with_load(&r)
            .with_cpu(cpu)
            .with_memory(server.pid);
            let row = self.cold_baselines_and_targets(row, kind, !pause.is_zero(), r.ms(0.5));
            self.rows.push(row);
        }
        Ok(())
    }

    /// Python's cold rows are compared with fork-per-invoke and the peers; the paced rows
    /// (an idle function, the start a caller meets) carry each runtime's target.
    fn cold_baselines_and_targets(&self, row: Row, kind: Kind, paced: bool, p50: f64) -> Row {
        match (kind, paced) {
            (Kind::Python, _) => {
                let row = row
                    .vs_latency("fork-per-invoke", self.base.fork_p50)
                    .vs_latency("sls-reload", self.peer("sls-reload seq_p50_ms"));
                if paced {
                    row.target(
                        "cold Python p50 ≤ 10 ms",
                        format!("{} ms", fmt_ms(p50)),
                        p50 <= 10.0,
                    )
                } else {
                    row
                }
            }
            (_, true) => row.target(
                "cold Node.js p50 ≤ 60 ms",
                format!("{} ms", fmt_ms(p50)),
                p50 <= 60.0,
            ),
            _ => row,
        }
    }

    // ---------------------------------------------------------------- GetRequestStatus

    /// GetRequestStatus of existing ids in a SQLite store bulk-loaded to each of the plan's
    /// sizes in turn, with 1 and 16 clients.
    pub fn request_status(&mut self) -> Result<(), String> {
        let dir = self.fresh_dir("grs-data")?;
        let name = "grs-hello";
        let db = self.store_with_function(&dir, name)?;
        let creds = crate::presign::Credentials::bench();
        let key = bulk_load::function_key(creds.app_id, REGION, name);
        let window = RecordTimes::ending_now();
        let mut loaded = 0u64;
        let mut rng = bulk_load::Rng::new(42);
        for &size in &self.plan.grs_sizes.clone() {
            self.bulk_load_to(&db, &key, loaded, size, window.base_ms)?;
            loaded = size;
            let server = Scfd::start(&self.bin_dir, &dir, &ServerConfig::default())?;
            let requests: Vec<Vec<u8>> = (0..self.plan.grs_distinct)
                .map(|_| {
                    let id = bulk_load::request_id(rng.below(size));
                    window.get_request_status(&server, name, &id)
                })
                .collect();
            every_id_found(&server, &requests)?;
            self.request_status_rows(&server, size, Arc::new(requests))?;
            server.stop();
        }
        Ok(())
    }

    /// A data dir whose store has function `name` (scfd started, the function deployed,
    /// scfd stopped); returns the database file the records are loaded into.
    fn store_with_function(&self, dir: &Path, name: &str) -> Result<PathBuf, String> {
        {
            let server = Scfd::start(&self.bin_dir, dir, &ServerConfig::default())?;
            server.deploy(name, Kind::Python, 128)?;
            server.stop();
        }
        let db = dir.join("scfd.db");
        if !db.exists() {
            return Err(format!(
                "{} does not exist after a start of scfd",
                db.display()
            ));
        }
        Ok(db)
    }

    /// Loads records `loaded..size` (scfd is down) and notes how long that took.
    fn bulk_load_to(
        &mut self,
        db: &Path,
        key: &scf_store::FunctionKey,
        loaded: u64,
        size: u64,
        base_ms: i64,
    ) -> Result<(), String> {
        say(&format!(
            "GetRequestStatus: loading to {} records",
            fmt_int(size as f64)
        ));
        let took = bulk_load::load(db, key, loaded, size, base_ms)?;
        self.notes.push(format!(
            "Bulk load of records {}..{}: {:.1} s ({} rows/s); database {:.0} MB.",
            fmt_int(loaded as f64),
            fmt_int(size as f64),
            took.as_secs_f64(),
            fmt_int((size - loaded) as f64 / took.as_secs_f64().max(1e-9)),
            std::fs::metadata(db)
                .map(|m| m.len() as f64 / 1e6)
                .unwrap_or(0.0)
        ));
        Ok(())
    }

    /// The rows of one store size, 1 and 16 clients; the 10M, 16-client row carries the
    /// targets.
    fn request_status_rows(
        &mut self,
        server: &Scfd,
        size: u64,
        requests: Arc<Vec<Vec<u8>>>,
    ) -> Result<(), String> {
        let g = "GetRequestStatus (existing ids spread over the table)";
        for clients in [1, 16] {
            say(&format!(
                "GetRequestStatus: {} records, {clients} clients",
                fmt_int(size as f64)
            ));
            let (r, cpu) = self.measured(
                Some(server),
                self.steady_load(&server.addr, clients, &requests),
            )?;
            fail_on_errors("GetRequestStatus", &r)?;
            let mut row = Row::new(g, format!("{} records", fmt_int(size as f64)), clients)
                .with_load(&r)
                .with_cpu(cpu)
                .with_memory(server.pid)
                .vs_latency("fixed-JSON", self.ceiling_p50(clients))
                .vs_throughput("fixed-JSON", self.ceiling_rps(clients));
            if size == 10_000_000 && clients == 16 {
                row = self.request_status_targets(row, &r);
            }
            self.rows.push(row);
        }
        Ok(())
    }

    /// The GetRequestStatus targets: at 10M records, 16 clients get 60% of the ceiling's
    /// throughput, and p99 stays under 2 ms.
    fn request_status_targets(&self, row: Row, r: &LoadResult) -> Row {
        let share = self
            .ceiling_rps(16)
            .map(|c| r.throughput() / c)
            .unwrap_or(0.0);
        let p99 = r.ms(0.99);
        row.target(
            "GRS 10M, 16 clients ≥ 60% of fixed-JSON",
            format!("{:.0}%", share * 100.0),
            share >= 0.6,
        )
        .target(
            "GRS 10M, 16 clients p99 ≤ 2 ms",
            format!("{} ms", fmt_ms(p99)),
            p99 <= 2.0,
        )
    }
}

/// The times of the loaded records and the query window around them.
struct RecordTimes {
    /// When the first record started; record i started `i` ms later.
    base_ms: i64,
    start_time: String,
    end_time: String,
}

impl RecordTimes {
    fn ending_now() -> Self {
        // Row i started at base + i ms: 10M rows span under 3 hours, inside the 72-h retention.
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default();
        let base_ms = now_ms - 4 * 3600 * 1000;
        // SCF's times are Beijing time (the config's default offset).
        RecordTimes {
            base_ms,
            start_time: scf_types::time::format_datetime(base_ms - 1000, 8 * 3600),
            end_time: scf_types::time::format_datetime(now_ms + 3600 * 1000, 8 * 3600),
        }
    }

    /// A GetRequestStatus of request `id` of function `name` over the whole window.
    fn get_request_status(&self, server: &Scfd, name: &str, id: &str) -> Vec<u8> {
        server.request(
            "GetRequestStatus",
            &json!({"FunctionName": name, "FunctionRequestId": id,
                    "StartTime": self.start_time, "EndTime": self.end_time}),
        )
    }
}

/// Every id exists: checks a few answers in full before measuring.
fn every_id_found(server: &Scfd, requests: &[Vec<u8>]) -> Result<(), String> {
    let mut conn = load::Connection::open(&server.addr).map_err(|e| e.to_string())?;
    for req in requests.iter().take(20) {
        let answer = conn.round_trip(req).map_err(|e| e.to_string())?;
        if !String::from_utf8_lossy(answer.body).contains("\"TotalCount\":1") {
            return Err(format!(
                "GetRequestStatus did not find a loaded record: {}",
                String::from_utf8_lossy(answer.body)
            ));
        }
    }
    Ok(())
}
