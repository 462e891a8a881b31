//! The client commands of the `scfd` binary: deploy, invoke and inspect functions on a server,
//! through the signed API only (TC3-HMAC-SHA256, the same calls the official SDKs make), so
//! they work against any scfd they can reach, local or remote, and never touch its database.
//!
//! # Layout
//! * this module: the clap commands and their dispatch, the error type and its exit codes.
//! * [`client`]: one signed call, its answer or its Tencent error.
//! * [`credentials`]: endpoint, key and region from flags, environment, profile file, or the
//!   local server's `account.toml`.
//! * [`package`]: a folder zipped with its file modes.
//! * [`output`]: tables and detail blocks.
//! * `function`, `namespace`, `invoke`, `requests`: the commands themselves.

pub mod client;
pub mod credentials;
mod function;
mod invoke;
mod namespace;
pub mod output;
pub mod package;
mod progress;
mod requests;

use clap::{Args, Subcommand};
use client::Client;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// How to reach the server; each flag may also come from the environment or the profile file
/// (see [`credentials`]).
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Connection")]
pub struct Connection {
    /// The scfd API, http:// or https:// [env: SCFD_ENDPOINT] [default: http://127.0.0.1:9000]
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint: Option<String>,
    /// The key's SecretId [env: TENCENTCLOUD_SECRET_ID]
    #[arg(long, global = true, value_name = "ID")]
    pub secret_id: Option<String>,
    /// The key's SecretKey [env: TENCENTCLOUD_SECRET_KEY]
    #[arg(long, global = true, value_name = "KEY")]
    pub secret_key: Option<String>,
    /// [env: TENCENTCLOUD_REGION] [default: ap-guangzhou]
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// A PEM file of the CAs to trust for an https:// endpoint, instead of the built-in
    /// Mozilla roots [env: SCFD_CA_BUNDLE; SSL_CERT_FILE when nothing else names one]
    #[arg(long, global = true, value_name = "FILE")]
    pub ca_bundle: Option<String>,
}

/// The client commands, flattened into the binary's own command list beside `serve`.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Deploy, list, show and delete functions.
    Function {
        #[command(subcommand)]
        command: FunctionCommand,
        #[command(flatten)]
        connection: Connection,
    },
    /// List, create, update and delete namespaces.
    Namespace {
        #[command(subcommand)]
        command: NamespaceCommand,
        #[command(flatten)]
        connection: Connection,
    },
    /// Invoke a function; its return value goes to stdout.
    Invoke(InvokeArgs),
    /// What became of one request: running, succeeded or failed (GetRequestStatus).
    Status(StatusArgs),
    /// A function's logs, request by request (GetFunctionLogs).
    Logs(LogsArgs),
    /// A function's recent requests as a table.
    Requests(RequestsArgs),
    /// Write the endpoint, key and region to the profile file ($SCFD_PROFILE or
    /// ~/.scfd/profile.toml); asks for them on a terminal when no flag is given.
    Configure {
        #[command(flatten)]
        connection: Connection,
    },
    /// Print a shell completion script, e.g. `source <(scfd completion bash)`.
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand, Debug)]
pub enum FunctionCommand {
    /// Zip a folder and create the function, or update its code and configuration; then wait
    /// until it is Active. (Boxed: the largest of the commands, kept off the enum's size.)
    Deploy(Box<DeployArgs>),
    /// List the functions of a namespace.
    List {
        /// The namespace [default: default].
        #[arg(long, short = 'n')]
        namespace: Option<String>,
        /// Print the API's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show a function's configuration and status.
    Get {
        /// The function's name.
        name: String,
        /// The namespace [default: default].
        #[arg(long, short = 'n')]
        namespace: Option<String>,
        /// Print the API's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Delete a function.
    Delete {
        /// The function's name.
        name: String,
        /// The namespace [default: default].
        #[arg(long, short = 'n')]
        namespace: Option<String>,
    },
}

#[derive(Args, Debug)]
pub struct DeployArgs {
    /// The folder holding the code (everything in it but .git is packed, file modes kept).
    pub dir: PathBuf,
    /// The function's name.
    #[arg(long)]
    pub name: String,
    /// e.g. Python3.9, Nodejs18.15, CustomRuntime [default: CustomRuntime when the folder has
    /// a `bootstrap`, else the server's default runtime]. Fixed once the function exists.
    #[arg(long)]
    pub runtime: Option<String>,
    /// file.function [default: index.main_handler].
    #[arg(long)]
    pub handler: Option<String>,
    /// Memory in MB.
    #[arg(long, value_name = "MB")]
    pub memory: Option<u32>,
    /// Timeout in seconds.
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u32>,
    /// An environment variable; repeat for more. On an update, the given set replaces the
    /// function's variables; without --env they stay as they are.
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_env_pair)]
    pub env: Vec<(String, String)>,
    /// The namespace [default: default].
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    /// The function's description.
    #[arg(long)]
    pub description: Option<String>,
    /// The largest request the server takes: SCF's TC3 limit, scfd's `[http] tc3_post_bytes`.
    /// The zip travels base64-encoded inside it, so it can be about 3/4 of this.
    #[arg(long, value_name = "BYTES", default_value_t = 10 << 20)]
    pub request_limit: usize,
}

#[derive(Subcommand, Debug)]
pub enum NamespaceCommand {
    /// List the namespaces.
    List {
        /// Print the API's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Create a namespace.
    Create {
        /// The namespace's name.
        name: String,
        #[arg(long)]
        description: Option<String>,
    },
    /// Change a namespace's description.
    Update {
        /// The namespace's name.
        name: String,
        #[arg(long)]
        description: String,
    },
    /// Delete an empty namespace.
    Delete {
        /// The namespace's name.
        name: String,
    },
}

#[derive(Args, Debug)]
pub struct InvokeArgs {
    /// The function's name.
    pub name: String,
    /// `-`: read the event from stdin.
    #[arg(value_name = "-", value_parser = parse_dash, conflicts_with_all = ["event", "event_file"])]
    pub stdin: Option<Stdin>,
    /// The event, as JSON [default: {}].
    #[arg(long, value_name = "JSON", conflicts_with = "event_file")]
    pub event: Option<String>,
    /// Read the event from a file (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    pub event_file: Option<PathBuf>,
    /// Queue the invocation and print its request id instead of waiting.
    #[arg(long = "async")]
    pub is_async: bool,
    /// Also print the tail of the log (the last 4 KB) on stderr.
    #[arg(long, conflicts_with = "is_async")]
    pub tail: bool,
    /// A published version, or $LATEST [default: $LATEST].
    #[arg(long)]
    pub qualifier: Option<String>,
    /// The namespace [default: default].
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    #[command(flatten)]
    pub connection: Connection,
}

/// The `-` argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stdin;

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// The function's name.
    pub name: String,
    pub request_id: String,
    /// Print the API's Response JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// The namespace [default: default].
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    #[command(flatten)]
    pub connection: Connection,
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// The function's name.
    pub name: String,
    /// Only this request's log.
    #[arg(long, value_name = "ID")]
    pub request: Option<String>,
    /// Keep polling (every second) and print each new request's log when it ends; Ctrl-C
    /// stops.
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// How many of the latest requests to print.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub limit: u32,
    /// The namespace [default: default].
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    #[command(flatten)]
    pub connection: Connection,
}

#[derive(Args, Debug)]
pub struct RequestsArgs {
    /// The function's name.
    pub name: String,
    /// How many of the latest requests to list.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub limit: u32,
    /// The namespace [default: default].
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    #[command(flatten)]
    pub connection: Connection,
}

/// `KEY=VALUE` (the value may hold `=`).
pub fn parse_env_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("`{s}` is not KEY=VALUE")),
    }
}

fn parse_dash(s: &str) -> Result<Stdin, String> {
    if s == "-" {
        Ok(Stdin)
    } else {
        Err(format!(
            "unexpected `{s}`: give the event with --event JSON, --event-file FILE or - (stdin)"
        ))
    }
}

/// Why a command failed.
#[derive(Debug)]
pub enum CliError {
    /// The API answered with an error.
    Api {
        code: String,
        message: String,
        request_id: String,
    },
    /// Arguments or settings wrong before any call was made (exit code 2, as clap's own).
    Usage(String),
    /// Anything else: an endpoint that cannot be reached, an unreadable folder, a deployment
    /// that failed, a failed invocation.
    Failed(String),
    /// stdout was closed (`scfd logs f | head`): stop quietly.
    BrokenPipe,
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::BrokenPipe => 0,
            CliError::Api { .. } | CliError::Failed(_) => 1,
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Api {
                code,
                message,
                request_id,
            } => write!(f, "{code}: {message} (RequestId {request_id})"),
            CliError::Usage(m) | CliError::Failed(m) => f.write_str(m),
            CliError::BrokenPipe => f.write_str("stdout closed"),
        }
    }
}

/// Writes to stdout.
pub(crate) fn print(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::BrokenPipe => CliError::BrokenPipe,
            _ => CliError::Failed(format!("cannot write to stdout: {e}")),
        })
}

/// A progress or side note on stderr (never mixed into what scripts read from stdout).
pub(crate) fn note(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// `text` followed by a newline unless it ends with one (or is empty).
pub(crate) fn line(text: &str) -> String {
    if text.is_empty() || text.ends_with('\n') {
        text.to_string()
    } else {
        format!("{text}\n")
    }
}

/// Runs a client command; `cli` builds the whole command line, for completion scripts.
pub fn run(command: Command, cli: impl FnOnce() -> clap::Command) -> ExitCode {
    match dispatch(command, cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::BrokenPipe) => ExitCode::SUCCESS,
        Err(e) => {
            note(&format!("error: {e}"));
            ExitCode::from(e.exit_code())
        }
    }
}

fn dispatch(command: Command, cli: impl FnOnce() -> clap::Command) -> Result<(), CliError> {
    match command {
        Command::Function {
            command,
            connection,
        } => {
            let client = connect(&connection)?;
            match command {
                FunctionCommand::Deploy(args) => function::deploy(&client, &args),
                FunctionCommand::List { namespace, json } => {
                    function::list(&client, namespace.as_deref(), json)
                }
                FunctionCommand::Get {
                    name,
                    namespace,
                    json,
                } => function::get(&client, &name, namespace.as_deref(), json),
                FunctionCommand::Delete { name, namespace } => {
                    function::delete(&client, &name, namespace.as_deref())
                }
            }
        }
        Command::Namespace {
            command,
            connection,
        } => {
            let client = connect(&connection)?;
            match command {
                NamespaceCommand::List { json } => namespace::list(&client, json),
                NamespaceCommand::Create { name, description } => {
                    namespace::create(&client, &name, description.as_deref())
                }
                NamespaceCommand::Update { name, description } => {
                    namespace::update(&client, &name, &description)
                }
                NamespaceCommand::Delete { name } => namespace::delete(&client, &name),
            }
        }
        Command::Invoke(args) => {
            // Read the event before connecting: a bad one is a usage error, whatever the keys.
            let event = invoke::event(&args, &mut std::io::stdin().lock())?;
            invoke::invoke(&connect(&args.connection)?, &args, &event)
        }
        Command::Status(args) => requests::status(&connect(&args.connection)?, &args),
        Command::Logs(args) => requests::logs(&connect(&args.connection)?, &args),
        Command::Requests(args) => requests::requests(&connect(&args.connection)?, &args),
        Command::Configure { connection } => configure(&connection),
        Command::Completion { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cli(), "scfd", &mut script);
            print(&String::from_utf8_lossy(&script))
        }
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// A client for the resolved endpoint and key.
fn connect(connection: &Connection) -> Result<Client, CliError> {
    let path = credentials::profile_path(env);
    let profile = credentials::load_profile(&path)?;
    let settings = credentials::resolve(connection, env, &profile, &path, || {
        credentials::local_account(std::path::Path::new(credentials::LOCAL_ACCOUNT_FILE))
    })?;
    Client::new(settings)
}

/// `scfd configure`: the given flags over the profile as it is; on a terminal without flags,
/// one question per setting.
fn configure(flags: &Connection) -> Result<(), CliError> {
    let path = credentials::profile_path(env);
    let mut profile = credentials::load_profile(&path)?;
    let any_flag = flags.endpoint.is_some()
        || flags.secret_id.is_some()
        || flags.secret_key.is_some()
        || flags.region.is_some()
        || flags.ca_bundle.is_some();
    if any_flag {
        let set = |slot: &mut Option<String>, v: &Option<String>| {
            if let Some(v) = v {
                *slot = Some(v.clone()).filter(|v| !v.is_empty());
            }
        };
        set(&mut profile.endpoint, &flags.endpoint);
        set(&mut profile.secret_id, &flags.secret_id);
        set(&mut profile.secret_key, &flags.secret_key);
        set(&mut profile.region, &flags.region);
        set(&mut profile.ca_bundle, &flags.ca_bundle);
    } else if std::io::stdin().is_terminal() {
        let ask = |question: &str, current: &Option<String>, fallback: &str, secret: bool| {
            let shown = match current {
                Some(v) if secret => format!("****{}", tail(v, 4)),
                Some(v) => v.clone(),
                None => fallback.to_string(),
            };
            let _ = write!(std::io::stderr(), "{question} [{shown}]: ");
            let _ = std::io::stderr().flush();
            let mut answer = String::new();
            std::io::stdin()
                .read_line(&mut answer)
                .map_err(|e| CliError::Failed(format!("cannot read the answer: {e}")))?;
            let answer = answer.trim();
            Ok::<_, CliError>(if answer.is_empty() {
                current.clone()
            } else {
                Some(answer.to_string())
            })
        };
        profile.endpoint = ask(
            "Endpoint",
            &profile.endpoint,
            credentials::DEFAULT_ENDPOINT,
            false,
        )?;
        profile.secret_id = ask("SecretId", &profile.secret_id, "", false)?;
        profile.secret_key = ask("SecretKey", &profile.secret_key, "", true)?;
        profile.region = ask(
            "Region",
            &profile.region,
            credentials::DEFAULT_REGION,
            false,
        )?;
    } else {
        return Err(CliError::Usage(
            "give what to store: --endpoint, --secret-id, --secret-key, --region and/or \
             --ca-bundle"
                .into(),
        ));
    }
    credentials::save_profile(&path, &profile)?;
    print(&format!("wrote {}\n", path.display()))
}

/// The last `n` characters of `s`.
fn tail(s: &str, n: usize) -> &str {
    let start = s
        .char_indices()
        .rev()
        .nth(n.saturating_sub(1))
        .map_or(0, |(i, _)| i);
    &s[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_pairs() {
        assert_eq!(
            parse_env_pair("A=1"),
            Ok(("A".to_string(), "1".to_string()))
        );
        assert_eq!(
            parse_env_pair("URL=http://x/?a=b"),
            Ok(("URL".to_string(), "http://x/?a=b".to_string()))
        );
        assert_eq!(
            parse_env_pair("EMPTY="),
            Ok(("EMPTY".into(), String::new()))
        );
        assert!(parse_env_pair("novalue").is_err());
        assert!(parse_env_pair("=x").is_err());
    }

    #[test]
    fn exit_codes_and_messages() {
        let api = CliError::Api {
            code: "ResourceNotFound.Function".into(),
            message: "Function `x` does not exist.".into(),
            request_id: "r".into(),
        };
        assert_eq!(api.exit_code(), 1);
        assert_eq!(
            api.to_string(),
            "ResourceNotFound.Function: Function `x` does not exist. (RequestId r)"
        );
        assert_eq!(CliError::Usage("u".into()).exit_code(), 2);
        assert_eq!(CliError::Failed("f".into()).exit_code(), 1);
        assert_eq!(CliError::BrokenPipe.exit_code(), 0);
    }

    #[test]
    fn tails() {
        assert_eq!(tail("abcdef", 4), "cdef");
        assert_eq!(tail("ab", 4), "ab");
        assert_eq!(tail("", 4), "");
    }
}
