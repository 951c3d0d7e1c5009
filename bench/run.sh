#!/usr/bin/env bash
# Benchmarks over synthetic projects (examples/synth.rs). Not part of CI: targets live here and
# in BENCHMARKS.md, never in timed tests. Usage: bench/run.sh [models_for_parse] [models_for_build]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/strata/target}"
BIG=${1:-10000}
SMALL=${2:-1000}
RUNS=${RUNS:-5}
cargo build --profile perf --bin strata --example synth --example replay >/dev/null 2>&1
BIN="$CARGO_TARGET_DIR/perf/strata"
EX="$CARGO_TARGET_DIR/perf/examples"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
"$EX/synth" "$BIG" "$WORK/big" 2>/dev/null
"$EX/synth" "$SMALL" "$WORK/small" 2>/dev/null

# best (min) wall seconds and max peak RSS (MB) of RUNS runs of a command
measure() {
  local best="" peak=0
  for _ in $(seq "$RUNS"); do
    local out
    /usr/bin/time -o "$WORK/time.txt" -f "%e %M" "$@" >/dev/null 2>&1
    out=$(tail -1 "$WORK/time.txt")
    local secs=${out% *} kb=${out#* }
    if [ -z "$best" ] || awk "BEGIN{exit !($secs < $best)}"; then best=$secs; fi
    [ "$kb" -gt "$peak" ] && peak=$kb
  done
  echo "$best $((peak / 1024))"
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -srm)"
read -r s m < <(measure "$BIN" parse --project-dir "$WORK/big")
echo "parse   $BIG models: ${s}s wall, ${m} MB peak (target < 1 s, < 300 MB)"
read -r s m < <(measure "$BIN" compile --project-dir "$WORK/big")
echo "compile $BIG models and their tests, target/ already written: ${s}s wall, ${m} MB peak (target < 2 s)"
cold=""
for _ in $(seq "$RUNS"); do
  rm -rf "$WORK/big/target"
  /usr/bin/time -o "$WORK/time.txt" -f "%e" "$BIN" compile --project-dir "$WORK/big" >/dev/null 2>&1
  secs=$(tail -1 "$WORK/time.txt")
  if [ -z "$cold" ] || awk "BEGIN{exit !($secs < $cold)}"; then cold=$secs; fi
done
echo "compile $BIG models and their tests, empty target/: ${cold}s wall"
read -r off _ < <(measure "$BIN" compile --static-analysis off --project-dir "$WORK/big")
read -r on _ < <(measure "$BIN" compile --project-dir "$WORK/big")
echo "static analysis and column lineage: compile ${on}s with it, ${off}s without: $(awk "BEGIN{printf \"%.0f%%\", ($on - $off) / $on * 100}") of compile (target < 30%)"
read -r s m < <(measure "$BIN" docs generate --project-dir "$WORK/big")
echo "docs generate $BIG models: ${s}s wall, ${m} MB peak; site $(du -sh "$WORK/big/target/docs" | cut -f1) in $(find "$WORK/big/target/docs" -type f | wc -l) files, index.js $(du -k "$WORK/big/target/docs/index.js" | cut -f1) KB"
if command -v chromium >/dev/null 2>&1; then
  # Headless Chromium opens the site from file:// at a search and at a model's page; the page
  # records, in ms since navigation start, when its first view and the search answer were done.
  page="file://$WORK/big/target/index.html"
  chrome() {
    chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
      --disable-component-update --disable-sync --user-data-dir="$WORK/chrome" --virtual-time-budget=10000 --dump-dom "$1" 2>/dev/null
  }
  for route in "search/total_amount" "node/model.synth.mart_00500/total_amount"; do
    t0=$(date +%s.%N)
    body=$(chrome "$page#!/$route" | grep -o '<body[^>]*>')
    t1=$(date +%s.%N)
    echo "chromium $route: $(echo "$body" | grep -o 'data-[a-z-]*ms="[0-9]*"' | tr '\n' ' ')(whole browser run $(awk "BEGIN{printf \"%.2f\", $t1 - $t0}")s)"
  done
fi

"$BIN" ls --project-dir "$WORK/small" --resource-type model seed --output json > "$WORK/order.txt" 2>/dev/null
# best wall seconds of a fresh `strata build` with $1 threads (and more flags); the model
# comparison leaves the data tests out, since the baseline replays materializations only
build_time() {
  local best="" threads=$1
  shift
  for _ in $(seq "$RUNS"); do
    rm -f "$WORK/small/synth.duckdb"
    local t0 t1 secs
    t0=$(date +%s.%N)
    "$BIN" build --project-dir "$WORK/small" --threads "$threads" "$@" >/dev/null 2>&1
    t1=$(date +%s.%N)
    secs=$(awk "BEGIN{print $t1 - $t0}")
    if [ -z "$best" ] || awk "BEGIN{exit !($secs < $best)}"; then best=$secs; fi
  done
  echo "$best"
}
one=$(build_time 1 --exclude resource_type:test)
best=$(build_time 2 --exclude resource_type:test)
audited=$(build_time 2)
plain=$(build_time 2 --no-audit)
mkdir -p "$WORK/replay"
base=""
for _ in $(seq "$RUNS"); do
  secs=$("$EX/replay" "$WORK/small" "$WORK/order.txt" "$WORK/replay/synth.duckdb" 2>/dev/null)
  if [ -z "$base" ] || awk "BEGIN{exit !($secs < $base)}"; then base=$secs; fi
done
echo "build   $SMALL models: ${one}s wall with --threads 1, ${best}s with --threads 2 (whole command, fresh database)"
echo "duckdb alone, same statements, one connection: ${base}s"
echo "ratio: $(awk "BEGIN{printf \"%.2f\", $one / $base}") with 1 thread, $(awk "BEGIN{printf \"%.2f\", $best / $base}") with 2 (target <= 1.2)"
echo "build   $SMALL models with their data tests, --threads 2: ${audited}s audited (default), ${plain}s with --no-audit"

# `strata test` on the built project (one data test per column key), against DuckDB alone running
# the same test queries (target/run/...) in one connection on the same database.
rm -f "$WORK/small/synth.duckdb"
"$BIN" build --project-dir "$WORK/small" --no-audit >/dev/null 2>&1 || true
"$BIN" ls --project-dir "$WORK/small" --resource-type test --output json > "$WORK/tests.txt" 2>/dev/null
ntests=$(wc -l < "$WORK/tests.txt")
test_time() {
  local best=""
  for _ in $(seq "$RUNS"); do
    local t0 t1 secs
    t0=$(date +%s.%N)
    "$BIN" test --project-dir "$WORK/small" --threads "$1" >/dev/null 2>&1 || true
    t1=$(date +%s.%N)
    secs=$(awk "BEGIN{print $t1 - $t0}")
    if [ -z "$best" ] || awk "BEGIN{exit !($secs < $best)}"; then best=$secs; fi
  done
  echo "$best"
}
tone=$(test_time 1)
ttwo=$(test_time 2)
tbase=""
for _ in $(seq "$RUNS"); do
  secs=$(REPLAY_KEEP_DB=1 "$EX/replay" "$WORK/small" "$WORK/tests.txt" "$WORK/small/synth.duckdb" 2>/dev/null)
  if [ -z "$tbase" ] || awk "BEGIN{exit !($secs < $tbase)}"; then tbase=$secs; fi
done
echo "test    $SMALL models, $ntests data tests: ${tone}s wall with --threads 1, ${ttwo}s with --threads 2"
echo "duckdb alone, same test queries, one connection: ${tbase}s"
echo "overhead: $(awk "BEGIN{printf \"%.0f%%\", ($tone / $tbase - 1) * 100}") with 1 thread, $(awk "BEGIN{printf \"%.0f%%\", ($ttwo / $tbase - 1) * 100}") with 2 (target < 10%)"
