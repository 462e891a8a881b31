//! What scfd's figures are held against, measured in the same run:
//! * the raw floor: the handler in a warm `/usr/bin/python3` over a pipe, no server;
//! * the naive cold path: a fresh `/usr/bin/python3 -c` per call;
//! * the ceiling of any API call: a minimal axum server answering a fixed JSON body
//!   (`scf-bench fixed-json-server`), driven by the same load generator;
//! * the peers of /work/shared/bench, when (and only when) they are already installed.

use crate::load::new_histogram;
use crate::packages::PYTHON_HANDLER;
use hdrhistogram::Histogram;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The interpreter of both Python baselines (and of scfd's Python3.11 runtime on this machine).
pub const PYTHON: &str = "/usr/bin/python3";

/// The worker of the floor: reads JSON lines, calls the handler, writes JSON lines.
const FLOOR_WORKER: &str = r#"
import json, sys
from index import main_handler
out = sys.stdout
for line in sys.stdin:
    out.write(json.dumps(main_handler(json.loads(line), {})) + "\n")
    out.flush()
"#;

/// Writes the handler to `dir/index.py`.
pub fn write_handler(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("index.py"), PYTHON_HANDLER).map_err(|e| e.to_string())
}

/// Round trips to a warm worker over blocking std pipes; also its VmHWM in kB.
pub fn pipe_floor(dir: &Path, warmup: usize, n: usize) -> Result<(Histogram<u64>, u64), String> {
    write_handler(dir)?;
    let mut child = Command::new(PYTHON)
        .arg("-c")
        .arg(FLOOR_WORKER)
        .current_dir(dir)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("PYTHONPATH", dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{PYTHON}: {e}"))?;
    let mut stdin = child.stdin.take().expect("stdin was piped");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout was piped"));
    let mut hist = new_histogram();
    let mut line = String::new();
    let event = b"{}\n";
    for i in 0..warmup + n {
        let t = Instant::now();
        stdin.write_all(event).map_err(|e| e.to_string())?;
        line.clear();
        stdout.read_line(&mut line).map_err(|e| e.to_string())?;
        let ns = t.elapsed().as_nanos() as u64;
        if line.trim() != "{\"ok\": true}" {
            return Err(format!("the floor worker answered {line:?}"));
        }
        if i >= warmup {
            hist.saturating_record(ns);
        }
    }
    let hwm = crate::proc_stats::status_kb(child.id(), "VmHWM:").unwrap_or(0);
    drop(stdin);
    let _ = child.wait();
    Ok((hist, hwm))
}

/// A fresh interpreter per call: import the handler, call it, print JSON, exit.
pub fn fork_per_invoke(dir: &Path, n: usize) -> Result<Histogram<u64>, String> {
    write_handler(dir)?;
    let program = format!(
        "import sys, json; sys.path.insert(0, {:?}); from index import main_handler; \
         print(json.dumps(main_handler({{}}, {{}})))",
        dir.display().to_string()
    );
    let mut hist = new_histogram();
    for _ in 0..n {
        let t = Instant::now();
        let out = Command::new(PYTHON)
            .arg("-c")
            .arg(&program)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{PYTHON}: {e}"))?;
        let ns = t.elapsed().as_nanos() as u64;
        if String::from_utf8_lossy(&out.stdout).trim() != "{\"ok\": true}" {
            return Err(format!(
                "fork-per-invoke answered {:?}",
                String::from_utf8_lossy(&out.stdout)
            ));
        }
        hist.saturating_record(ns);
    }
    Ok(hist)
}

/// RSS in kB of `/usr/bin/python3 -c 'import time; time.sleep(1)'`, read half-way through.
pub fn interpreter_rss_kb() -> Result<u64, String> {
    let mut child = Command::new(PYTHON)
        .arg("-c")
        .arg("import time; time.sleep(1)")
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .spawn()
        .map_err(|e| format!("{PYTHON}: {e}"))?;
    std::thread::sleep(Duration::from_millis(500));
    let rss = crate::proc_stats::status_kb(child.id(), "VmRSS:").unwrap_or(0);
    let _ = child.wait();
    Ok(rss)
}

/// The body of the fixed-JSON server.
pub const FIXED_BODY: &str =
    r#"{"Response":{"Result":{"ok":true},"RequestId":"6f1c2a4e-93b1-4c1e-9e0b-2f7b1d7c0a55"}}"#;

/// `scf-bench fixed-json-server --listen ADDR`: axum on a multi-thread tokio runtime, POST /
/// answers `FIXED_BODY`. The ceiling of any API call on this stack.
pub fn serve_fixed_json(listen: &str) -> Result<(), String> {
    use axum::routing::post;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let app = axum::Router::new()
            .route(
                "/",
                post(|| async {
                    (
                        [(axum::http::header::CONTENT_TYPE, "application/json")],
                        FIXED_BODY,
                    )
                }),
            )
            .route("/healthz", axum::routing::get(|| async { "ok" }));
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| format!("{listen}: {e}"))?;
        axum::serve(listener, app).await.map_err(|e| e.to_string())
    })
}

/// Where run_peer_bench.sh expects the peers (it refuses to run without `.real_python`).
pub fn peers_dir() -> std::path::PathBuf {
    std::env::var_os("PEERS")
        .map(Into::into)
        .unwrap_or_else(|| std::env::temp_dir().join("scfd-peers"))
}

/// The peers' figures (`label metric value`), or why they were skipped.
pub fn peers(quick: bool) -> Result<Vec<(String, String, f64)>, String> {
    let dir = peers_dir();
    if !dir.join(".real_python").exists() {
        return Err(format!(
            "peers not installed ({} has no .real_python; /work/shared/bench/setup.sh installs them); skipped",
            dir.display()
        ));
    }
    let script = Path::new("/work/shared/bench/run_peer_bench.sh");
    let out = Command::new("bash")
        .arg(script)
        .env("PEER_LIST", "sls-warm sls-reload")
        .env("N", if quick { "500" } else { "2000" })
        .env("DURATION", if quick { "3" } else { "10" })
        .env("PREWARM", if quick { "1" } else { "3" })
        .output()
        .map_err(|e| format!("{}: {e}", script.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut figures = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() >= 3
            && let Ok(v) = f[2].parse::<f64>()
        {
            figures.push((f[0].to_string(), f[1].to_string(), v));
        }
    }
    if figures.is_empty() {
        return Err(format!(
            "the peer script printed no figures (exit {})",
            out.status
        ));
    }
    Ok(figures)
}
