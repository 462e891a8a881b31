"""Shared helpers for the scfd end-to-end suite.

Everything here drives a real `scfd` process over loopback HTTP: the official
Tencent Cloud Python SDK, `tccli` as a subprocess, and hand-signed raw requests
(TC3 and legacy v1) for malformed cases the SDK cannot produce.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import io
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import uuid
import zipfile
import zlib
from pathlib import Path
from typing import Any, Callable, Iterable
from urllib.parse import parse_qsl, urlencode, urlparse, urlunparse

import pytest
import requests
from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import (
    TencentCloudSDKException,
)
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.common.sign import Sign
from tencentcloud.scf.v20180416 import models, scf_client

# Loopback traffic must never go through a proxy.
os.environ["NO_PROXY"] = "127.0.0.1,localhost"
os.environ["no_proxy"] = "127.0.0.1,localhost"

SERVICE = "scf"
VERSION = "2018-04-16"
REGION = "ap-guangzhou"
OTHER_REGION = "ap-shanghai"

REPO_ROOT = Path(__file__).resolve().parents[2]
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


class Account:
    def __init__(self, secret_id: str, secret_key: str, app_id: int, uin: str, isolated: bool = False):
        self.secret_id = secret_id
        self.secret_key = secret_key
        self.app_id = app_id
        self.uin = uin
        self.isolated = isolated

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Account({self.secret_id})"


ACCOUNT_A = Account("AKIDe2eAccountA0000000000000000001", "e2eSecretKeyA", 1250000001, "100000000011")
ACCOUNT_B = Account("AKIDe2eAccountB0000000000000000002", "e2eSecretKeyB", 1250000002, "100000000022")


def scfd_bin() -> Path:
    env = os.environ.get("SCFD_BIN")
    p = Path(env) if env else REPO_ROOT / "target" / "release" / "scfd"
    if not p.exists():
        pytest.fail(f"scfd binary not found at {p} (build it: cargo build --release -p scfd, or set SCFD_BIN)")
    return p


def tccli_bin() -> str:
    cand = Path(sys.executable).parent / "tccli"
    if cand.exists():
        return str(cand)
    found = shutil.which("tccli")
    if not found:
        pytest.fail("tccli not found next to the python interpreter nor on PATH")
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------------------
# Config
# --------------------------------------------------------------------------------------

def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"unsupported TOML value {v!r}")


DEFAULT_LIMITS = {
    "max_namespaces": 50,
    "max_functions_per_namespace": 200,
}


def make_config(
    accounts: Iterable[Account] | None = (ACCOUNT_A, ACCOUNT_B),
    default_region: str | None = REGION,
    regions: list[str] | None = None,
    rate_limits: dict[str, int] | None = None,
    limits: dict[str, int] | None = None,
    sections: dict[str, dict[str, Any]] | None = None,
) -> str:
    """`sections` adds whole tables, e.g. {"engine": {"keep_alive_secs": 0}, "async": {...}}."""
    lines: list[str] = []
    if default_region is not None:
        lines.append(f"default_region = {_toml_value(default_region)}")
    if regions is not None:
        lines.append(f"regions = {_toml_value(regions)}")
    lines.append("")
    for acc in accounts or ():
        lines += [
            "[[accounts]]",
            f"secret_id = {_toml_value(acc.secret_id)}",
            f"secret_key = {_toml_value(acc.secret_key)}",
            f"app_id = {acc.app_id}",
            f"uin = {_toml_value(acc.uin)}",
        ]
        if getattr(acc, "isolated", False):
            lines.append("isolated = true")
        lines.append("")
    rl = {"default": 0}
    rl.update(rate_limits or {})
    lines.append("[rate_limits]")
    lines += [f"{k} = {_toml_value(v)}" for k, v in rl.items() if v is not None]
    lines.append("")
    lim = dict(DEFAULT_LIMITS)
    lim.update(limits or {})
    lines.append("[limits]")
    lines += [f"{k} = {_toml_value(v)}" for k, v in lim.items() if v is not None]
    lines.append("")
    for table, values in (sections or {}).items():
        lines.append(f"[{table}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in values.items() if v is not None]
        lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# Server process
# --------------------------------------------------------------------------------------

class Server:
    """One scfd process on a private data dir and config file."""

    def __init__(self, workdir: Path, config_text: str | None, env: dict[str, str] | None = None):
        self.workdir = Path(workdir)
        self.data_dir = self.workdir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.data_dir / "scfd.toml"
        if config_text is not None:
            self.config_path.write_text(config_text)
        self.extra_env = env or {}
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.log_path: Path | None = None
        self.starts = 0

    # -- lifecycle -------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> "Server":
        assert self.proc is None, "server already running"
        self.starts += 1
        self.port = free_port()
        self.log_path = self.workdir / f"scfd-{self.starts}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SCFD_SECRET", "TENCENTCLOUD_"))}
        env.setdefault("RUST_BACKTRACE", "1")
        env.update(self.extra_env)
        cmd = [
            str(scfd_bin()), "serve",
            "--listen", self.endpoint,
            "--data-dir", str(self.data_dir),
            "--config", str(self.config_path),
        ]
        logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        logf.close()
        deadline = time.monotonic() + timeout
        last_err: Any = None
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                self.proc = None
                pytest.fail(f"scfd exited with {rc} during startup; log:\n{self.log()}")
            try:
                r = requests.get(self.base_url + "/healthz", timeout=1)
                if r.status_code == 200:
                    return self
                last_err = f"HTTP {r.status_code}"
            except requests.RequestException as e:  # not listening yet
                last_err = e
            time.sleep(0.02)
        self.kill()
        pytest.fail(f"scfd did not answer 200 on /healthz within {timeout}s ({last_err}); log:\n{self.log()}")

    def log(self) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-20000:]

    def all_logs(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.workdir.glob("scfd-*.log")))

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int | None:
        """Send `sig`, wait for exit (kill after `timeout`). Returns the exit code, or None if killed."""
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        if proc.poll() is not None:
            return proc.returncode
        proc.send_signal(sig)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return None

    def kill(self) -> None:
        """SIGKILL, no grace."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        proc.kill()
        proc.wait()

    def restart(self) -> "Server":
        self.stop()
        return self.start()

    # -- clients ---------------------------------------------------------------------
    def client(
        self,
        account: Account = ACCOUNT_A,
        region: str = REGION,
        sign_method: str | None = None,
        req_method: str = "POST",
        endpoint: str | None = None,
        **profile: Any,
    ) -> "Api":
        return Api(sdk_client(self, account, region, sign_method, req_method, endpoint, **profile))

    def tccli(self, action: str, *args: str, account: Account = ACCOUNT_A, region: str = REGION,
              **kwargs: Any) -> "TccliResult":
        return run_tccli(self, action, list(args), account=account, region=region, params=kwargs)

    def raw(self, *a: Any, **kw: Any) -> requests.Response:
        return raw_tc3(self, *a, **kw)


def sdk_client(server: Server, account: Account = ACCOUNT_A, region: str = REGION,
               sign_method: str | None = None, req_method: str = "POST",
               endpoint: str | None = None, unsigned_payload: bool = False,
               language: str = "zh-CN") -> scf_client.ScfClient:
    hp = HttpProfile(protocol="http", endpoint=endpoint or server.endpoint, reqMethod=req_method, reqTimeout=30)
    cp = ClientProfile(httpProfile=hp, signMethod=sign_method, language=language)
    if unsigned_payload:
        cp.unsignedPayload = True
    return scf_client.ScfClient(credential.Credential(account.secret_id, account.secret_key), region, cp)


class Api:
    """Thin wrapper over the official ScfClient."""

    def __init__(self, client: scf_client.ScfClient):
        self.sdk = client

    def call(self, action: str, params: dict | None = None, **kw: Any) -> dict:
        """Typed SDK call (the <Action>Request model and ScfClient.<Action>). Returns the
        response model serialised back to a dict (absent fields are None)."""
        params = dict(params or {}, **kw)
        req = getattr(models, action + "Request")()
        req._deserialize(params)
        # make sure the model kept every parameter we meant to send
        sent = req._serialize()
        missing = set(params) - set(sent)
        assert not missing, f"SDK model dropped params {missing}; use call_raw"
        resp = getattr(self.sdk, action)(req)
        return resp._serialize(allow_none=True)

    def call_raw(self, action: str, params: dict | None = None, **kw: Any) -> dict:
        """Generic SDK call (ScfClient.call_json) with arbitrary params; returns the Response object."""
        params = dict(params or {}, **kw)
        return self.sdk.call_json(action, params)["Response"]

    def err(self, action: str, params: dict | None = None, raw: bool = False, **kw: Any) -> TencentCloudSDKException:
        """Call and expect an API error; return the SDK exception."""
        fn = self.call_raw if raw else self.call
        try:
            resp = fn(action, params, **kw)
        except TencentCloudSDKException as e:
            return e
        pytest.fail(f"{action} succeeded but an error was expected; response: {resp}")

    def expect(self, code: str, action: str, params: dict | None = None, raw: bool = False, **kw: Any) -> TencentCloudSDKException:
        e = self.err(action, params, raw=raw, **kw)
        assert e.get_code() == code, f"{action}: expected {code}, got {e.get_code()}: {e.get_message()}"
        rid = e.get_request_id()
        assert rid and is_uuid(rid), f"error RequestId is not a UUID: {rid!r}"
        return e

    # -- convenience -------------------------------------------------------------------
    def get_function(self, name: str, namespace: str | None = None) -> dict:
        p = {"FunctionName": name}
        if namespace:
            p["Namespace"] = namespace
        return self.call("GetFunction", p)

    def wait_status(self, name: str, namespace: str | None = None, want: Iterable[str] = ("Active",),
                    timeout: float = 10.0) -> dict:
        want = set(want)
        deadline = time.monotonic() + timeout
        while True:
            f = self.get_function(name, namespace)
            if f["Status"] in want:
                return f
            if time.monotonic() > deadline:
                pytest.fail(f"function {name} stuck in status {f['Status']} (wanted {want}); {f}")
            time.sleep(0.05)

    def create_function(self, name: str, zip_bytes: bytes | None = None, namespace: str | None = None,
                        wait: bool = True, **extra: Any) -> dict:
        if zip_bytes is None:
            zip_bytes = hello_zip()
        p: dict[str, Any] = {
            "FunctionName": name,
            "Code": {"ZipFile": b64(zip_bytes)},
            "Handler": "index.main_handler",
            "Runtime": "Python3.9",
        }
        if namespace:
            p["Namespace"] = namespace
        p.update(extra)
        self.call("CreateFunction", p)
        if wait:
            return self.wait_status(name, namespace)
        return {}

    def expect_create_refused(self, code: str, params: dict, raw: bool = False) -> TencentCloudSDKException:
        """CreateFunction must fail with `code` and leave nothing behind."""
        e = self.expect(code, "CreateFunction", params, raw=raw)
        get = {"FunctionName": params["FunctionName"]}
        if params.get("Namespace"):
            get["Namespace"] = params["Namespace"]
        try:
            nsok = True
            self.call("GetFunction", get)
        except TencentCloudSDKException as ge:
            if ge.get_code() == "ResourceNotFound.Namespace":
                nsok = False
            else:
                assert ge.get_code() == "ResourceNotFound.Function", (
                    f"after refused CreateFunction, GetFunction gave {ge.get_code()}")
        else:
            pytest.fail(f"refused CreateFunction ({code}) still created function {params['FunctionName']}")
        assert nsok or code == "ResourceNotFound.Namespace"
        return e

    def namespaces(self, **params: Any) -> list[str]:
        p = {"Limit": 100}
        p.update(params)
        return [n["Name"] for n in self.call("ListNamespaces", p)["Namespaces"]]

    def function_names(self, **params: Any) -> list[str]:
        p = {"Limit": 100}
        p.update(params)
        return [f["FunctionName"] for f in self.call("ListFunctions", p)["Functions"]]


def is_uuid(s: str) -> bool:
    try:
        uuid.UUID(s)
        return True
    except (ValueError, TypeError, AttributeError):
        return False


def uniq(prefix: str = "t") -> str:
    """A short unique name that is valid for both namespaces (<=30) and functions."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


# --------------------------------------------------------------------------------------
# Zips
# --------------------------------------------------------------------------------------

HELLO_PY = "def main_handler(event, context):\n    return 'hello from scfd'\n"


def make_zip(files: dict[str, bytes | str], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in files.items():
            if isinstance(data, str):
                data = data.encode()
            zf.writestr(name, data)
    return buf.getvalue()


def exec_zip(files: dict[str, str]) -> bytes:
    """A zip whose `bootstrap` entry is executable (a custom runtime's package)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o755 if name == "bootstrap" else 0o644) << 16
            zf.writestr(info, text)
    return buf.getvalue()


def hello_zip(extra: str = "") -> bytes:
    return make_zip({"index.py": HELLO_PY + extra})


def symlink_zip(link_name: str, target: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("index.py", HELLO_PY)
        info = zipfile.ZipInfo(link_name)
        info.create_system = 3  # unix
        info.external_attr = (0o120777 << 16)  # S_IFLNK | 0777
        zf.writestr(info, target)
    return buf.getvalue()


def lying_size_zip(real_size: int, claimed_size: int = 10) -> bytes:
    """A deflated entry whose headers claim `claimed_size` bytes but which inflates to
    `real_size` bytes (CRC matches the real data)."""
    data = b"\0" * real_size
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    cdata = comp.compress(data) + comp.flush()
    crc = zlib.crc32(data) & 0xFFFFFFFF
    name = b"index.py"
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(cdata), claimed_size,
                        len(name), 0) + name + cdata
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21, crc, len(cdata),
                          claimed_size, len(name), 0, 0, 0, 0, 0, 0) + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(local), 0)
    return local + central + end


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------
# Raw signed requests
# --------------------------------------------------------------------------------------

def tc3_authorization(secret_id: str, secret_key: str, timestamp: int, method: str, query: str,
                      headers: dict[str, str], signed: list[str], body: bytes) -> str:
    date = _dt.datetime.fromtimestamp(timestamp, _dt.timezone.utc).strftime("%Y-%m-%d")
    lower = {k.lower(): v for k, v in headers.items()}
    canonical_headers = "".join(f"{h}:{lower[h].strip().lower()}\n" for h in signed)
    canonical_request = "\n".join([
        method, "/", query, canonical_headers, ";".join(signed), hashlib.sha256(body).hexdigest(),
    ])
    scope = f"{date}/{SERVICE}/tc3_request"
    string_to_sign = "\n".join([
        "TC3-HMAC-SHA256", str(timestamp), scope,
        hashlib.sha256(canonical_request.encode()).hexdigest(),
    ])
    sig = Sign.sign_tc3(secret_key, date, SERVICE, string_to_sign)
    return f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, SignedHeaders={';'.join(signed)}, Signature={sig}"


_DEFAULT = object()


def raw_tc3(
    server: Server,
    action: str | None = "ListNamespaces",
    params: dict | None = None,
    *,
    method: str = "POST",
    body: bytes | str | None = None,
    query: str | None = None,
    account: Account = ACCOUNT_A,
    secret_id: str | None = None,
    secret_key: str | None = None,
    version: str | None = VERSION,
    region: str | None = REGION,
    timestamp: int | None = None,
    host: str | None = None,
    content_type: str | None = None,
    signed_headers: list[str] | None = None,
    sign_body: bytes | None = None,
    sign_host: str | None = None,
    authorization: Any = _DEFAULT,
    extra_headers: dict[str, str] | None = None,
) -> requests.Response:
    """Send a TC3-signed request built by hand. Every piece can be overridden or broken."""
    params = params or {}
    if method == "GET":
        q = query if query is not None else urlencode(flatten(params))
        payload = b""
        ct = content_type or "application/x-www-form-urlencoded"
    else:
        q = query or ""
        if body is None:
            payload = json.dumps(params).encode()
        elif isinstance(body, str):
            payload = body.encode()
        else:
            payload = body
        ct = content_type or "application/json"
    ts = int(time.time()) if timestamp is None else timestamp
    host = host or server.endpoint
    headers = {"Host": host, "Content-Type": ct, "X-TC-Timestamp": str(ts)}
    if action is not None:
        headers["X-TC-Action"] = action
    if version is not None:
        headers["X-TC-Version"] = version
    if region is not None:
        headers["X-TC-Region"] = region
    headers.update(extra_headers or {})
    if authorization is _DEFAULT:
        signed = signed_headers or ["content-type", "host"]
        to_sign = dict(headers, Host=sign_host) if sign_host else headers
        authorization = tc3_authorization(
            secret_id or account.secret_id, secret_key or account.secret_key, ts, method, q,
            to_sign, signed, payload if sign_body is None else sign_body,
        )
    if authorization is not None:
        headers["Authorization"] = authorization
    url = server.base_url + "/" + (f"?{q}" if q else "")
    return requests.request(method, url, data=payload if method != "GET" else None, headers=headers, timeout=30)


def flatten(params: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(params, dict):
        for k, v in params.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(params, (list, tuple)):
        for i, v in enumerate(params):
            out.update(flatten(v, f"{prefix}.{i}" if prefix else str(i)))
    else:
        out[prefix] = params
    return out


def v1_params(
    server: Server,
    action: str,
    params: dict | None = None,
    *,
    method: str = "POST",
    account: Account = ACCOUNT_A,
    secret_id: str | None = None,
    secret_key: str | None = None,
    sign_method: str = "HmacSHA256",
    timestamp: int | None = None,
    region: str | None = REGION,
    version: str = VERSION,
    host: str | None = None,
) -> dict[str, Any]:
    """Build a v1 (HmacSHA1/HmacSHA256) parameter set including the Signature, the way the SDK does."""
    p: dict[str, Any] = dict(flatten(params or {}))
    p["Action"] = action
    p["RequestClient"] = "SDK_PYTHON_3.1.100"
    p["Nonce"] = random.randint(1, 2**62)
    p["Timestamp"] = int(time.time()) if timestamp is None else timestamp
    p["Version"] = version
    if region:
        p["Region"] = region
    p["SecretId"] = secret_id or account.secret_id
    p["SignatureMethod"] = sign_method
    p["Language"] = "zh-CN"
    sign_src = {k.replace("_", "."): v for k, v in p.items()}
    joined = "&".join(f"{k}={sign_src[k]}" for k in sorted(sign_src))
    s = f"{method}{host or server.endpoint}/?{joined}"
    p["Signature"] = Sign.sign(secret_key or account.secret_key, s, sign_method)
    return p


def raw_v1(server: Server, action: str, params: dict | None = None, *, method: str = "POST",
           **kw: Any) -> requests.Response:
    p = v1_params(server, action, params, method=method, **kw)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if method == "GET":
        return requests.get(server.base_url + "/?" + urlencode(p), headers=headers, timeout=30)
    return requests.post(server.base_url + "/", data=urlencode(p), headers=headers, timeout=30)


def api_json(resp: requests.Response) -> dict:
    """Check the envelope rules every API response must follow; return the `Response` object."""
    assert resp.status_code == 200, f"HTTP {resp.status_code}: {resp.text[:500]}"
    assert resp.headers.get("Content-Type") == "application/json", (
        f"Content-Type must be exactly application/json, got {resp.headers.get('Content-Type')!r}")
    body = resp.json()
    assert set(body) == {"Response"}, f"envelope must be {{'Response': ...}}: {body}"
    r = body["Response"]
    assert is_uuid(r.get("RequestId")), f"RequestId is not a UUID: {r.get('RequestId')!r}"
    return r


def api_error(resp: requests.Response) -> str:
    r = api_json(resp)
    assert "Error" in r, f"expected an error response, got {r}"
    assert isinstance(r["Error"].get("Message"), str)
    return r["Error"]["Code"]


# --------------------------------------------------------------------------------------
# tccli
# --------------------------------------------------------------------------------------

class TccliResult:
    def __init__(self, proc: subprocess.CompletedProcess):
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.output = proc.stdout + proc.stderr

    def json(self) -> Any:
        assert self.returncode == 0, f"tccli failed ({self.returncode}): {self.output}"
        return json.loads(self.stdout)

    def __repr__(self) -> str:  # pragma: no cover
        return f"TccliResult(rc={self.returncode}, out={self.output!r})"


def run_tccli(server: Server, action: str, args: list[str], account: Account = ACCOUNT_A,
              region: str = REGION, params: dict | None = None) -> TccliResult:
    cmd = [tccli_bin(), "scf", action]
    for k, v in (params or {}).items():
        cmd += [f"--{k}", v if isinstance(v, str) else json.dumps(v)]
    cmd += args
    cmd += [
        "--secretId", account.secret_id, "--secretKey", account.secret_key,
        "--region", region, "--endpoint", f"http://{server.endpoint}",
    ]
    home = server.workdir / "tccli-home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENCENTCLOUD_")}
    env["HOME"] = str(home)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60, stdin=subprocess.DEVNULL)
    return TccliResult(proc)


def address(api, name, namespace=None):
    p = {"FunctionName": name}
    if namespace:
        p["Namespace"] = namespace
    return api.call("GetFunctionAddress", p)


def tamper_sign(url):
    u = urlparse(url)
    q = parse_qsl(u.query, keep_blank_values=True)
    keys = [k for k, _ in q if k.lower() in ("sign", "signature", "sig", "token")]
    assert keys, f"download URL carries no sign parameter: {url}"
    out = []
    for k, v in q:
        if k == keys[0]:
            v = (v[:-1] + ("0" if v[-1:] != "0" else "1")) if v else "tampered"
        out.append((k, v))
    return urlunparse(u._replace(query=urlencode(out)))


def poll(fn: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05,
         what: str = "condition") -> Any:
    """Call fn until it returns something truthy; return it (fail on timeout, naming `what`)."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not met within {timeout}s")
        time.sleep(interval)
