"""The client commands of the scfd binary (`scfd function deploy`, `invoke`, `status`, `logs`,
`requests`, `namespace ...`, `completion`, `configure`), run as a user would run them against a
real server, with the credentials in the environment, in flags, in a profile file, or found in a
local server's account.toml. What they did is cross-checked through the official SDK."""

from __future__ import annotations

import http.client
import http.server
import json
import os
import queue
import shutil
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest

from scfdtest import ACCOUNT_A, REGION, is_uuid, make_config, scfd_bin, uniq

HANDLER_PY = '''import os
def main_handler(event, context):
    print("handling", json_dumps(event))
    if event.get("fail"):
        raise Exception("boom: " + event["fail"])
    return {"hello": event.get("name", "world"), "version": VERSION, "k": os.environ.get("K")}

import json
json_dumps = json.dumps
VERSION = 1
'''

# A custom runtime that answers every event with the event itself.
BOOTSTRAP = """#!/bin/bash
API=http://$SCF_RUNTIME_API:$SCF_RUNTIME_API_PORT
curl -s -d ' ' -X POST $API/runtime/init/ready >/dev/null
while true; do
  EV=$(curl -s $API/runtime/invocation/next)
  curl -s -X POST -d "$EV" $API/runtime/invocation/response >/dev/null
done
"""


class Cli:
    """Runs `scfd` client commands against one server, in a folder of its own with no profile,
    so nothing of the machine's own settings leaks in."""

    def __init__(self, server, workdir: Path, creds: str = "env", account=ACCOUNT_A):
        self.server = server
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.creds = creds
        self.account = account

    def env(self, extra: dict | None = None) -> dict:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("TENCENTCLOUD_", "SCFD_"))}
        env["SCFD_PROFILE"] = str(self.workdir / "no-profile.toml")
        env["HOME"] = str(self.workdir)
        if self.creds == "env":
            env.update({
                "TENCENTCLOUD_SECRET_ID": self.account.secret_id,
                "TENCENTCLOUD_SECRET_KEY": self.account.secret_key,
                "TENCENTCLOUD_REGION": REGION,
                "SCFD_ENDPOINT": self.server.base_url,
            })
        env.update(extra or {})
        return env

    def argv(self, args) -> list[str]:
        argv = [str(scfd_bin()), *args]
        if self.creds == "flags":
            argv += ["--endpoint", self.server.base_url, "--secret-id", self.account.secret_id,
                     "--secret-key", self.account.secret_key, "--region", REGION]
        return argv

    def run(self, *args: str, stdin: str | None = None, env: dict | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(args), input=stdin if stdin is not None else "",
                              capture_output=True, text=True, env=self.env(env),
                              cwd=self.workdir, timeout=timeout)

    def ok(self, *args: str, **kw) -> subprocess.CompletedProcess:
        p = self.run(*args, **kw)
        assert p.returncode == 0, f"scfd {' '.join(args)} exited {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}"
        return p

    def fails(self, code: int, *args: str, **kw) -> subprocess.CompletedProcess:
        p = self.run(*args, **kw)
        assert p.returncode == code, (
            f"scfd {' '.join(args)}: expected exit {code}, got {p.returncode}\n"
            f"stdout: {p.stdout}\nstderr: {p.stderr}")
        return p


@pytest.fixture
def cli(server, tmp_path):
    return Cli(server, tmp_path / "env-cli", creds="env")


@pytest.fixture
def flag_cli(server, tmp_path):
    return Cli(server, tmp_path / "flag-cli", creds="flags")


def function_dir(root: Path, code: str = HANDLER_PY) -> Path:
    d = root / uniq("src")
    d.mkdir(parents=True)
    (d / "index.py").write_text(code)
    (d / "data").mkdir()
    (d / "data" / "note.txt").write_text("packed too\n")
    (d / ".git").mkdir()
    (d / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    return d


def deploy(cli: Cli, *extra: str, code: str = HANDLER_PY) -> str:
    name = uniq("cli")
    src = function_dir(cli.workdir, code)
    p = cli.ok("function", "deploy", str(src), "--name", name, *extra)
    assert f"{name} is Active" in p.stdout, p.stdout + p.stderr
    return name


# --------------------------------------------------------------------------------------
# The walk-through: deploy, invoke, status, logs, requests
# --------------------------------------------------------------------------------------

def test_deploy_then_invoke_status_logs_and_requests(cli, api):
    name = uniq("cli")
    src = function_dir(cli.workdir)
    p = cli.ok("function", "deploy", str(src), "--name", name, "--description", "from the cli")
    assert f"{name} is Active" in p.stdout
    assert "packaged" in p.stderr and "2 files" in p.stderr, p.stderr  # index.py, data/note.txt; not .git
    f = api.call("GetFunction", FunctionName=name)
    assert f["Status"] == "Active"
    assert f["Runtime"] == "Python3.9"
    assert f["Handler"] == "index.main_handler"
    assert f["Description"] == "from the cli"

    # --event: the return value, as JSON, alone on stdout.
    p = cli.ok("invoke", name, "--event", '{"name": "scfd"}')
    assert json.loads(p.stdout) == {"hello": "scfd", "version": 1, "k": None}
    assert p.stderr == ""
    # `-`: the event from stdin.
    p = cli.ok("invoke", name, "-", stdin='{"name": "piped"}')
    assert json.loads(p.stdout)["hello"] == "piped"
    # --event-file, and --tail puts the log on stderr only.
    ev = cli.workdir / "event.json"
    ev.write_text('{"name": "from-file"}')
    p = cli.ok("invoke", name, "--event-file", str(ev), "--tail")
    assert json.loads(p.stdout)["hello"] == "from-file"
    assert "START RequestId:" in p.stderr and 'handling {"name": "from-file"}' in p.stderr, p.stderr
    # No event at all is {}.
    assert json.loads(cli.ok("invoke", name).stdout)["hello"] == "world"

    # --async: the request id, then status until it succeeded.
    p = cli.ok("invoke", name, "--async", "--event", '{"name": "later"}')
    request_id = p.stdout.strip()
    assert is_uuid(request_id), p.stdout
    deadline = time.monotonic() + 20
    while True:
        p = cli.ok("status", name, request_id, "--json")
        answer = json.loads(p.stdout)
        assert is_uuid(answer["RequestId"])
        data = answer["Data"]
        if data and data[0]["RetCode"] == 0:
            break
        assert time.monotonic() < deadline, f"the async request did not succeed: {answer}"
        time.sleep(0.2)
    assert data[0]["RequestId"] == request_id
    assert json.loads(data[0]["RetMsg"])["hello"] == "later"
    table = cli.ok("status", name, request_id).stdout
    rows = dict(line.split(None, 1) if " " in line else (line, "") for line in table.splitlines())
    assert rows["Request"].strip() == request_id
    assert rows["Function"].strip() == name
    assert rows["Status"].strip() == "succeeded"
    assert rows["Retries"].strip() == "0"
    assert rows["Duration"].strip().endswith(" ms")
    assert rows["Memory"].strip().endswith(" MB")
    assert '"hello": "later"' in table
    assert "Started" in table

    # logs --request: that request's START / output / END / Report lines, nothing else.
    p = cli.ok("logs", name, "--request", request_id)
    lines = p.stdout.splitlines()
    assert lines[0] == f"START RequestId: {request_id}", p.stdout
    assert 'handling {"name": "later"}' in p.stdout
    assert f"END RequestId: {request_id}" in lines
    assert any(line.startswith(f"Report RequestId: {request_id}") for line in lines), p.stdout
    assert p.stdout.count("START RequestId:") == 1

    # logs: every request so far (5), oldest first; --limit takes the newest.
    p = cli.ok("logs", name)
    assert p.stdout.count("START RequestId:") == 5
    assert p.stdout.index('"scfd"') < p.stdout.index('"later"')
    p = cli.ok("logs", name, "--limit", "1")
    assert p.stdout.count("START RequestId:") == 1 and request_id in p.stdout

    # requests: a table, newest first, the async one on top.
    p = cli.ok("requests", name)
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["REQUEST", "ID", "START", "TIME", "STATUS", "DURATION", "MS",
                                "MEMORY", "MB", "RETRIES"]
    assert len(lines) == 1 + 5
    top = lines[1].split()
    assert top[0] == request_id and top[3] == "succeeded" and top[-1] == "0", lines[1]
    float(top[4]), float(top[5])  # duration and memory are numbers
    assert len(cli.ok("requests", name, "--limit", "2").stdout.splitlines()) == 3


def test_a_failed_invocation_prints_the_error_and_exits_1(cli):
    name = deploy(cli)
    p = cli.fails(1, "invoke", name, "--event", '{"fail": "on purpose"}')
    assert p.stdout == ""
    assert p.stderr.startswith("error: ")
    assert "boom: on purpose" in p.stderr
    rid = p.stderr.split("RequestId ", 1)[1].split(")", 1)[0]
    assert is_uuid(rid)
    # ...and its status says failed.
    table = cli.ok("status", name, rid).stdout
    assert "failed" in table.splitlines()[2]
    assert "boom: on purpose" in table
    assert "failed" in cli.ok("requests", name).stdout


def test_logs_follow_prints_new_requests_as_they_end(cli):
    name = deploy(cli)
    cli.ok("invoke", name, "--event", '{"name": "before"}')
    proc = subprocess.Popen(cli.argv(["logs", name, "--follow", "--limit", "1"]), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=cli.env(), cwd=cli.workdir)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()

    def wait_for(text: str, timeout: float = 15) -> list[str]:
        seen = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                continue
            seen.append(line)
            if text in line:
                return seen
        pytest.fail(f"{text!r} not printed within {timeout}s; got {seen}")

    try:
        wait_for('"before"')
        cli.ok("invoke", name, "--event", '{"name": "during-1"}')
        rid = cli.ok("invoke", name, "--async", "--event", '{"name": "during-2"}').stdout.strip()
        seen = wait_for('"during-1"') + wait_for(f"Report RequestId: {rid}")
        assert not any('"before"' in line for line in seen), "an old request was printed twice"
        assert proc.poll() is None, "--follow stopped on its own"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# --------------------------------------------------------------------------------------
# Functions and namespaces
# --------------------------------------------------------------------------------------

def test_function_list_get_delete_with_flag_credentials(flag_cli, api):
    name = deploy(flag_cli, "--memory", "256", "--timeout", "7", "--env", "K=v=1")
    p = flag_cli.ok("function", "list")
    assert p.stdout.splitlines()[0].split() == ["NAME", "RUNTIME", "STATUS", "MODIFIED", "DESCRIPTION"]
    row = next(line for line in p.stdout.splitlines() if line.startswith(name + " "))
    assert row.split()[1:3] == ["Python3.9", "Active"]
    listed = json.loads(flag_cli.ok("function", "list", "--json").stdout)
    assert name in [f["FunctionName"] for f in listed["Functions"]]

    p = flag_cli.ok("function", "get", name)
    rows = {line.split(None, 1)[0]: line.split(None, 1)[1] for line in p.stdout.splitlines()
            if len(line.split(None, 1)) == 2}
    assert rows["Name"] == name and rows["Status"] == "Active"
    assert rows["Memory"] == "256 MB" and rows["Timeout"] == "7 s"
    assert rows["Environment"] == "K=v=1"
    got = json.loads(flag_cli.ok("function", "get", name, "--json").stdout)
    assert got["MemorySize"] == 256 and got["Environment"]["Variables"] == [{"Key": "K", "Value": "v=1"}]
    assert api.call("GetFunction", FunctionName=name)["Timeout"] == 7
    assert json.loads(flag_cli.ok("invoke", name).stdout)["k"] == "v=1"

    assert flag_cli.ok("function", "delete", name).stdout.strip() == f"deleted function {name}"
    p = flag_cli.fails(1, "function", "get", name)
    assert "ResourceNotFound.Function" in p.stderr
    assert name not in flag_cli.ok("function", "list").stdout


def test_redeploy_updates_code_then_configuration(cli, api):
    name = uniq("cli")
    src = function_dir(cli.workdir)
    cli.ok("function", "deploy", str(src), "--name", name)
    assert json.loads(cli.ok("invoke", name).stdout)["version"] == 1
    (src / "index.py").write_text(HANDLER_PY.replace("VERSION = 1", "VERSION = 2"))
    p = cli.ok("function", "deploy", str(src), "--name", name, "--memory", "512",
               "--env", "K=second", "--description", "v2")
    assert "updated the code" in p.stderr and "updated the configuration" in p.stderr, p.stderr
    assert json.loads(cli.ok("invoke", name).stdout) == {"hello": "world", "version": 2, "k": "second"}
    f = api.call("GetFunction", FunctionName=name)
    assert (f["MemorySize"], f["Description"], f["Status"]) == (512, "v2", "Active")
    # A redeploy that names another runtime is refused before anything changes.
    p = cli.fails(1, "function", "deploy", str(src), "--name", name, "--runtime", "Python3.10")
    assert "runtime" in p.stderr
    assert api.call("GetFunction", FunctionName=name)["Runtime"] == "Python3.9"


def test_a_refused_deploy_prints_the_code_and_exits_1(cli):
    name = uniq("cli")
    src = function_dir(cli.workdir)
    p = cli.fails(1, "function", "deploy", str(src), "--name", name, "--handler", "index")
    assert "InvalidParameterValue" in p.stderr, p.stderr


def test_namespaces_and_functions_in_them(cli, api):
    ns = uniq("ns")
    assert cli.ok("namespace", "create", ns, "--description", "team one").stdout.strip() == f"created namespace {ns}"
    p = cli.ok("namespace", "list")
    assert p.stdout.splitlines()[0].split() == ["NAME", "CREATED", "MODIFIED", "DESCRIPTION"]
    row = next(line for line in p.stdout.splitlines() if line.startswith(ns + " "))
    assert row.endswith("team one")
    cli.ok("namespace", "update", ns, "--description", "team two")
    listed = json.loads(cli.ok("namespace", "list", "--json").stdout)
    assert {"Name": ns, "Description": "team two"}.items() <= next(
        n for n in listed["Namespaces"] if n["Name"] == ns).items()
    assert any(n["Name"] == ns for n in api.call("ListNamespaces", Limit=100)["Namespaces"])

    name = deploy(cli, "--namespace", ns)
    assert name in cli.ok("function", "list", "--namespace", ns).stdout
    assert name not in cli.ok("function", "list").stdout
    assert json.loads(cli.ok("invoke", name, "-n", ns).stdout)["hello"] == "world"
    cli.fails(1, "invoke", name)  # not in `default`
    p = cli.fails(1, "namespace", "delete", ns)
    assert "ResourceInUse.Namespace" in p.stderr
    cli.ok("function", "delete", name, "--namespace", ns)
    assert cli.ok("namespace", "delete", ns).stdout.strip() == f"deleted namespace {ns}"
    assert ns not in cli.ok("namespace", "list").stdout


def test_custom_runtime_bootstrap_stays_executable(cli, api):
    src = cli.workdir / uniq("custom")
    src.mkdir()
    (src / "bootstrap").write_text(BOOTSTRAP)
    (src / "bootstrap").chmod(0o755)
    name = uniq("cli")
    p = cli.ok("function", "deploy", str(src), "--name", name)
    assert "runtime CustomRuntime" in p.stderr, p.stderr
    assert api.call("GetFunction", FunctionName=name)["Runtime"] == "CustomRuntime"
    p = cli.ok("invoke", name, "--event", '{"echo": [1, 2, 3]}')
    assert json.loads(p.stdout) == {"echo": [1, 2, 3]}


# --------------------------------------------------------------------------------------
# Errors and exit codes
# --------------------------------------------------------------------------------------

def test_api_errors_print_the_tencent_code_and_exit_1(cli, flag_cli):
    for c in (cli, flag_cli):
        p = c.fails(1, "invoke", uniq("missing"))
        assert p.stdout == ""
        line = p.stderr.strip()
        assert line.startswith("error: ResourceNotFound.Function: "), line
        assert is_uuid(line.rsplit("(RequestId ", 1)[1].rstrip(")"))


def test_a_wrong_secret_key_is_a_signature_failure(cli, server):
    p = cli.fails(1, "function", "list", env={"TENCENTCLOUD_SECRET_KEY": "not-the-key"})
    assert "AuthFailure.SignatureFailure" in p.stderr
    # Flags win over the environment: a right key in a flag beats a wrong one in the env...
    cli.ok("function", "list", "--secret-key", ACCOUNT_A.secret_key,
           env={"TENCENTCLOUD_SECRET_KEY": "not-the-key"})
    # ...and a wrong one in a flag beats a right one in the env.
    p = cli.fails(1, "function", "list", "--secret-key", "wrong")
    assert "AuthFailure.SignatureFailure" in p.stderr
    p = cli.fails(1, "function", "list", "--secret-id", "AKIDnobody000000000000000000000000")
    assert "AuthFailure.SecretIdNotFound" in p.stderr


def test_usage_errors_exit_2(cli, tmp_path):
    p = cli.fails(2, "invoke", "f", "--event", "{not json")
    assert "not JSON" in p.stderr
    cli.fails(2, "function", "deploy", str(tmp_path / "missing"), "--name", "f")
    cli.fails(2, "function", "deploy", str(tmp_path), "--name", "f", "--env", "NOEQUALS")
    cli.fails(2, "invoke", "f", "--event", "{}", "--event-file", "x.json")
    cli.fails(2, "invoke", "f", "--async", "--tail")
    cli.fails(2, "nonsense")
    bare = Cli(cli.server, tmp_path / "bare", creds="none")
    p = bare.fails(2, "function", "list")
    for hint in ("--secret-id", "TENCENTCLOUD_SECRET_ID", "scfd configure", "account.toml"):
        assert hint in p.stderr, p.stderr
    p = cli.fails(2, "function", "list", "--endpoint", "ftp://scf.example")
    assert "unknown scheme `ftp`" in p.stderr


def test_an_unreachable_endpoint_is_named(cli):
    from scfdtest import free_port
    endpoint = f"http://127.0.0.1:{free_port()}"
    p = cli.fails(1, "function", "list", "--endpoint", endpoint)
    assert f"cannot reach scfd at {endpoint}" in p.stderr, p.stderr


# --------------------------------------------------------------------------------------
# https: a server behind a TLS-terminating proxy
# --------------------------------------------------------------------------------------

def throwaway_ca_and_certificate(d: Path) -> tuple[Path, Path, Path]:
    """A CA, and a certificate it signed for 127.0.0.1: (ca.pem, server.pem, server.key)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("no `openssl` command to make the throwaway CA and certificate with")

    def run(*args: str) -> None:
        p = subprocess.run([openssl, *args], cwd=d, capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, f"openssl {' '.join(args)}: {p.stderr}"

    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=scfd e2e throwaway CA")
    run("req", *key, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (d / "server.ext").write_text("subjectAltName = IP:127.0.0.1\n"
                                  "basicConstraints = CA:FALSE\n"
                                  "keyUsage = critical, digitalSignature\n"
                                  "extendedKeyUsage = serverAuth\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "server.ext", "-out", "server.pem")
    return d / "ca.pem", d / "server.pem", d / "server.key"


# Headers of one hop, not passed on.
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
               "proxy-connection", "content-length"}


class TlsProxy:
    """A TLS-terminating reverse proxy, as nginx in front of scfd would be: each request is
    passed to the plain-HTTP backend with its headers (Host too: it is signed) and the answer
    relayed back."""

    def __init__(self, backend_port: int, cert: Path, key: Path):
        proxy = self
        self.forwarded = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
                backend = http.client.HTTPConnection("127.0.0.1", backend_port, timeout=60)
                try:
                    backend.request(self.command, self.path, body, headers)
                    answer = backend.getresponse()
                    data = answer.read()
                finally:
                    backend.close()
                proxy.forwarded += 1
                self.send_response(answer.status, answer.reason)
                for k, v in answer.getheaders():
                    if k.lower() not in HOP_HEADERS:
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        # The handshake runs in accept(); one the client refuses is an OSError there, which
        # the server loop drops.
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def tls_proxy(server, tmp_path):
    certs = tmp_path / "certs"
    certs.mkdir()
    ca, cert, key = throwaway_ca_and_certificate(certs)
    proxy = TlsProxy(server.port, cert, key)
    yield proxy, ca
    proxy.close()


def test_an_https_endpoint_through_a_tls_proxy(cli, tls_proxy):
    proxy, ca = tls_proxy
    name = deploy(cli)
    https = f"https://127.0.0.1:{proxy.port}"
    # No SSL_CERT_FILE of the machine's: the built-in roots only, unless a case sets one.
    plain = cli.ok("function", "list", env={"SSL_CERT_FILE": ""})
    assert name in plain.stdout
    for how, args, env in (
        ("--ca-bundle", ["--ca-bundle", str(ca)], {"SSL_CERT_FILE": ""}),
        ("SCFD_CA_BUNDLE", [], {"SCFD_CA_BUNDLE": str(ca), "SSL_CERT_FILE": ""}),
        ("SSL_CERT_FILE", [], {"SSL_CERT_FILE": str(ca)}),
    ):
        before = proxy.forwarded
        p = cli.ok("function", "list", "--endpoint", https, *args, env=env)
        assert p.stdout == plain.stdout, how
        assert proxy.forwarded > before, f"{how}: the call did not go through the proxy"
        # The signature covers the Host the client sent, which the proxy passed on: a call
        # with a body works as well as a list.
        p = cli.ok("invoke", name, "--event", '{"name": "tls"}', "--endpoint", https, *args,
                   env=env)
        assert json.loads(p.stdout)["hello"] == "tls", how

    # Without the CA: Mozilla's roots do not know it.
    before = proxy.forwarded
    p = cli.fails(1, "function", "list", "--endpoint", https, env={"SSL_CERT_FILE": ""})
    assert p.stdout == ""
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith(f"error: TLS with {https} failed: "), p.stderr
    assert "certificate" in lines[0] and "unknown issuer" in lines[0], p.stderr
    assert "--ca-bundle" in lines[0], p.stderr
    assert "panicked" not in p.stderr and "Traceback" not in p.stderr
    assert proxy.forwarded == before

    # The CA, but a name the certificate is not for.
    by_name = f"https://localhost:{proxy.port}"
    p = cli.fails(1, "function", "list", "--endpoint", by_name, "--ca-bundle", str(ca))
    assert p.stderr.startswith(f"error: TLS with {by_name} failed: "), p.stderr
    assert "certificate" in p.stderr and "localhost" in p.stderr, p.stderr
    # A CA file that holds no certificate is a usage error, before any connection.
    p = cli.fails(2, "function", "list", "--endpoint", https, "--ca-bundle", str(ca.with_name("server.key")))
    assert "no PEM certificate" in p.stderr, p.stderr
    # And https:// to the plain-HTTP server says what is wrong.
    plain_port = f"https://127.0.0.1:{cli.server.port}"
    p = cli.fails(1, "function", "list", "--endpoint", plain_port, "--ca-bundle", str(ca))
    assert "use an http:// endpoint" in p.stderr, p.stderr


# --------------------------------------------------------------------------------------
# Where the credentials come from
# --------------------------------------------------------------------------------------

def test_profile_file_written_by_configure(server, tmp_path):
    c = Cli(server, tmp_path / "profile", creds="none")
    profile = tmp_path / "conf" / "profile.toml"
    env = {"SCFD_PROFILE": str(profile)}
    p = c.ok("configure", "--endpoint", server.base_url, "--secret-id", ACCOUNT_A.secret_id,
             "--secret-key", ACCOUNT_A.secret_key, env=env)
    assert str(profile) in p.stdout
    assert profile.stat().st_mode & 0o777 == 0o600
    assert f'secret_id = "{ACCOUNT_A.secret_id}"' in profile.read_text()
    c.ok("function", "list", env=env)
    # The environment wins over the profile.
    p = c.fails(1, "function", "list", env={**env, "TENCENTCLOUD_SECRET_KEY": "nope",
                                            "TENCENTCLOUD_SECRET_ID": ACCOUNT_A.secret_id})
    assert "AuthFailure.SignatureFailure" in p.stderr
    # configure changes only what it is given.
    c.ok("configure", "--region", "ap-shanghai", env=env)
    text = profile.read_text()
    assert 'region = "ap-shanghai"' in text and ACCOUNT_A.secret_key in text


def test_the_local_servers_account_file_is_the_last_fallback(make_server, tmp_path):
    s = make_server(make_config(accounts=None))
    generated = s.data_dir / "account.toml"
    assert generated.exists()
    c = Cli(s, tmp_path / "laptop", creds="none")
    (c.workdir / "scfd-data").mkdir()
    (c.workdir / "scfd-data" / "account.toml").write_text(generated.read_text())
    p = c.ok("namespace", "list", env={"SCFD_ENDPOINT": s.base_url})
    assert "default" in p.stdout


def test_completion_scripts():
    p = subprocess.run([str(scfd_bin()), "completion", "bash"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0
    assert "_scfd()" in p.stdout and "complete -F _scfd" in p.stdout
    for word in ("deploy", "invoke", "status", "logs", "requests", "namespace", "--event-file"):
        assert word in p.stdout, word
    for shell, marker in (("zsh", "#compdef scfd"), ("fish", "complete -c scfd")):
        p = subprocess.run([str(scfd_bin()), "completion", shell], capture_output=True, text=True, timeout=30)
        assert p.returncode == 0 and marker in p.stdout, shell


def test_the_readme_start_command_with_its_relative_data_dir(tmp_path):
    """`scfd serve` run from a folder, with the default `./scfd-data`: functions must run (the
    sandbox mounts code by path, so a relative data dir once broke every invocation)."""
    from scfdtest import free_port

    port = free_port()
    log = open(tmp_path / "serve.log", "wb")
    proc = subprocess.Popen([str(scfd_bin()), "serve", "--listen", f"127.0.0.1:{port}"],
                            cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    try:
        account = tmp_path / "scfd-data" / "account.toml"
        deadline = time.monotonic() + 10
        while not account.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        text = account.read_text()
        # The account is written before the server listens: wait for the port too.
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        sid = text.split('secret_id = "')[1].split('"')[0]
        skey = text.split('secret_key = "')[1].split('"')[0]
        env = {**os.environ, "SCFD_ENDPOINT": f"http://127.0.0.1:{port}",
               "TENCENTCLOUD_SECRET_ID": sid, "TENCENTCLOUD_SECRET_KEY": skey}
        fn = function_dir(tmp_path)
        run = lambda *a: subprocess.run([str(scfd_bin()), *a], env=env, capture_output=True,  # noqa: E731
                                        text=True, timeout=60)
        deployed = run("function", "deploy", str(fn), "--name", "rel", "--runtime", "Python3.11")
        assert deployed.returncode == 0, deployed.stderr
        invoked = run("invoke", "rel", "--event", '{"x": 1}')
        assert invoked.returncode == 0, invoked.stderr + (tmp_path / "serve.log").read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
