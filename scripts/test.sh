#!/usr/bin/env bash
# The one test command: builds scfd, runs the Rust tests and the end-to-end suite
# (official Tencent Cloud Python SDK + tccli against a real scfd process).
#
#   bash scripts/test.sh            # everything
#   SKIP_RUST_TESTS=1 bash scripts/test.sh   # only build + e2e
#   bash scripts/test.sh -k namespace        # extra args go to pytest
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
VENV="$ROOT/.venv"
PY_PACKAGES=(tencentcloud-sdk-python-common tencentcloud-sdk-python-scf tccli pytest)

log() { printf '\n==> %s\n' "$*"; }

# --- (a) python venv with the official SDK, tccli and pytest ---------------------------
if [[ -n "${SCFD_PYTHON:-}" ]]; then
  PY="$SCFD_PYTHON"
else
  # python3 on PATH may be a pyenv shim: resolve the real interpreter
  PY="$(python3 -c 'import sys; print(sys.executable)')"
fi

venv_ok() {
  [[ -x "$VENV/bin/python" && -x "$VENV/bin/tccli" ]] &&
    "$VENV/bin/python" -c 'import tencentcloud.scf.v20180416.scf_client, tencentcloud.common.sign, pytest' \
      >/dev/null 2>&1
}

if ! venv_ok; then
  log "creating python venv at .venv ($PY)"
  if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
  fi
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PY_PACKAGES[@]}"
  venv_ok || { echo "python venv is incomplete after install" >&2; exit 1; }
fi

# --- (b) build the server --------------------------------------------------------------
# Every binary of the scfd package: the server (scfd) and the sandbox launcher it spawns
# instances through (scf-sandbox, found next to scfd).
log "cargo build --release -p scfd --bins"
cargo build --release -p scfd --bins
for bin in scfd scf-sandbox; do
  if [[ ! -x "$ROOT/target/release/$bin" ]]; then
    echo "warning: target/release/$bin was not built; the tests that need it will fail" >&2
  fi
done

# --- (c) Rust tests --------------------------------------------------------------------
if [[ -z "${SKIP_RUST_TESTS:-}" ]]; then
  if cargo nextest --version >/dev/null 2>&1; then
    log "cargo nextest run --workspace"
    cargo nextest run --workspace --no-tests=pass
  else
    log "cargo test --workspace"
    cargo test --workspace
  fi
fi

# --- (d) end-to-end suite --------------------------------------------------------------
log "pytest tests/e2e"
export SCFD_BIN="$ROOT/target/release/scfd"
"$VENV/bin/python" -m pytest tests/e2e -q -p no:cacheprovider "$@"
