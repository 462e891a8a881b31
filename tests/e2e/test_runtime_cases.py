"""Runtime cases as data: one test per folder of tests/runtime-cases.

Each folder holds a function's files plus `case.json`:

    {"runtime": "Python3.9", "handler": "index.main_handler", "event": {...},
     "memory": 128, "timeout": 3, "env": {"K": "V"},
     "expect": {
        "invoke_result": 0 | -1,
        "ret_msg": "<exact RetMsg>",                 optional
        "ret_msg_json": <RetMsg parsed as JSON equals this>,        optional
        "ret_msg_json_subset": <every key given must match>,        optional (dicts, recursive)
        "ret_msg_contains": ["..."], "err_msg_contains": ["..."],   optional
        "err_msg_endswith": "...",                                  optional
        "log_contains": ["..."]  (between START and END), "log_anywhere": ["..."],
        "log_not_contains": ["..."],                                optional
        "log_max_bytes": 4096, "log_truncated": true                optional
     }}

Expected strings may use ${FUNCTION_NAME}, ${REQUEST_ID}, ${REGION}, ${APPID}, ${UIN}.
The folder (minus case.json) is zipped with its file modes (a custom runtime's `bootstrap` must
stay executable), created as function `rc-<folder>`, and invoked synchronously with LogType Tail.
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest

from invoketest import deploy, invoke, is_uuid
from scfdtest import ACCOUNT_A, REGION

CASES_DIR = Path(__file__).resolve().parents[1] / "runtime-cases"
CASES = sorted(p.name for p in CASES_DIR.iterdir() if (p / "case.json").is_file())


def zip_folder(folder: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_dir() or path.name == "case.json" or "__pycache__" in path.parts:
                continue
            arc = path.relative_to(folder).as_posix()
            info = zipfile.ZipInfo(arc, date_time=(2024, 1, 1, 0, 0, 0))
            info.create_system = 3  # unix: keep the mode bits
            info.external_attr = (0o100000 | (path.stat().st_mode & 0o777)) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
    return buf.getvalue()


def substitute(v: Any, subs: dict[str, str]) -> Any:
    if isinstance(v, str):
        for k, val in subs.items():
            v = v.replace("${" + k + "}", val)
        return v
    if isinstance(v, list):
        return [substitute(x, subs) for x in v]
    if isinstance(v, dict):
        return {k: substitute(x, subs) for k, x in v.items()}
    return v


def assert_subset(expected: Any, actual: Any, path: str = "RetMsg") -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: expected an object, got {actual!r}"
        for k, v in expected.items():
            assert k in actual, f"{path}.{k} missing in {actual!r}"
            assert_subset(v, actual[k], f"{path}.{k}")
    else:
        assert actual == expected, f"{path}: expected {expected!r}, got {actual!r}"


def function_name(case: str) -> str:
    return ("rc-" + re.sub(r"[^A-Za-z0-9_-]", "-", case))[:60]


@pytest.mark.parametrize("case", CASES)
def test_runtime_case(case, eapi):
    folder = CASES_DIR / case
    spec = json.loads((folder / "case.json").read_text())
    name = function_name(case)
    deploy(eapi, zip_folder(folder), name=name, runtime=spec["runtime"], handler=spec["handler"],
           env=spec.get("env"), memory=spec.get("memory", 128), timeout=spec.get("timeout", 3))

    r = invoke(eapi, name, spec.get("event", {}))
    rid = r["FunctionRequestId"]
    assert is_uuid(rid), r
    subs = {"FUNCTION_NAME": name, "REQUEST_ID": rid, "REGION": REGION,
            "APPID": str(ACCOUNT_A.app_id), "UIN": ACCOUNT_A.uin}
    exp = substitute(spec["expect"], subs)
    ctx = f"case {case}: Result = {json.dumps(r, ensure_ascii=False)[:3000]}"

    # -- outcome --------------------------------------------------------------------
    assert r["InvokeResult"] == exp["invoke_result"], ctx
    if exp["invoke_result"] == 0:
        assert r["ErrMsg"] in ("", None), ctx
    else:
        assert r["ErrMsg"], ctx
        assert r["RetMsg"], ctx
    if "ret_msg" in exp:
        assert r["RetMsg"] == exp["ret_msg"], ctx
    if "ret_msg_json" in exp:
        assert json.loads(r["RetMsg"]) == exp["ret_msg_json"], ctx
    if "ret_msg_json_subset" in exp:
        assert_subset(exp["ret_msg_json_subset"], json.loads(r["RetMsg"]))
    for s in exp.get("ret_msg_contains", []):
        assert s in r["RetMsg"], f"RetMsg lacks {s!r}; {ctx}"
    for s in exp.get("err_msg_contains", []):
        assert s in r["ErrMsg"], f"ErrMsg lacks {s!r}; {ctx}"
    if "err_msg_endswith" in exp:
        assert r["ErrMsg"].rstrip().endswith(exp["err_msg_endswith"]), ctx

    # -- log (LogType Tail) -----------------------------------------------------------
    log = r["Log"] or ""
    assert len(log.encode()) <= exp.get("log_max_bytes", 4096), f"Log over 4 KB ({len(log.encode())} bytes)"
    if not exp.get("log_truncated"):
        assert f"START RequestId: {rid}" in log, f"no START line; {ctx}"
    assert f"END RequestId: {rid}" in log, f"no END line; {ctx}"
    report = re.search(r"Report RequestId: " + re.escape(rid) + r".*", log)
    assert report, f"no Report line; {ctx}"
    for field in ("Duration:", "Billed Duration:", "Memory Size:", "Max Memory Used:"):
        assert field in report.group(0), f"Report line lacks {field}: {report.group(0)!r}"
    for s in exp.get("log_contains", []):
        assert s in log, f"Log lacks {s!r}; {ctx}"
    for s in exp.get("log_anywhere", []):
        assert s in log, f"Log lacks {s!r}; {ctx}"
    for s in exp.get("log_not_contains", []):
        assert s not in log, f"Log should not contain {s!r}; {ctx}"
    if not exp.get("log_truncated"):
        assert log.index(f"START RequestId: {rid}") < log.index(f"END RequestId: {rid}"), ctx
        for s in exp.get("log_contains", []):
            i = log.index(s)
            assert log.index(f"START RequestId: {rid}") < i < log.index(f"END RequestId: {rid}"), (
                f"{s!r} is not between START and END; {ctx}")

    # -- accounting -----------------------------------------------------------------
    assert isinstance(r["Duration"], (int, float)) and r["Duration"] >= 0, ctx
    assert isinstance(r["BillDuration"], int), ctx
    assert r["BillDuration"] >= 100 and r["BillDuration"] % 100 == 0, ctx
    assert r["BillDuration"] >= r["Duration"], ctx
    assert isinstance(r["MemUsage"], int) and r["MemUsage"] > 0, ctx

def test_runtime_cases_folder_is_complete():
    """The case folders cover what the suite promises (and every case.json parses)."""
    assert len(CASES) >= 30, CASES
    runtimes = set()
    for c in CASES:
        spec = json.loads((CASES_DIR / c / "case.json").read_text())
        assert spec["expect"]["invoke_result"] in (0, -1), c
        runtimes.add(spec["runtime"])
        if spec["runtime"] == "CustomRuntime":
            assert os.access(CASES_DIR / c / "bootstrap", os.X_OK), f"{c}/bootstrap is not executable"
    assert {"Python3.9", "Nodejs16.13", "CustomRuntime"} <= runtimes
