//! Runs the built `scf-sandbox` binary and checks each mechanism from the
//! inside. These tests expect root (this machine and CI run as root); a test
//! skips, saying why, only when `--probe` reports its mechanism unavailable.
//! Each assertion fails if the mechanism it covers is missing.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const SANDBOX: &str = env!("CARGO_BIN_EXE_scf-sandbox");
/// The real interpreter, not the pyenv bash shim found on PATH.
const PYTHON: &str = "/usr/bin/python3";

fn sandbox(args: &[&str]) -> Command {
    let mut cmd = Command::new(SANDBOX);
    cmd.args(args);
    cmd
}

fn run(args: &[&str]) -> Output {
    sandbox(args)
        .stdin(Stdio::null())
        .output()
        .expect("spawn scf-sandbox")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[track_caller]
fn assert_code(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        stdout(out),
        stderr(out)
    );
}

fn probe() -> &'static serde_json::Value {
    static PROBE: OnceLock<serde_json::Value> = OnceLock::new();
    PROBE.get_or_init(|| {
        let out = run(&["--probe"]);
        assert_code(&out, 0);
        serde_json::from_slice(&out.stdout).expect("--probe prints JSON")
    })
}

/// True if the namespaces are available; otherwise prints why the test skips.
fn have_namespaces(names: &[&str]) -> bool {
    for name in names {
        if probe()["namespaces"][name] != true {
            eprintln!(
                "skipping: {name} namespace unavailable here: {}",
                probe()["errors"][name]
            );
            return false;
        }
    }
    true
}

fn temp_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("scf-sandbox-test")
        .tempdir()
        .expect("create temp dir");
    // Reachable for the uid-drop test and for the host-view checks.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

fn path_arg(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

/// A child cgroup created for one test and removed afterwards.
struct TestCgroup(PathBuf);

impl TestCgroup {
    /// Creates a child of the directory `--probe` reported under `key`, or
    /// prints why the test skips.
    fn create(key: &str, name: &str) -> Option<TestCgroup> {
        let Some(parent) = probe()[key].as_str() else {
            eprintln!(
                "skipping: {key} unavailable here: {}",
                probe()["errors"][key]
            );
            return None;
        };
        let dir = Path::new(parent).join(format!("scf-sandbox-test-{}-{name}", std::process::id()));
        std::fs::create_dir(&dir).expect("create test cgroup");
        Some(TestCgroup(dir))
    }

    fn write(&self, file: &str, value: &str) {
        std::fs::write(self.0.join(file), value).unwrap_or_else(|e| panic!("write {file}: {e}"));
    }

    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.0.join(file)).unwrap_or_else(|e| panic!("read {file}: {e}"))
    }

    fn arg(&self) -> &str {
        path_arg(&self.0)
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        // A cgroup can only be removed once empty; the processes are gone
        // (their PID namespace died with them) but the kernel may lag briefly.
        for _ in 0..100 {
            if std::fs::remove_dir(&self.0).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("warning: could not remove test cgroup {}", self.0.display());
    }
}

/// Pids of the direct children of `parent` (scanning /proc: this kernel has
/// no `/proc/PID/task/TID/children`).
fn children_of(parent: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        if stat_field(&stat, 4) == Some(parent) {
            found.push(pid);
        }
    }
    found
}

/// Field `n` (1-based, as in proc(5)) of a `/proc/PID/stat` line.
fn stat_field(stat: &str, n: usize) -> Option<u32> {
    // The command name (field 2) may contain spaces; it ends at the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(n - 3)?.parse().ok()
}

fn wait_with_timeout(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("scf-sandbox did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Spawns the launcher with piped stdout and waits for the program to print
/// `ready` (so it has set up whatever the test needs).
fn spawn_until_ready(args: &[&str]) -> Child {
    let mut child = sandbox(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn scf-sandbox");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().expect("piped stdout"))
        .read_line(&mut line)
        .expect("read ready line");
    assert_eq!(line, "ready\n");
    child
}

#[test]
fn probe_reports_every_mechanism() {
    let p = probe();
    for key in [
        "uid",
        "namespaces",
        "cgroup_v1_memory",
        "cgroup_v1_pids",
        "cgroup_v2",
        "cgroup_v2_memory",
        "no_new_privs",
        "errors",
    ] {
        assert!(p.get(key).is_some(), "probe lacks {key}: {p}");
    }
    for ns in ["user", "pid", "mount", "ipc", "uts", "net"] {
        assert!(p["namespaces"][ns].is_boolean(), "namespaces.{ns}: {p}");
        if p["namespaces"][ns] == false {
            assert!(
                p["errors"][ns].is_string(),
                "a failed {ns} needs a reason: {p}"
            );
        }
    }
    // Every reported cgroup directory is one of ours.
    let own = std::fs::read_to_string("/proc/self/cgroup").expect("read /proc/self/cgroup");
    if let Some(dir) = p["cgroup_v1_memory"].as_str() {
        let path = own
            .lines()
            .find_map(|l| l.split_once(":memory:").map(|(_, path)| path))
            .expect("a memory line in /proc/self/cgroup");
        assert!(dir.ends_with(path.trim_end_matches('/')), "{dir} vs {path}");
        assert!(Path::new(dir).join("memory.limit_in_bytes").exists());
    }
}

#[test]
fn pid_namespace_gives_the_program_its_own_proc_under_a_mini_init() {
    if !have_namespaces(&["pid", "mount"]) {
        return;
    }
    // Shell builtins only, so the shell is the namespace's one process.
    let out = run(&[
        "--unshare",
        "pid,mount",
        "--",
        "/bin/sh",
        "-c",
        "echo $$; for d in /proc/[0-9]*; do echo $d; done",
    ]);
    assert_code(&out, 0);
    // PID 1 is the launcher's mini-init; the program is PID 2 and sees only
    // the two of them.
    assert_eq!(stdout(&out), "2\n/proc/1\n/proc/2\n");
}

#[test]
fn a_program_that_signals_itself_dies_of_it() {
    if !have_namespaces(&["pid", "mount"]) {
        return;
    }
    // As PID 1 the kernel would drop this SIGSEGV; as PID 2 it kills, as on SCF.
    let out = run(&[
        "--unshare",
        "pid,mount",
        "--",
        PYTHON,
        "-c",
        "import os; os.kill(os.getpid(), 11); print('survived')",
    ]);
    assert_code(&out, 128 + 11);
    assert_eq!(stdout(&out), "");
}

#[test]
fn hide_makes_a_directory_empty_and_leaves_the_host_alone() {
    if !have_namespaces(&["mount"]) {
        return;
    }
    let dir = temp_dir();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "s3cret").expect("write secret");
    let script = format!(
        "ls -A {d}; cat {s} 2>/dev/null && echo LEAK; touch {d}/new 2>/dev/null && echo WRITABLE; echo done",
        d = path_arg(dir.path()),
        s = path_arg(&secret)
    );
    let out = run(&[
        "--unshare",
        "mount",
        "--hide",
        path_arg(dir.path()),
        "--",
        "/bin/sh",
        "-c",
        &script,
    ]);
    assert_code(&out, 0);
    assert_eq!(
        stdout(&out),
        "done\n",
        "the hidden dir must look empty and read-only"
    );
    // The mount stayed inside the namespace.
    assert_eq!(
        std::fs::read_to_string(&secret).expect("host still sees it"),
        "s3cret"
    );
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("read mountinfo");
    assert!(
        !mounts.contains(path_arg(dir.path())),
        "mount leaked to the host"
    );
}

const WRITE_PROBE: &str = "import errno, sys\n\
try:\n    open(sys.argv[1], 'w').write('x')\n    print('written')\n\
except OSError as e:\n    print(errno.errorcode[e.errno])\n";

#[test]
fn bind_ro_shows_a_directory_read_only() {
    if !have_namespaces(&["mount"]) {
        return;
    }
    let (src, dst) = (temp_dir(), temp_dir());
    std::fs::write(src.path().join("code.py"), "print(1)").expect("write code");
    let bind = format!("{}:{}", path_arg(src.path()), path_arg(dst.path()));
    let target = dst.path().join("code.py");
    let out = run(&[
        "--unshare",
        "mount",
        "--bind-ro",
        &bind,
        "--",
        PYTHON,
        "-c",
        &format!("{WRITE_PROBE}print(open(sys.argv[1]).read())"),
        path_arg(&target),
    ]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "EROFS\nprint(1)\n");
    // Control: the same write works on the host, so EROFS came from the bind.
    assert!(!target.exists(), "the bind mount leaked to the host");
    std::fs::write(src.path().join("code.py"), "x").expect("source stays writable on the host");
}

#[test]
fn bind_ro_shows_through_a_hidden_parent() {
    if !have_namespaces(&["mount"]) {
        return;
    }
    let (hidden, src) = (temp_dir(), temp_dir());
    std::fs::write(hidden.path().join("private"), "no").expect("write private");
    std::fs::write(src.path().join("lib.py"), "yes").expect("write lib");
    // The mount point does not exist: it must be created inside the hide.
    let dst = hidden.path().join("versions/3.9.18");
    let bind = format!("{}:{}", path_arg(src.path()), path_arg(&dst));
    let script = format!(
        "ls -A {h} 2>/dev/null || echo unlistable; ls -A {h}/versions; cat {d}/lib.py; echo; \
         cat {h}/private 2>/dev/null || echo hidden; mkdir {h}/x 2>/dev/null || echo ro",
        h = path_arg(hidden.path()),
        d = path_arg(&dst)
    );
    let out = run(&[
        "--unshare",
        "mount",
        "--hide",
        path_arg(hidden.path()),
        "--bind-ro",
        &bind,
        "--uid",
        "65534",
        "--gid",
        "65534",
        "--",
        "/bin/sh",
        "-c",
        &script,
    ]);
    assert_code(&out, 0);
    // The hidden directory cannot be listed (mode 711) but can be walked
    // through to the bind.
    assert_eq!(stdout(&out), "unlistable\n3.9.18\nyes\nhidden\nro\n");
    assert!(
        !hidden.path().join("versions").exists(),
        "mount point created on the host"
    );
}

#[test]
fn bind_ro_re_exposes_a_directory_from_inside_the_hidden_one() {
    if !have_namespaces(&["mount"]) {
        return;
    }
    // The pyenv case: hide /root, show /root/.pyenv/versions/X again.
    let home = temp_dir();
    let version = home.path().join(".pyenv/versions/3.9.18");
    std::fs::create_dir_all(&version).expect("mkdir version");
    std::fs::write(version.join("python"), "interpreter").expect("write");
    std::fs::write(home.path().join(".pyenv/secret"), "no").expect("write");
    let v = path_arg(&version);
    let bind = format!("{v}:{v}");
    let script = format!(
        "cat {v}/python; echo; ls -A {h}/.pyenv; cat {h}/.pyenv/secret 2>/dev/null || echo hidden",
        h = path_arg(home.path())
    );
    let out = run(&[
        "--unshare",
        "mount",
        "--hide",
        path_arg(home.path()),
        "--bind-ro",
        &bind,
        "--",
        "/bin/sh",
        "-c",
        &script,
    ]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "interpreter\nversions\nhidden\n");
}

#[test]
fn tmpfs_is_writable_sticky_and_capped() {
    if !have_namespaces(&["mount"]) {
        return;
    }
    let dir = temp_dir();
    let script = "import errno, os, stat, sys\n\
d = sys.argv[1]\n\
print(oct(stat.S_IMODE(os.stat(d).st_mode)))\n\
open(d + '/small', 'wb').write(b'x' * (512 << 10))\n\
print('small ok')\n\
try:\n    f = open(d + '/big', 'wb'); f.write(b'x' * (2 << 20)); f.flush()\n    print('big ok')\n\
except OSError as e:\n    print(errno.errorcode[e.errno])\n";
    let tmpfs = format!("{}:1m", path_arg(dir.path()));
    let out = run(&[
        "--unshare",
        "mount",
        "--tmpfs",
        &tmpfs,
        "--",
        PYTHON,
        "-c",
        script,
        path_arg(dir.path()),
    ]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "0o1777\nsmall ok\nENOSPC\n");
    assert!(
        !dir.path().join("small").exists(),
        "wrote through to the host dir"
    );
}

#[test]
fn uid_drop_loses_root_access() {
    let dir = temp_dir();
    let secret = dir.path().join("root-only");
    std::fs::write(&secret, "s3cret").expect("write secret");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
    let script = "import os, sys\n\
print(os.getuid(), os.geteuid(), os.getgid(), os.getgroups())\n\
try:\n    open(sys.argv[1]).read(); print('read')\n\
except PermissionError:\n    print('denied')\n";
    // Control: without --uid the launcher keeps root and can read it.
    let out = run(&["--", PYTHON, "-c", script, path_arg(&secret)]);
    assert_code(&out, 0);
    assert!(stdout(&out).ends_with("read\n"), "{}", stdout(&out));

    let out = run(&[
        "--uid",
        "65534",
        "--gid",
        "65534",
        "--",
        PYTHON,
        "-c",
        script,
        path_arg(&secret),
    ]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "65534 65534 65534 []\ndenied\n");
}

#[test]
fn rlimit_nofile_is_seen_by_the_child() {
    let script = "ulimit -Sn; ulimit -Hn";
    let out = run(&["--", "/bin/sh", "-c", script]);
    assert_ne!(
        stdout(&out),
        "64\n64\n",
        "control: the default must differ from 64"
    );
    let out = run(&[
        "--rlimit",
        "nofile=64",
        "--unshare",
        "pid",
        "--",
        "/bin/sh",
        "-c",
        script,
    ]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "64\n64\n");
    let out = run(&["--rlimit", "nofile=32:64", "--", "/bin/sh", "-c", script]);
    assert_eq!(stdout(&out), "32\n64\n");
}

#[test]
fn memory_cgroup_kills_an_oversized_child() {
    if !have_namespaces(&["pid"]) {
        return;
    }
    let Some(cg) = TestCgroup::create("cgroup_v1_memory", "mem") else {
        return;
    };
    cg.write("memory.limit_in_bytes", &(64u64 << 20).to_string());
    let args = |size: &str| {
        run(&[
            "--cgroup",
            cg.arg(),
            "--unshare",
            "pid",
            "--",
            PYTHON,
            "-c",
            &format!("bytearray({size})"),
        ])
    };
    // Control: a child well under the limit runs fine in the same cgroup.
    assert_code(&args("20 << 20"), 0);
    cg.write("memory.max_usage_in_bytes", "0");
    let out = args("200 << 20");
    assert_code(&out, 137);
    let peak: u64 = cg
        .read("memory.max_usage_in_bytes")
        .trim()
        .parse()
        .expect("a number");
    assert!(
        peak > (32 << 20) && peak <= (64 << 20),
        "max_usage_in_bytes = {peak}"
    );
    assert!(
        cg.read("memory.oom_control").contains("oom_kill 1"),
        "{}",
        cg.read("memory.oom_control")
    );
}

#[test]
fn pids_cgroup_stops_a_fork_loop() {
    if !have_namespaces(&["pid"]) {
        return;
    }
    let Some(cg) = TestCgroup::create("cgroup_v1_pids", "pids") else {
        return;
    };
    cg.write("pids.max", "20");
    // Python (PID 2 under the mini-init) forks 40 sleepers; the pid namespace
    // kills the survivors when it exits, which leaves the cgroup empty.
    let script = r"
import errno, os, time
forked = 0
for _ in range(40):
    try:
        pid = os.fork()
    except OSError as e:
        print('refused', errno.errorcode[e.errno])
        break
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    forked += 1
print('forked', forked)
";
    let out = run(&[
        "--cgroup",
        cg.arg(),
        "--unshare",
        "pid",
        "--",
        PYTHON,
        "-c",
        script,
    ]);
    assert_code(&out, 0);
    // The launcher (supervising outside the namespace), the mini-init and
    // Python itself are three of the 20.
    assert_eq!(stdout(&out), "refused EAGAIN\nforked 17\n");
    let events = cg.read("pids.events");
    let refused: u32 = events
        .trim()
        .strip_prefix("max ")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(refused > 0, "pids.events: {events}");
}

#[test]
fn stdin_and_stdout_pass_through() {
    for extra in [&[][..], &["--unshare", "pid,mount"][..]] {
        if !extra.is_empty() && !have_namespaces(&["pid", "mount"]) {
            continue;
        }
        let mut args = extra.to_vec();
        args.extend(["--", "/bin/cat"]);
        let mut child = sandbox(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut stdin = child.stdin.take().expect("piped stdin");
        stdin
            .write_all(b"hello through the sandbox\n")
            .expect("write");
        drop(stdin);
        let out = child.wait_with_output().expect("wait");
        assert_code(&out, 0);
        assert_eq!(
            stdout(&out),
            "hello through the sandbox\n",
            "with {extra:?}"
        );
        assert_eq!(stderr(&out), "");
    }
}

#[test]
fn exit_codes() {
    assert_code(&run(&["--", "/bin/true"]), 0);
    assert_code(&run(&["--", "/bin/sh", "-c", "exit 3"]), 3);
    assert_code(&run(&["--", "/nonexistent/program"]), 127);
    assert_code(&run(&["--", "no-such-program-on-path"]), 127);
    assert_code(&run(&["--", "/etc/hostname"]), 126); // not executable
    let bad = run(&["--no-such-option", "--", "/bin/true"]);
    assert_code(&bad, 125);
    assert!(
        stderr(&bad).starts_with("scf-sandbox: "),
        "{}",
        stderr(&bad)
    );
    assert_code(
        &run(&["--cgroup", "/nonexistent/cgroup", "--", "/bin/true"]),
        125,
    );
    if have_namespaces(&["pid"]) {
        assert_code(&run(&["--unshare", "pid", "--", "/bin/true"]), 0);
        assert_code(
            &run(&["--unshare", "pid", "--", "/bin/sh", "-c", "exit 3"]),
            3,
        );
        assert_code(
            &run(&["--unshare", "pid", "--", "/nonexistent/program"]),
            127,
        );
    }
}

#[test]
fn sigkilled_child_exits_137() {
    if !have_namespaces(&["pid"]) {
        return;
    }
    let mut launcher = spawn_until_ready(&[
        "--unshare",
        "pid",
        "--",
        "/bin/sh",
        "-c",
        "echo ready; exec sleep 30",
    ]);
    let kids = children_of(launcher.id());
    assert_eq!(
        kids.len(),
        1,
        "the launcher should have exactly one child: {kids:?}"
    );
    let status = Command::new("kill")
        .args(["-KILL", &kids[0].to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    let status = wait_with_timeout(&mut launcher, Duration::from_secs(10));
    assert_eq!(status.code(), Some(137), "{status:?}");
}

#[test]
fn launcher_leads_its_own_process_group() {
    if !have_namespaces(&["pid"]) {
        return;
    }
    let mut launcher = spawn_until_ready(&[
        "--unshare",
        "pid",
        "--",
        "/bin/sh",
        "-c",
        "echo ready; exec sleep 30",
    ]);
    let pid = launcher.id();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("launcher stat");
    assert_eq!(
        stat_field(&stat, 5),
        Some(pid),
        "pgid of the launcher: {stat}"
    );
    assert_eq!(
        stat_field(&stat, 6),
        Some(pid),
        "session of the launcher: {stat}"
    );
    let kids = children_of(pid);
    let child_stat =
        std::fs::read_to_string(format!("/proc/{}/stat", kids[0])).expect("child stat");
    assert_eq!(
        stat_field(&child_stat, 5),
        Some(pid),
        "the child shares the group"
    );
    // kill(-pgid) reaches everything, which is how the server stops an instance.
    let status = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .status()
        .expect("kill");
    assert!(status.success());
    let status = wait_with_timeout(&mut launcher, Duration::from_secs(10));
    assert_eq!(status.signal(), Some(9));
}

#[test]
fn sigterm_is_forwarded_to_the_child() {
    if !have_namespaces(&["pid"]) {
        return;
    }
    let term = |pid: u32| {
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    };
    // A child with a handler gets the signal: its handler decides the code.
    let mut launcher = spawn_until_ready(&[
        "--unshare",
        "pid",
        "--",
        "/bin/sh",
        "-c",
        "trap 'exit 7' TERM; echo ready; sleep 30 & wait",
    ]);
    term(launcher.id());
    let status = wait_with_timeout(&mut launcher, Duration::from_secs(10));
    assert_eq!(status.code(), Some(7), "{status:?}");

    // A child without one dies of it (PID 1 would otherwise drop it): 128+15.
    let mut launcher = spawn_until_ready(&[
        "--unshare",
        "pid",
        "--",
        "/bin/sh",
        "-c",
        "echo ready; exec sleep 30",
    ]);
    term(launcher.id());
    let status = wait_with_timeout(&mut launcher, Duration::from_secs(10));
    assert_eq!(status.code(), Some(143), "{status:?}");
}

#[test]
fn no_new_privs_reaches_the_program() {
    let out = run(&[
        "--no-new-privs",
        "--",
        "/bin/grep",
        "NoNewPrivs",
        "/proc/self/status",
    ]);
    assert_code(&out, 0);
    assert_eq!(
        stdout(&out).split_whitespace().collect::<Vec<_>>(),
        ["NoNewPrivs:", "1"]
    );
    let out = run(&["--", "/bin/grep", "NoNewPrivs", "/proc/self/status"]);
    assert_eq!(
        stdout(&out).split_whitespace().collect::<Vec<_>>(),
        ["NoNewPrivs:", "0"]
    );
}

#[test]
fn chdir_and_environment() {
    let out = sandbox(&[
        "--chdir",
        "/usr",
        "--",
        "/bin/sh",
        "-c",
        "pwd; echo $SCF_TEST_VAR",
    ])
    .env("SCF_TEST_VAR", "passed through")
    .output()
    .expect("spawn");
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "/usr\npassed through\n");
}

#[test]
fn signal_dispositions_pass_through() {
    // Rust's runtime ignores SIGPIPE at start-up; PROGRAM must not inherit
    // that, but must see exactly what a direct spawn from here would see.
    let grep = ["/bin/grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"];
    let direct = Command::new(grep[0])
        .args(&grep[1..])
        .output()
        .expect("run grep");
    assert!(stdout(&direct).contains("SigIgn:"), "{}", stdout(&direct));
    let mut modes = vec![&[][..]];
    if have_namespaces(&["pid"]) {
        modes.push(&["--unshare", "pid"][..]);
    }
    for extra in modes {
        let mut args = extra.to_vec();
        args.push("--");
        args.extend(grep);
        let out = run(&args);
        assert_code(&out, 0);
        assert_eq!(stdout(&out), stdout(&direct), "with {extra:?}");
    }
}

/// Runs the launcher as the server does: `--plan-stdin`, an environment holding only `env`,
/// and on stdin the plan (a 4-byte little-endian length, then `args` separated by NUL bytes)
/// followed by `then`, which belongs to the program.
fn run_plan(args: &[&str], env: &[(&str, &str)], then: &[u8]) -> Output {
    let body = args.join("\0").into_bytes();
    let mut input = (body.len() as u32).to_le_bytes().to_vec();
    input.extend(body);
    input.extend_from_slice(then);
    let mut child = Command::new(SANDBOX)
        .arg("--plan-stdin")
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn scf-sandbox");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(&input).expect("write the plan");
    drop(stdin);
    child.wait_with_output().expect("wait")
}

#[test]
fn plan_on_stdin_builds_a_new_root_with_a_clean_environment_and_seccomp() {
    if !have_namespaces(&["pid", "mount"]) {
        return;
    }
    let dir = temp_dir();
    let code = dir.path().join("code");
    std::fs::create_dir(&code).expect("code dir");
    std::fs::write(code.join("marker"), "code").expect("write");
    let code_bind = format!("{}:/var/user", code.display());
    let script = r#"
import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
denied = {}
for name, nr in [("unshare", 272), ("keyctl", 250), ("mount", 165)]:
    r = libc.syscall(nr, 0x10000000 if name == "unshare" else 0, 0, 0, 0, 0)
    denied[name] = (r, ctypes.get_errno())
print(json.dumps({
    "root": sorted(os.listdir("/")),
    "dev": sorted(os.listdir("/dev")),
    "code": open("/var/user/marker").read(),
    "env": dict(os.environ),
    "cmdline": open("/proc/1/cmdline").read(),
    "uid": os.getuid(),
    "denied": denied,
    "stdin": os.read(0, 100).decode(),
}))
"#;
    // The plan, then what the program itself reads from stdin: not one byte of it may be
    // taken by the launcher. LD_PRELOAD in the launcher's own environment is what a careless
    // server would pass on.
    let out = run_plan(
        &[
            "--unshare",
            "pid,mount,ipc,uts",
            "--new-root",
            "--bind-ro",
            "/usr:/usr",
            "--bind-ro",
            "/lib:/lib",
            "--bind-ro",
            "/lib64:/lib64",
            "--bind-ro",
            &code_bind,
            "--tmpfs",
            "/tmp:8m",
            "--uid",
            "65534",
            "--gid",
            "65534",
            "--seccomp",
            "--env",
            "ONLY=this",
            "--",
            PYTHON,
            "-c",
            script,
        ],
        &[("LD_PRELOAD", "/nonexistent.so")],
        b"after the plan",
    );
    assert_code(&out, 0);
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let root: Vec<&str> = seen["root"]
        .as_array()
        .expect("root")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(root, ["dev", "lib", "lib64", "proc", "tmp", "usr", "var"]);
    assert!(
        seen["dev"]
            .as_array()
            .expect("dev")
            .iter()
            .any(|d| d == "null")
    );
    assert_eq!(seen["code"], "code");
    // Exactly the plan's environment (Python adds LC_CTYPE itself on a C locale).
    assert_eq!(seen["env"]["ONLY"], "this");
    assert!(seen["env"].get("LD_PRELOAD").is_none(), "{}", seen["env"]);
    // PID 1 (the mini-init) shows the launcher's argv: no host path, no plan.
    let cmdline = seen["cmdline"].as_str().expect("cmdline");
    assert!(!cmdline.contains(path_arg(dir.path())), "{cmdline}");
    assert!(!cmdline.contains("ONLY"), "{cmdline}");
    assert_eq!(seen["uid"], 65534);
    for call in ["unshare", "keyctl", "mount"] {
        assert_eq!(seen["denied"][call][0], -1, "{call}: {}", seen["denied"]);
        assert_eq!(seen["denied"][call][1], 1, "{call} must fail with EPERM");
    }
    assert_eq!(seen["stdin"], "after the plan");
}

#[test]
fn a_preload_in_the_function_environment_never_runs_as_root() {
    if !have_namespaces(&["pid", "mount"]) {
        return;
    }
    // The tenant's payload: a library whose constructor says on stderr which euid it ran
    // with. Were the launcher (root until its last step) to honour the function's LD_PRELOAD,
    // `preloaded as uid 0` would appear.
    let dir = temp_dir();
    let src = dir.path().join("evil.c");
    std::fs::write(
        &src,
        "#include <stdio.h>\n#include <unistd.h>\n\
         __attribute__((constructor)) static void mark(void) {\n\
           fprintf(stderr, \"preloaded as uid %d\\n\", (int)geteuid());\n}\n",
    )
    .expect("write");
    let lib = dir.path().join("evil.so");
    let built = Command::new("gcc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(&src)
        .output()
        .expect("gcc");
    assert!(built.status.success(), "{}", stderr(&built));
    // The payload is shown to the program at its host path, so
    // the preload does work once the program runs: that it ran proves the payload, and
    // where it ran (never as root) is what is tested.
    let tmp_bind = format!("{0}:{0}", dir.path().display());
    let preload = format!("LD_PRELOAD={}", lib.display());
    let out = run_plan(
        &[
            "--unshare",
            "pid,mount",
            "--new-root",
            "--bind-ro",
            "/usr:/usr",
            "--bind-ro",
            "/lib:/lib",
            "--bind-ro",
            "/lib64:/lib64",
            "--tmpfs",
            "/tmp:8m",
            "--bind-ro",
            &tmp_bind,
            "--uid",
            "65534",
            "--gid",
            "65534",
            "--seccomp",
            "--env",
            &preload,
            "--",
            "/usr/bin/true",
        ],
        &[],
        b"",
    );
    assert_code(&out, 0);
    let said = stderr(&out);
    assert!(said.contains("preloaded as uid 65534"), "stderr: {said}");
    assert!(!said.contains("preloaded as uid 0"), "stderr: {said}");
}

/// Starts the launcher with its plan on stdin the way the server does: stdin is one end of a
/// Unix socket pair, the other end is returned (the plan already written on it).
fn spawn_plan_on_socket(args: &[&str]) -> (Child, std::os::unix::net::UnixStream) {
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().expect("socket pair");
    let body = args.join("\0").into_bytes();
    let mut input = (body.len() as u32).to_le_bytes().to_vec();
    input.extend(body);
    let child = Command::new(SANDBOX)
        .arg("--plan-stdin")
        .env_clear()
        .stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn scf-sandbox");
    (&ours).write_all(&input).expect("write the plan");
    ours.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    (child, ours)
}

/// Receives the launcher's hand-over: the byte and the descriptors.
fn receive_handoff(
    socket: &std::os::unix::net::UnixStream,
) -> (Vec<u8>, Vec<std::os::fd::OwnedFd>) {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    use std::mem::MaybeUninit;
    let mut byte = [0u8; 1];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let msg = rustix::net::recvmsg(
        socket,
        &mut [std::io::IoSliceMut::new(&mut byte)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )
    .expect("recvmsg");
    let mut fds = Vec::new();
    for m in control.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = m {
            fds.extend(received);
        }
    }
    (byte[..msg.bytes].to_vec(), fds)
}

/// The inode of a namespace file (two handles on one namespace have the same).
fn ns_inode(fd: impl std::os::fd::AsFd) -> u64 {
    rustix::fs::fstat(fd).expect("fstat").st_ino
}

#[test]
fn a_new_network_namespace_has_its_own_loopback_up() {
    if !have_namespaces(&["net"]) {
        return;
    }
    // A listener on the host's loopback, which the program must not reach.
    let host = std::net::TcpListener::bind("127.0.0.1:0").expect("host listener");
    let host_port = host.local_addr().expect("addr").port();
    let script = r#"
import json, socket, sys
out = {"interfaces": [name for _, name in socket.if_nameindex()]}
# lo is up: a listener on 127.0.0.1 inside is reachable (with lo down, connect fails ENETUNREACH)
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen()
try:
    socket.create_connection(l.getsockname(), timeout=2).close(); out["own_loopback"] = "reached"
except OSError as e:
    out["own_loopback"] = type(e).__name__
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2).close(); out["host_port"] = "reached"
except OSError as e:
    out["host_port"] = type(e).__name__
with open("/proc/self/net/tcp") as f:
    out["tcp_rows"] = len(f.read().splitlines()) - 1
print(json.dumps(out))
"#;
    let out = run(&[
        "--unshare",
        "net",
        "--",
        PYTHON,
        "-c",
        script,
        &host_port.to_string(),
    ]);
    assert_code(&out, 0);
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(seen["interfaces"], serde_json::json!(["lo"]), "{seen}");
    assert_eq!(seen["own_loopback"], "reached", "lo must be up: {seen}");
    assert_eq!(
        seen["host_port"], "ConnectionRefusedError",
        "the host's loopback must be out of reach: {seen}"
    );
    // Its own listener, and the one connection to it (both ends): nothing of the host's.
    assert_eq!(seen["tcp_rows"], 3, "{seen}");
    drop(host);
}

#[test]
fn the_runtime_api_listener_and_the_namespace_are_handed_over_on_stdin() {
    if !have_namespaces(&["pid", "mount", "net"]) {
        return;
    }
    // The program talks to 127.0.0.1:9001 of its own namespace, where the server (this test)
    // serves through the listener the launcher handed over.
    let script = r#"
import socket
c = socket.create_connection(("127.0.0.1", 9001), timeout=5)
c.sendall(b"ping")
print(c.recv(100).decode())
"#;
    let (child, socket) = spawn_plan_on_socket(&[
        "--unshare",
        "pid,mount,net",
        "--listen",
        "9001",
        "--hand-netns",
        "--wait-start",
        "--stdin-null",
        "--",
        PYTHON,
        "-c",
        script,
    ]);
    let (byte, fds) = receive_handoff(&socket);
    assert_eq!(byte, b"N", "the hand-over byte");
    assert_eq!(fds.len(), 2, "the namespace and the listener");
    let mut fds = fds.into_iter();
    let netns = fds.next().expect("netns");
    let listener = std::net::TcpListener::from(fds.next().expect("listener"));
    let own = std::fs::File::open("/proc/self/ns/net").expect("own netns");
    assert_ne!(
        ns_inode(&netns),
        ns_inode(&own),
        "the handed namespace must be a new one"
    );
    let addr = listener.local_addr().expect("addr");
    assert_eq!(addr, "127.0.0.1:9001".parse().expect("addr"));
    // The listener is in the instance's namespace: the host's 127.0.0.1:9001 is not it.
    assert!(
        std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err(),
        "the handed listener must not be reachable from the host's loopback"
    );
    // Until the go-ahead, the program has not started.
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        listener.accept().is_err(),
        "the program ran before the go-ahead byte"
    );
    (&socket).write_all(b"G").expect("go-ahead");
    listener.set_nonblocking(false).expect("blocking");
    let (mut conn, peer) = listener.accept().expect("the program connects");
    assert!(peer.ip().is_loopback(), "{peer}");
    let mut ping = [0u8; 4];
    std::io::Read::read_exact(&mut conn, &mut ping).expect("read");
    assert_eq!(&ping, b"ping");
    conn.write_all(b"pong").expect("answer");
    let out = child.wait_with_output().expect("wait");
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "pong\n");
}
