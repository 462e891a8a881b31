//! The command line, parsed by hand into a [`Plan`].
//!
//! This is a fixed internal interface spoken by the scfd server, so parsing is
//! strict: unknown options, repeated single options, relative paths and mount
//! options without `--unshare mount` are errors (exit 125) rather than guesses.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

pub const USAGE: &str = "usage: scf-sandbox [--cgroup DIR]... [--unshare user,pid,mount,ipc,uts,net] \
[--new-root] [--hide DIR]... [--bind-ro SRC:DST]... [--tmpfs DIR:SIZE]... [--uid N] [--gid N] \
[--rlimit NAME=SOFT[:HARD]]... [--chdir DIR] [--no-new-privs] [--seccomp] [--env KEY=VALUE]... \
[--stdin-null] [--listen PORT] [--hand-netns] [--wait-start] -- PROGRAM [ARGS...]\n       \
scf-sandbox --plan-stdin   (the same arguments, read from stdin: a 4-byte little-endian length, \
then the arguments separated by NUL bytes)\n       \
scf-sandbox --probe";

/// What the launcher was asked to do.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// Report which mechanisms work here, as JSON on stdout.
    Probe,
    Launch(Box<Plan>),
}

/// The namespaces named by `--unshare`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Namespaces {
    pub user: bool,
    pub pid: bool,
    pub mount: bool,
    pub ipc: bool,
    pub uts: bool,
    pub net: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub struct BindRo {
    pub src: PathBuf,
    pub dst: PathBuf,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Tmpfs {
    pub dir: PathBuf,
    /// Already validated: digits with an optional `k`/`m`/`g` suffix, so it can
    /// be pasted into the mount data string without escaping.
    pub size: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RlimitName {
    Nofile,
    Nproc,
    As,
    Cpu,
    Fsize,
    Core,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    pub name: RlimitName,
    pub soft: Limit,
    pub hard: Limit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Value(u64),
    Unlimited,
}

/// Everything `scf-sandbox [OPTIONS] -- PROGRAM [ARGS...]` asks for.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub cgroups: Vec<PathBuf>,
    pub namespaces: Namespaces,
    pub hides: Vec<PathBuf>,
    pub binds: Vec<BindRo>,
    pub tmpfs: Vec<Tmpfs>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub rlimits: Vec<Rlimit>,
    pub chdir: Option<PathBuf>,
    pub no_new_privs: bool,
    /// Build a fresh root (a tmpfs holding only the binds, tmpfs and a minimal `/dev` and
    /// `/proc`) and `pivot_root` into it: `--bind-ro` and `--tmpfs` targets are then paths
    /// inside that root, and nothing else of the host is reachable.
    pub new_root: bool,
    /// Install the seccomp filter (see `seccomp`) right before `execve`.
    pub seccomp: bool,
    /// PROGRAM's whole environment, applied only by the final `execve`; `None` = inherit ours.
    pub env: Option<Vec<OsString>>,
    /// Give PROGRAM `/dev/null` as stdin instead of ours.
    pub stdin_null: bool,
    /// Listen on 127.0.0.1:PORT in the new network namespace and hand the listener to the
    /// server over stdin (see `network`).
    pub listen: Option<u16>,
    /// Hand the new network namespace to the server over stdin.
    pub hand_netns: bool,
    /// PROGRAM's process waits for one byte on stdin (the server's go-ahead) before `execve`.
    pub wait_start: bool,
    /// PROGRAM followed by its ARGS; never empty.
    pub program: Vec<OsString>,
}

/// A malformed command line; the message names the offending option.
#[derive(Debug, PartialEq, Eq)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn usage(msg: impl Into<String>) -> UsageError {
    UsageError(msg.into())
}

/// Longest plan accepted on stdin.
const MAX_PLAN_BYTES: usize = 1 << 20;

/// Reads the arguments of `--plan-stdin` from fd 0: a 4-byte little-endian length, then that
/// many bytes of NUL-separated arguments. Exactly those bytes are read, nothing more: what
/// follows on stdin belongs to PROGRAM. The plan travels this way, not in argv, so that
/// `/proc/1/cmdline` inside the sandbox (the mini-init is a fork of this process) shows no
/// host path and no environment.
pub fn read_plan(input: &mut impl std::io::Read) -> Result<Vec<OsString>, UsageError> {
    let mut header = [0u8; 4];
    input
        .read_exact(&mut header)
        .map_err(|e| usage(format!("--plan-stdin: cannot read the length: {e}")))?;
    let len = u32::from_le_bytes(header) as usize;
    if len > MAX_PLAN_BYTES {
        return Err(usage(format!(
            "--plan-stdin: a plan of {len} bytes is too long"
        )));
    }
    let mut body = vec![0u8; len];
    input
        .read_exact(&mut body)
        .map_err(|e| usage(format!("--plan-stdin: cannot read the plan: {e}")))?;
    if body.is_empty() {
        return Ok(Vec::new());
    }
    Ok(body
        .split(|&b| b == 0)
        .map(|a| OsString::from(OsStr::from_bytes(a)))
        .collect())
}

/// Encodes `args` the way [`read_plan`] reads them (the server has its own copy).
#[cfg(test)]
pub fn encode_plan<S: AsRef<OsStr>>(args: &[S]) -> Vec<u8> {
    let mut body = Vec::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            body.push(0);
        }
        body.extend_from_slice(a.as_ref().as_bytes());
    }
    let mut out = (body.len() as u32).to_le_bytes().to_vec();
    out.extend(body);
    out
}

/// Parses the arguments after `argv[0]`.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, UsageError> {
    let mut args = args.into_iter();
    let mut plan = Plan::default();
    let mut seen_unshare = false;
    loop {
        let Some(arg) = args.next() else {
            return Err(usage("missing `-- PROGRAM`"));
        };
        let opt = arg
            .to_str()
            .ok_or_else(|| usage(format!("unknown option {arg:?}")))?;
        match opt {
            "--" => break,
            "--probe" => {
                if plan != Plan::default() || seen_unshare || args.next().is_some() {
                    return Err(usage("--probe takes no other arguments"));
                }
                return Ok(Command::Probe);
            }
            "--no-new-privs" | "--new-root" | "--seccomp" | "--stdin-null" | "--hand-netns"
            | "--wait-start" => {
                let flag = match opt {
                    "--no-new-privs" => &mut plan.no_new_privs,
                    "--new-root" => &mut plan.new_root,
                    "--seccomp" => &mut plan.seccomp,
                    "--hand-netns" => &mut plan.hand_netns,
                    "--wait-start" => &mut plan.wait_start,
                    _ => &mut plan.stdin_null,
                };
                if *flag {
                    return Err(usage(format!("{opt} given twice")));
                }
                *flag = true;
            }
            "--cgroup" | "--unshare" | "--hide" | "--bind-ro" | "--tmpfs" | "--uid" | "--gid"
            | "--rlimit" | "--chdir" | "--env" | "--listen" => {
                let value = args
                    .next()
                    .ok_or_else(|| usage(format!("{opt} needs a value")))?;
                match opt {
                    "--cgroup" => plan.cgroups.push(absolute(opt, &value)?),
                    "--unshare" => {
                        if seen_unshare {
                            return Err(usage("--unshare given twice"));
                        }
                        seen_unshare = true;
                        plan.namespaces = parse_namespaces(&value)?;
                    }
                    "--hide" => plan.hides.push(absolute(opt, &value)?),
                    "--bind-ro" => {
                        let (src, dst) = split_last_colon(opt, &value)?;
                        plan.binds.push(BindRo {
                            src: absolute(opt, src)?,
                            dst: absolute(opt, dst)?,
                        });
                    }
                    "--tmpfs" => {
                        let (dir, size) = split_last_colon(opt, &value)?;
                        plan.tmpfs.push(Tmpfs {
                            dir: absolute(opt, dir)?,
                            size: parse_size(size)?,
                        });
                    }
                    "--uid" => set_once(opt, &mut plan.uid, parse_id(opt, &value)?)?,
                    "--gid" => set_once(opt, &mut plan.gid, parse_id(opt, &value)?)?,
                    "--listen" => {
                        let port = value
                            .to_str()
                            .and_then(|s| s.parse::<u16>().ok())
                            .filter(|&p| p != 0)
                            .ok_or_else(|| usage(format!("--listen: {value:?} is not a port")))?;
                        set_once(opt, &mut plan.listen, port)?;
                    }
                    "--rlimit" => {
                        let limit = parse_rlimit(&value)?;
                        if plan.rlimits.iter().any(|r| r.name == limit.name) {
                            return Err(usage(format!("--rlimit {value:?}: limit given twice")));
                        }
                        plan.rlimits.push(limit);
                    }
                    "--env" => {
                        if !value.as_bytes().contains(&b'=') || value.as_bytes()[0] == b'=' {
                            return Err(usage(format!("--env: {value:?} is not KEY=VALUE")));
                        }
                        plan.env.get_or_insert_with(Vec::new).push(value);
                    }
                    _ => set_once(opt, &mut plan.chdir, absolute(opt, &value)?)?,
                }
            }
            _ => return Err(usage(format!("unknown option {opt:?}"))),
        }
    }
    plan.program = args.collect();
    if plan.program.is_empty() || plan.program[0].is_empty() {
        return Err(usage("missing PROGRAM after `--`"));
    }
    let needs_mount =
        !plan.hides.is_empty() || !plan.binds.is_empty() || !plan.tmpfs.is_empty() || plan.new_root;
    if needs_mount && !plan.namespaces.mount {
        return Err(usage(
            "--new-root, --hide, --bind-ro and --tmpfs need `--unshare mount` (they would change the host's mounts)",
        ));
    }
    if (plan.listen.is_some() || plan.hand_netns) && !plan.namespaces.net {
        return Err(usage(
            "--listen and --hand-netns need `--unshare net` (they hand over the instance's own namespace)",
        ));
    }
    if plan.new_root && !plan.namespaces.pid {
        return Err(usage(
            "--new-root needs `--unshare pid` (its /proc shows the instance's own processes only)",
        ));
    }
    Ok(Command::Launch(Box::new(plan)))
}

fn set_once<T>(opt: &str, slot: &mut Option<T>, value: T) -> Result<(), UsageError> {
    if slot.is_some() {
        return Err(usage(format!("{opt} given twice")));
    }
    *slot = Some(value);
    Ok(())
}

/// Mount points and cgroup dirs must be absolute: the launcher changes mounts
/// and working directory, so a relative path would be resolved against
/// whatever happens to be current.
fn absolute(opt: &str, value: &OsStr) -> Result<PathBuf, UsageError> {
    let path = Path::new(value);
    if !path.is_absolute() {
        return Err(usage(format!("{opt}: {value:?} is not an absolute path")));
    }
    Ok(path.to_path_buf())
}

/// `SRC:DST` and `DIR:SIZE` split at the *last* colon: the right-hand side is
/// a path inside the sandbox or a size, both under the server's control,
/// while the left-hand side is a host path that may itself contain a colon.
fn split_last_colon<'a>(opt: &str, value: &'a OsStr) -> Result<(&'a OsStr, &'a OsStr), UsageError> {
    let bytes = value.as_bytes();
    let at = bytes
        .iter()
        .rposition(|&b| b == b':')
        .ok_or_else(|| usage(format!("{opt}: {value:?} has no `:`")))?;
    Ok((
        OsStr::from_bytes(&bytes[..at]),
        OsStr::from_bytes(&bytes[at + 1..]),
    ))
}

fn parse_namespaces(value: &OsStr) -> Result<Namespaces, UsageError> {
    let text = value
        .to_str()
        .ok_or_else(|| usage(format!("--unshare: {value:?} is not UTF-8")))?;
    let mut ns = Namespaces::default();
    for name in text.split(',') {
        let slot = match name {
            "user" => &mut ns.user,
            "pid" => &mut ns.pid,
            "mount" => &mut ns.mount,
            "ipc" => &mut ns.ipc,
            "uts" => &mut ns.uts,
            "net" => &mut ns.net,
            _ => {
                return Err(usage(format!(
                    "--unshare: unknown namespace {name:?} (known: user,pid,mount,ipc,uts,net)"
                )));
            }
        };
        *slot = true;
    }
    Ok(ns)
}

fn parse_size(value: &OsStr) -> Result<String, UsageError> {
    let text = value.to_str().unwrap_or("");
    let digits = text.trim_end_matches(['k', 'K', 'm', 'M', 'g', 'G']);
    let suffix_len = text.len() - digits.len();
    if digits.is_empty() || suffix_len > 1 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(usage(format!(
            "--tmpfs: size {value:?} is not a number with an optional k/m/g suffix"
        )));
    }
    if digits.bytes().all(|b| b == b'0') {
        // tmpfs reads size=0 as "unlimited", the opposite of what was asked.
        return Err(usage("--tmpfs: size must be greater than 0"));
    }
    Ok(text.to_string())
}

fn parse_id(opt: &str, value: &OsStr) -> Result<u32, UsageError> {
    value
        .to_str()
        .and_then(|s| s.parse::<u32>().ok())
        .filter(|&id| id != u32::MAX) // (uid_t)-1 means "unchanged" to the kernel
        .ok_or_else(|| usage(format!("{opt}: {value:?} is not a valid id")))
}

fn parse_rlimit(value: &OsStr) -> Result<Rlimit, UsageError> {
    let bad = || usage(format!("--rlimit: {value:?} is not NAME=SOFT[:HARD]"));
    let text = value.to_str().ok_or_else(bad)?;
    let (name, limits) = text.split_once('=').ok_or_else(bad)?;
    let name = match name {
        "nofile" => RlimitName::Nofile,
        "nproc" => RlimitName::Nproc,
        "as" => RlimitName::As,
        "cpu" => RlimitName::Cpu,
        "fsize" => RlimitName::Fsize,
        "core" => RlimitName::Core,
        _ => {
            return Err(usage(format!(
                "--rlimit: unknown limit {name:?} (known: nofile,nproc,as,cpu,fsize,core)"
            )));
        }
    };
    let parse_limit = |s: &str| match s {
        "unlimited" => Some(Limit::Unlimited),
        _ => s.parse::<u64>().ok().map(Limit::Value),
    };
    // Like prlimit(1): a single value sets both the soft and the hard limit.
    let (soft, hard) = match limits.split_once(':') {
        Some((soft, hard)) => (parse_limit(soft), parse_limit(hard)),
        None => (parse_limit(limits), parse_limit(limits)),
    };
    let (Some(soft), Some(hard)) = (soft, hard) else {
        return Err(bad());
    };
    let above = |a: Limit, b: Limit| match (a, b) {
        (Limit::Unlimited, Limit::Value(_)) => true,
        (Limit::Value(a), Limit::Value(b)) => a > b,
        (_, Limit::Unlimited) => false,
    };
    if above(soft, hard) {
        return Err(usage(format!(
            "--rlimit: {value:?}: soft limit above hard limit"
        )));
    }
    Ok(Rlimit { name, soft, hard })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    fn plan(list: &[&str]) -> Plan {
        match parse(args(list)) {
            Ok(Command::Launch(plan)) => *plan,
            other => panic!("expected a plan, got {other:?}"),
        }
    }

    fn error(list: &[&str]) -> String {
        match parse(args(list)) {
            Err(UsageError(msg)) => msg,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn full_command_line() {
        let p = plan(&[
            "--cgroup",
            "/sys/fs/cgroup/memory/a",
            "--cgroup",
            "/sys/fs/cgroup/pids/a",
            "--unshare",
            "pid,mount,ipc,uts",
            "--hide",
            "/root",
            "--hide",
            "/data",
            "--bind-ro",
            "/srv/code:v1:/var/user",
            "--tmpfs",
            "/tmp:512m",
            "--uid",
            "65534",
            "--gid",
            "65534",
            "--rlimit",
            "nofile=64",
            "--rlimit",
            "cpu=1:2",
            "--chdir",
            "/var/user",
            "--no-new-privs",
            "--",
            "/usr/bin/python3",
            "-c",
            "pass",
        ]);
        assert_eq!(p.cgroups.len(), 2);
        assert_eq!(
            p.namespaces,
            Namespaces {
                pid: true,
                mount: true,
                ipc: true,
                uts: true,
                ..Namespaces::default()
            }
        );
        assert_eq!(p.hides, [PathBuf::from("/root"), PathBuf::from("/data")]);
        assert_eq!(
            p.binds,
            [BindRo {
                src: "/srv/code:v1".into(),
                dst: "/var/user".into()
            }]
        );
        assert_eq!(
            p.tmpfs,
            [Tmpfs {
                dir: "/tmp".into(),
                size: "512m".into()
            }]
        );
        assert_eq!((p.uid, p.gid), (Some(65534), Some(65534)));
        assert_eq!(
            p.rlimits,
            [
                Rlimit {
                    name: RlimitName::Nofile,
                    soft: Limit::Value(64),
                    hard: Limit::Value(64)
                },
                Rlimit {
                    name: RlimitName::Cpu,
                    soft: Limit::Value(1),
                    hard: Limit::Value(2)
                },
            ]
        );
        assert_eq!(p.chdir, Some(PathBuf::from("/var/user")));
        assert!(p.no_new_privs);
        assert_eq!(p.program, args(&["/usr/bin/python3", "-c", "pass"]));
    }

    #[test]
    fn program_args_may_look_like_options() {
        let p = plan(&["--", "/bin/sh", "--probe", "--"]);
        assert_eq!(p.program, args(&["/bin/sh", "--probe", "--"]));
    }

    #[test]
    fn probe_stands_alone() {
        assert_eq!(parse(args(&["--probe"])), Ok(Command::Probe));
        error(&["--probe", "--", "/bin/true"]);
        error(&["--no-new-privs", "--probe"]);
    }

    #[test]
    fn rejects_bad_command_lines() {
        for bad in [
            &["/bin/true"][..],
            &["--"],
            &["--bogus", "--", "/bin/true"],
            &["--uid", "--", "/bin/true"],
            &["--uid", "x", "--", "/bin/true"],
            &["--uid", "1", "--uid", "2", "--", "/bin/true"],
            &["--unshare", "pid,cgroup", "--", "/bin/true"],
            &["--unshare", "pid", "--unshare", "net", "--", "/bin/true"],
            &["--hide", "/root", "--", "/bin/true"],
            &["--unshare", "mount", "--hide", "root", "--", "/bin/true"],
            &["--unshare", "mount", "--tmpfs", "/tmp", "--", "/bin/true"],
            &["--unshare", "mount", "--tmpfs", "/tmp:0", "--", "/bin/true"],
            &[
                "--unshare",
                "mount",
                "--tmpfs",
                "/tmp:5m,mode=0",
                "--",
                "/bin/true",
            ],
            &["--rlimit", "stack=1", "--", "/bin/true"],
            &["--rlimit", "nofile=10:5", "--", "/bin/true"],
            &[
                "--rlimit",
                "nofile=1",
                "--rlimit",
                "nofile=2",
                "--",
                "/bin/true",
            ],
            &["--chdir", "relative", "--", "/bin/true"],
        ] {
            error(bad);
        }
    }

    #[test]
    fn plan_round_trips_through_stdin() {
        let args = [
            "--env",
            "A=1",
            "--new-root",
            "--unshare",
            "pid,mount",
            "--",
            "/bin/true",
        ];
        let bytes = encode_plan(&args);
        let mut reader = &bytes[..];
        let read = read_plan(&mut reader).expect("plan");
        assert_eq!(read, args.iter().map(OsString::from).collect::<Vec<_>>());
        let p = plan(&args);
        assert!(p.new_root);
        assert_eq!(p.env, Some(vec![OsString::from("A=1")]));
        // Truncated, or too long.
        assert!(read_plan(&mut &bytes[..bytes.len() - 1]).is_err());
        assert!(read_plan(&mut &[0xff, 0xff, 0xff, 0x7f][..]).is_err());
        error(&["--env", "NOEQUALS", "--", "/bin/true"]);
        error(&["--unshare", "mount", "--new-root", "--", "/bin/true"]);
    }

    #[test]
    fn network_handoff_needs_a_network_namespace() {
        let p = plan(&[
            "--unshare",
            "net",
            "--listen",
            "9001",
            "--hand-netns",
            "--wait-start",
            "--",
            "/bin/true",
        ]);
        assert_eq!(p.listen, Some(9001));
        assert!(p.hand_netns && p.wait_start);
        error(&["--listen", "9001", "--", "/bin/true"]);
        error(&["--hand-netns", "--", "/bin/true"]);
        error(&["--unshare", "net", "--listen", "0", "--", "/bin/true"]);
        error(&["--unshare", "net", "--listen", "x", "--", "/bin/true"]);
        error(&[
            "--unshare",
            "net",
            "--listen",
            "1",
            "--listen",
            "2",
            "--",
            "/bin/true",
        ]);
    }

    #[test]
    fn unlimited_rlimits() {
        let p = plan(&["--rlimit", "core=0:unlimited", "--", "/bin/true"]);
        assert_eq!(p.rlimits[0].soft, Limit::Value(0));
        assert_eq!(p.rlimits[0].hard, Limit::Unlimited);
    }
}
