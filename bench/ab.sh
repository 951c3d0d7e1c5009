#!/usr/bin/env bash
# A/B of two strata binaries on the same generated projects, the runs alternating so that both
# see the same machine: best wall seconds (and peak MB) of RUNS runs of parse, compile and
# docs generate (synth, 10,000 models), build and test (synth, 1,000 models), and parse and
# build of ../shared/bench/gen_project.py's 1,000-model project. For "no regression" checks;
# figures go to BENCHMARKS.md. Usage: bench/ab.sh BEFORE_BINARY AFTER_BINARY
set -u
cd "$(dirname "$0")/.."
A=$1
B=$2
RUNS=${RUNS:-3}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/strata/target}"
SYNTH=${SYNTH:-$CARGO_TARGET_DIR/release/examples/synth}
[ -x "$SYNTH" ] || cargo build --release --example synth >/dev/null 2>&1
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
"$SYNTH" 10000 "$W/big" 2>/dev/null
"$SYNTH" 1000 "$W/small" 2>/dev/null
python3 ../shared/bench/gen_project.py --models 1000 --out "$W/gen1k" --seed 42 >/dev/null
declare -A best mem
# label, then the command with BIN where the binary goes; $PRE runs before each run
run() {
  local label=$1
  shift
  for _ in $(seq "$RUNS"); do
    for which in A B; do
      local bin=${!which}
      [ -n "${PRE:-}" ] && eval "$PRE"
      /usr/bin/time -o "$W/t.txt" -f "%e %M" "${@/BIN/$bin}" >/dev/null 2>&1
      read -r s m < <(tail -1 "$W/t.txt")
      local k="$label|$which"
      if [ -z "${best[$k]:-}" ] || awk "BEGIN{exit !($s < ${best[$k]})}"; then best[$k]=$s; fi
      if [ -z "${mem[$k]:-}" ] || [ "$m" -gt "${mem[$k]}" ]; then mem[$k]=$m; fi
    done
  done
  printf "%-45s before %6ss %5s MB   after %6ss %5s MB\n" "$label" "${best[$label|A]}" "$((${mem[$label|A]} / 1024))" \
    "${best[$label|B]}" "$((${mem[$label|B]} / 1024))"
}
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -srm); best of $RUNS"
run "parse synth 10000" BIN parse --project-dir "$W/big"
run "compile synth 10000 (target written)" BIN compile --project-dir "$W/big"
run "docs generate synth 10000" BIN docs generate --project-dir "$W/big"
PRE='rm -f "$W/small/synth.duckdb"' run "build synth 1000 --threads 1 (no tests)" BIN build --project-dir "$W/small" --threads 1 --exclude resource_type:test
PRE='rm -f "$W/small/synth.duckdb"' run "build synth 1000 --threads 2 (audited)" BIN build --project-dir "$W/small" --threads 2
run "test synth 1000 --threads 1" BIN test --project-dir "$W/small" --threads 1
run "parse gen_project 1000" BIN parse --project-dir "$W/gen1k"
PRE='rm -f "$W"/gen1k/*.duckdb' run "build gen_project 1000 --threads 1" BIN build --project-dir "$W/gen1k" --threads 1
