//! The `scfd` binary.

use clap::{CommandFactory, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "scfd",
    version,
    about = "A self-hosted serverless platform that speaks Tencent Cloud SCF API 3.0"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the SCF API.
    Serve {
        /// Address to listen on [default: 127.0.0.1:9000].
        #[arg(long)]
        listen: Option<String>,
        /// Where scfd keeps its database and code packages [default: ./scfd-data].
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// A TOML config file.
        #[arg(long)]
        config: Option<PathBuf>,
        /// A PostgreSQL URL: share one store with other nodes [default: the embedded SQLite
        /// file in the data dir, or the config's `[store] url`].
        #[arg(long)]
        store: Option<String>,
        /// The server's own log: `human` (default) or `json` (one object a line, for log
        /// collectors). `SCFD_LOG` sets the filter, e.g. `SCFD_LOG=debug`.
        #[arg(long, value_enum, default_value_t = LogFormat::Human)]
        log_format: LogFormat,
        /// Start although the SQLite database is missing or empty while the data dir keeps
        /// code packages (scfd refuses that by default: the database was probably lost).
        #[arg(long)]
        accept_empty_database: bool,
    },
    /// The client commands: deploy, invoke, status, logs, ... (through the signed API).
    #[command(flatten)]
    Client(scfd::cli::Command),
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SCFD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        // Every line carries its span's fields: the API request's node, RequestId and action.
        LogFormat::Json => logs.json().with_current_span(true).init(),
        LogFormat::Human => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve {
            listen,
            data_dir,
            config,
            store,
            log_format,
            accept_empty_database,
        } => scfd::config::Config::load(config.as_deref()).and_then(|config| {
            init_logs(log_format);
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?
                .block_on(scfd::server::serve(scfd::server::ServeOptions {
                    listen,
                    data_dir,
                    store,
                    accept_empty_database,
                    config,
                }))
        }),
        // The client commands print their own errors and choose their exit codes; they leave
        // the server's log subscriber alone.
        Command::Client(command) => return scfd::cli::run(command, Cli::command),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scfd: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
