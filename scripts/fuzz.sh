#!/usr/bin/env bash
# Runs the cargo-fuzz targets in fuzz/ (docs/fuzzing.md), one after the other, one process.
#   scripts/fuzz.sh [--runs N] [--seconds S] [TARGET...]
#                                            N executions per target (default 100000), each
#                                            target stopping after S seconds if that comes first
#   scripts/fuzz.sh --smoke                  every target briefly (CI)
#   scripts/fuzz.sh --list                   the target names
# Every run starts with the checked-in seeds (fuzz/corpus/) and past findings
# (fuzz/regressions/); `cd fuzz && cargo test --workspace` replays those on stable without libFuzzer.
# Prints per target: executions, exec/s, coverage (libFuzzer's cov: and ft:), corpus size and
# crashes; exits non-zero if any target crashed. A crashing input is kept in
# fuzz/work/artifacts/<target>/; new corpus inputs collect in fuzz/work/corpus/<target>/
# (neither is checked in; fuzz/corpus/ holds the generated seeds).
# Installs what it needs when missing: the pinned nightly (rustup) and cargo-fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."

# The one place the nightly is named. libFuzzer's instrumentation needs nightly rustc.
NIGHTLY=nightly-2026-05-20
CARGO_FUZZ_VERSION=0.13.2
SMOKE_RUNS=20000

runs=100000
seconds_cap=0

targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --runs=*) runs="${1#--runs=}"; shift ;;
    --seconds) seconds_cap="$2"; shift 2 ;;
    --seconds=*) seconds_cap="${1#--seconds=}"; shift ;;
    --smoke) runs=$SMOKE_RUNS; shift ;;
    --list) sed -n 's/^name = "\([a-z0-9_]*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^rtmpws'; exit 0 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
all_targets=$(sed -n 's/^name = "\([a-z0-9_]*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^rtmpws')
if [ ${#targets[@]} -eq 0 ]; then
  read -r -a targets <<<"$(echo $all_targets)"
fi
for t in "${targets[@]}"; do
  grep -qx "$t" <<<"$all_targets" || { echo "no fuzz target $t (see --list)" >&2; exit 2; }
done

say() { printf '== %s\n' "$*" >&2; }

if ! rustup toolchain list | grep -q "^$NIGHTLY"; then
  say "installing $NIGHTLY"
  rustup toolchain install "$NIGHTLY" --profile minimal
fi
if [ "$(cargo fuzz --version 2>/dev/null | awk '{print $2}')" != "$CARGO_FUZZ_VERSION" ]; then
  say "installing cargo-fuzz $CARGO_FUZZ_VERSION (about 2 minutes)"
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked ||
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi

# Everything Rust-side is forbid(unsafe_code), so AddressSanitizer would only slow the runs
# down; debug assertions stay on, so arithmetic overflow is a finding too.
target_dir="$PWD/fuzz/target"
triple=$(rustc +"$NIGHTLY" -vV | sed -n 's/^host: //p')
say "building the fuzz targets"
cargo +"$NIGHTLY" fuzz build --fuzz-dir fuzz --target-dir "$target_dir" -O -a -s none >&2
bin_dir="$target_dir/$triple/release"

# Inputs larger than libFuzzer's default 4 KiB for the targets that need a handshake or
# several tags to get anywhere.
max_len() {
  case "$1" in
    handshake|server_session|client_session) echo 16384 ;;
    flv_reader|remux|vod_index|chunk_roundtrip|chunk_decoder) echo 8192 ;;
    *) echo 4096 ;;
  esac
}

mkdir -p fuzz/work/logs
summary=fuzz/work/summary.tsv
printf 'target\texecutions\texec/s\tcov\tft\tcorpus\tcrashes\tseconds\n' >"$summary"
printf '%-16s %12s %9s %7s %7s %7s %8s %8s\n' target executions exec/s cov ft corpus crashes seconds
failed=()
for t in "${targets[@]}"; do
  work="fuzz/work/corpus/$t"
  artifacts="fuzz/work/artifacts/$t/"
  log="fuzz/work/logs/$t.log"
  mkdir -p "$work" "$artifacts" "fuzz/corpus/$t" "fuzz/regressions/$t"
  start=$(date +%s%N)
  status=0
  "$bin_dir/$t" "$work" "fuzz/corpus/$t" "fuzz/regressions/$t" -runs="$runs" -max_total_time="$seconds_cap" -max_len="$(max_len "$t")" \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts" \
    >"$log" 2>&1 || status=$?
  seconds=$(awk -v a="$start" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
  done_line=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  exec_s=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  if [ "${exec_s:-0}" = 0 ] && [ -n "$executions" ]; then
    # libFuzzer rounds its elapsed time down to whole seconds; use the wall time instead.
    exec_s=$(awk -v n="$executions" -v s="$seconds" 'BEGIN { printf "%d", n / (s > 0 ? s : 1) }')
  fi
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$done_line")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$done_line")
  corpus=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$done_line")
  crashes=0
  if [ "$status" -ne 0 ]; then
    crashes=1
    failed+=("$t")
  fi
  printf '%-16s %12s %9s %7s %7s %7s %8s %8.1f\n' "$t" "${executions:--}" "${exec_s:--}" \
    "${cov:--}" "${ft:--}" "${corpus:--}" "$crashes" "$seconds"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f\n' "$t" "${executions:--}" "${exec_s:--}" \
    "${cov:--}" "${ft:--}" "${corpus:--}" "$crashes" "$seconds" >>"$summary"
  if [ "$status" -ne 0 ]; then
    grep -E 'panicked|ERROR|SUMMARY|Test unit written|^Base64' "$log" | head -8 | sed 's/^/    /'
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "crashed: ${failed[*]} (logs in fuzz/work/logs/, inputs in fuzz/work/artifacts/)" >&2
  exit 1
fi
