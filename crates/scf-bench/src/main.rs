//! `scf-bench`: scfd's benchmark suite (issue 4).
//!
//! # Layout
//! * [`presign`]: requests signed once with scfd's own TC3 signer, replayed as raw bytes.
//! * [`load`]: the load generator (a thread and a keep-alive connection per client, HDR
//!   histograms, warm-up) and the 1,000-connection burst.
//! * [`scfd_process`]: starting, configuring and stopping the server under test; set-up calls.
//! * [`packages`]: the hello functions (Python, Node.js, a custom runtime with a Python bootstrap).
//! * [`bulk_load`]: filling the SQLite file with millions of request records while scfd is down.
//! * [`baselines`]: the raw floor, fork-per-invoke, the fixed-JSON ceiling server, the peers.
//! * [`proc_stats`]: CPU and memory of scfd and everything below it, from `/proc`.
//! * [`scenarios`]: the scenarios, in the order they run; [`report`]: Markdown and JSON.

mod baselines;
mod bulk_load;
mod load;
mod machine;
mod packages;
mod presign;
mod proc_stats;
mod purge;
mod report;
mod scenarios;
mod scfd_process;

use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "scf-bench",
    about = "Runs scfd's benchmark suite and writes a Markdown table and a JSON file"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// About 2 minutes instead of about 8: shorter runs, GetRequestStatus at 1k and 100k only.
    #[arg(long)]
    quick: bool,
    /// Where the results and the scenarios' data dirs go [default: target/bench].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Where `scfd` and `scf-sandbox` are [default: this binary's folder, built if missing].
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// A PostgreSQL server for the PostgreSQL rows (a fresh database is created on it);
    /// default: a throwaway cluster started with scripts/pg.sh under the output folder.
    #[arg(long)]
    pg_url: Option<String>,
    /// Skip the PostgreSQL rows.
    #[arg(long)]
    no_pg: bool,
    /// `[sandbox] network` of the servers: "outbound" (scfd's default) or "none".
    #[arg(long, value_parser = ["outbound", "none"])]
    network: Option<String>,
    /// Only the baselines and the PostgreSQL rows.
    #[arg(long, conflicts_with = "no_pg")]
    pg_only: bool,
}

#[derive(Subcommand)]
enum Command {
    /// The ceiling baseline: POST / answers a fixed JSON body (axum + tokio, multi-thread).
    FixedJsonServer {
        #[arg(long)]
        listen: String,
    },
    /// The retention purge on a large SQLite store: time per batch (the lock a batch holds)
    /// and the wait of inserts meanwhile; prints one Markdown table row.
    Purge {
        /// Records loaded first; the oldest tenth are purged.
        #[arg(long, default_value_t = 10_000_000)]
        rows: u64,
    },
}

/// The workspace root, where `cargo build` runs and `target/` lives.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Builds scfd and its sandbox launcher next to this binary (a no-op when up to date).
fn build_scfd() -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["build", "--release", "-p", "scfd", "--bins"])
        .current_dir(workspace_root())
        .status()
        .map_err(|e| format!("cargo build: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cargo build --release -p scfd --bins: {status}"))
    }
}

fn say(msg: &str) {
    eprintln!("scf-bench: {msg}");
}

/// The PostgreSQL the PostgreSQL rows run on: a fresh database on `--pg-url`'s server, or on a
/// throwaway cluster that `scripts/pg.sh` starts (and this drops when done).
struct Postgres {
    database_url: String,
    version: String,
    origin: &'static str,
    cluster_dir: Option<PathBuf>,
}

impl Postgres {
    fn start(pg_url: Option<String>) -> Result<Postgres, String> {
        let script = workspace_root().join("scripts/pg.sh");
        let (server_url, cluster_dir, origin) = match pg_url {
            Some(url) => (url, None, "--pg-url"),
            None => {
                // Under /tmp: the cluster runs as the postgres user, who must reach its folder.
                let dir = std::env::temp_dir().join(format!("scf-bench-pg-{}", std::process::id()));
                let _ = std::process::Command::new("bash")
                    .arg(&script)
                    .arg("stop")
                    .arg(&dir)
                    .output();
                let started = std::process::Command::new("bash")
                    .arg(&script)
                    .arg("start")
                    .arg(&dir)
                    .output()
                    .map_err(|e| format!("scripts/pg.sh: {e}"))?;
                if !started.status.success() {
                    return Err(format!(
                        "scripts/pg.sh start failed: {}",
                        String::from_utf8_lossy(&started.stderr)
                    ));
                }
                let url = String::from_utf8_lossy(&started.stdout)
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                (url, Some(dir), "a throwaway cluster from scripts/pg.sh")
            }
        };
        let psql = |sql: &str| -> Result<String, String> {
            let o = std::process::Command::new("psql")
                .args([server_url.as_str(), "-qtA", "-c", sql])
                .output()
                .map_err(|e| format!("psql: {e}"))?;
            if o.status.success() {
                Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
            } else {
                Err(format!(
                    "psql {sql}: {}",
                    String::from_utf8_lossy(&o.stderr)
                ))
            }
        };
        let version = psql("SHOW server_version")?;
        let name = format!("scfd_bench_{}", std::process::id());
        psql(&format!("DROP DATABASE IF EXISTS {name}"))?;
        psql(&format!("CREATE DATABASE {name}"))?;
        let base = server_url
            .rsplit_once('/')
            .map(|(b, _)| b)
            .unwrap_or(&server_url);
        Ok(Postgres {
            database_url: format!("{base}/{name}"),
            version: format!("PostgreSQL {version}"),
            origin,
            cluster_dir,
        })
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(dir) = &self.cluster_dir {
            let _ = std::process::Command::new("bash")
                .arg(workspace_root().join("scripts/pg.sh"))
                .arg("stop")
                .arg(dir)
                .output();
        }
    }
}

/// The whole suite: every scenario the flags ask for, then the report, written even when a
/// scenario failed (with a note saying where the run stopped).
fn run_suite(cli: &Cli) -> Result<(), String> {
    if let Some(network) = &cli.network {
        let _ = scfd_process::NETWORK.set(network.clone());
    }
    let started = Instant::now();
    let bin_dir = scfd_bin_dir(cli)?;
    let out = out_dir(cli)?;
    let machine = machine::describe();
    let mut suite = scenarios::Suite::new(
        scenarios::Plan::new(cli.quick),
        out.clone(),
        bin_dir.clone(),
    );
    let result = run_scenarios(&mut suite, cli);
    if let Err(e) = &result {
        suite.notes.push(format!("**The run stopped early**: {e}"));
    }
    let report = report::Report {
        machine,
        quick: cli.quick,
        scfd_binary: bin_dir.join("scfd").display().to_string(),
        elapsed_seconds: started.elapsed().as_secs_f64(),
        rows: std::mem::take(&mut suite.rows),
        notes: std::mem::take(&mut suite.notes),
    };
    write_report(&out, results_name(cli), &report)?;
    result
}

/// Where `scfd` and `scf-sandbox` are: `--bin-dir`, or this binary's folder after building
/// them there. Either way both must be present.
fn scfd_bin_dir(cli: &Cli) -> Result<PathBuf, String> {
    let bin_dir = match &cli.bin_dir {
        Some(d) => d.clone(),
        None => {
            build_scfd()?;
            std::env::current_exe()
                .map_err(|e| e.to_string())?
                .parent()
                .expect("an executable lives in a folder")
                .to_path_buf()
        }
    };
    for bin in ["scfd", "scf-sandbox"] {
        if !bin_dir.join(bin).exists() {
            return Err(format!("{} is missing", bin_dir.join(bin).display()));
        }
    }
    Ok(bin_dir)
}

/// The output folder (`--out`, or `target/bench`), created, as an absolute path.
fn out_dir(cli: &Cli) -> Result<PathBuf, String> {
    let out = cli
        .out
        .clone()
        .unwrap_or_else(|| workspace_root().join("target/bench"));
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    out.canonicalize().map_err(|e| e.to_string())
}

/// The scenarios in their order: the baselines, then (unless `--pg-only`) the embedded store's,
/// then the PostgreSQL rows; the first failure stops the run.
fn run_scenarios(suite: &mut scenarios::Suite, cli: &Cli) -> Result<(), String> {
    suite.baselines()?;
    if !cli.pg_only {
        suite.warm_server()?;
        suite.cold_starts()?;
        suite.request_status()?;
    }
    postgres_rows(suite, cli)
}

/// The PostgreSQL rows on a fresh database, or a note that `--no-pg` skipped them.
fn postgres_rows(suite: &mut scenarios::Suite, cli: &Cli) -> Result<(), String> {
    if cli.no_pg {
        suite
            .notes
            .push("PostgreSQL rows: skipped (--no-pg).".into());
        return Ok(());
    }
    let pg = Postgres::start(cli.pg_url.clone())?;
    say(&format!("PostgreSQL store: {}", pg.database_url));
    let r = suite.postgres(&pg.database_url);
    suite.notes.push(format!(
        "PostgreSQL rows: {} on this machine ({}), a fresh database; scfd with `[store] url`.",
        pg.version, pg.origin
    ));
    r
}

/// The base name of the result files: a quick or PostgreSQL-only run does not overwrite a
/// full one.
fn results_name(cli: &Cli) -> &'static str {
    match (cli.quick, cli.pg_only) {
        (_, true) => "results-pg",
        (true, false) => "results-quick",
        (false, false) => "results",
    }
}

/// Writes `NAME.md` and `NAME.json` into `out` and prints the Markdown.
fn write_report(out: &Path, name: &str, report: &report::Report) -> Result<(), String> {
    let md = report.markdown();
    std::fs::write(out.join(format!("{name}.md")), &md).map_err(|e| e.to_string())?;
    let json = serde_json::to_string_pretty(report).expect("the report always serializes");
    std::fs::write(out.join(format!("{name}.json")), json).map_err(|e| e.to_string())?;
    println!("{md}");
    eprintln!(
        "scf-bench: wrote {} and {}",
        out.join(format!("{name}.md")).display(),
        out.join(format!("{name}.json")).display()
    );
    Ok(())
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Some(Command::FixedJsonServer { listen }) => baselines::serve_fixed_json(listen),
        Some(Command::Purge { rows }) => purge::run(
            &cli.out
                .clone()
                .unwrap_or_else(|| workspace_root().join("target/bench-purge")),
            *rows,
        ),
        None => run_suite(&cli),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scf-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
