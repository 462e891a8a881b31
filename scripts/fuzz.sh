#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ (cargo fuzz) and runs each for a bounded time from its
# seeds (fuzz/corpus/<target>/); fails on any crash, failed property, leak or hang.
#
#   bash scripts/fuzz.sh                    # every target, 60 s each
#   FUZZ_SECONDS=10 bash scripts/fuzz.sh    # shorter
#   bash scripts/fuzz.sh zip_guard tc3      # only these targets
#   FUZZ_SANITIZER=none bash scripts/fuzz.sh   # without AddressSanitizer: builds in about
#                                             # two thirds of the CPU time, runs faster
#
# The inputs a run adds go to a temporary folder, so the seeds stay as committed. A crash's
# input is kept in fuzz/artifacts/<target>/; replay it with
#   cargo +nightly fuzz run <target> fuzz/artifacts/<target>/crash-<hash>
# and make it a unit test in the crate that owns the code.
#
# cargo fuzz needs nightly's -Z flags: with no nightly toolchain installed (rustup cannot fetch
# one on every machine) the installed one is run with RUSTC_BOOTSTRAP=1, which allows them.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
export PATH="$HOME/.cargo/bin:$PATH"
SECONDS_EACH="${FUZZ_SECONDS:-60}"
# AddressSanitizer by default: scfd's crates forbid unsafe code, but the zip and deflate
# crates that read hostile archives are full of it.
SANITIZER="${FUZZ_SANITIZER:-address}"
# cargo-fuzz's own version: installed from crates.io when missing.
CARGO_FUZZ_VERSION="0.13.2"

log() { printf '\n==> %s\n' "$*"; }

if cargo +nightly --version >/dev/null 2>&1; then
  CARGO=(cargo +nightly)
else
  echo "no nightly toolchain: using $(rustc --version) with RUSTC_BOOTSTRAP=1"
  export RUSTC_BOOTSTRAP=1
  CARGO=(cargo)
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  log "cargo install cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  mapfile -t targets < <(cd "$ROOT/fuzz" && "${CARGO[@]}" fuzz list)
fi

log "cargo fmt --check (fuzz/)"
(cd "$ROOT/fuzz" && cargo fmt --check)

# The binaries are run as built here: `cargo fuzz run` would build again first, and rebuild
# whatever an edit elsewhere in the tree touched since.
triple="$(rustc -vV | sed -n 's/^host: //p')"
bin_dir="$ROOT/fuzz/target/$triple/release"
log "cargo fuzz build --sanitizer $SANITIZER (${targets[*]})"
started=$(date +%s)
(cd "$ROOT/fuzz" && "${CARGO[@]}" fuzz build --target "$triple" --sanitizer "$SANITIZER")
echo "built in $(($(date +%s) - started)) s"
# As cargo fuzz run sets it.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_odr_violation=0}"

work="$(mktemp -d /tmp/scfd-fuzz.XXXXXX)"
trap 'rm -rf "$work"' EXIT
failed=()
for target in "${targets[@]}"; do
  log "fuzz $target for ${SECONDS_EACH} s"
  target_started=$(date +%s)
  mkdir -p "$work/$target" "$ROOT/fuzz/artifacts/$target"
  # -max_len: room for the largest seed and more (a deep parameter key, a zip of a few
  # files); -timeout: a single input taking 10 s is a hang; -rss_limit_mb: a bomb that gets
  # past a cap shows as a crash.
  if "$bin_dir/$target" "$work/$target" "$ROOT/fuzz/corpus/$target" \
    -artifact_prefix="$ROOT/fuzz/artifacts/$target/" -max_total_time="$SECONDS_EACH" \
    -max_len=16384 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    >"$work/$target.log" 2>&1; then
    runs="$(grep -E '^stat::number_of_executed_units' "$work/$target.log" | grep -oE '[0-9]+$' || echo '?')"
    echo "$target: $runs runs, no failure ($(($(date +%s) - target_started)) s)"
  else
    cp "$work/$target.log" "$ROOT/fuzz/artifacts/$target/last-run.log"
    grep -E -A6 'panicked at|ERROR: (libFuzzer|AddressSanitizer)' "$work/$target.log" | head -n 40 || true
    grep -E 'Test unit written to' "$work/$target.log" || true
    echo "(the whole log: fuzz/artifacts/$target/last-run.log)"
    failed+=("$target")
  fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzzing found a failure in: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzzing: ${#targets[@]} targets, ${SECONDS_EACH} s each, no failure ($(($(date +%s) - started)) s in all)"
