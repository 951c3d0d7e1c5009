#!/usr/bin/env bash
# Change-aware builds and incremental models (issue 5's figures in BENCHMARKS.md). Not part of
# CI. Usage: bench/changes.sh [models_for_big] [models_for_small] [fact_rows]
#  - no-op rebuild: a second `strata build` of an unchanged synthetic project (every node and
#    test skipped as unchanged), after a first build of it;
#  - incremental: a fact model over a source of fact_rows rows (10 million by default); 1% new
#    rows are loaded and the model built incrementally (delete+insert and merge on its key),
#    against rebuilding it with --full-refresh.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/strata/target}"
BIG=${1:-10000}
SMALL=${2:-1000}
ROWS=${3:-10000000}
RUNS=${RUNS:-5}
cargo build --release --bin strata --example synth >/dev/null 2>&1
BIN="$CARGO_TARGET_DIR/release/strata"
EX="$CARGO_TARGET_DIR/release/examples"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# best wall seconds of RUNS runs of a command (run after an untimed preparation command $1)
best_of() {
  local prep=$1 best=""
  shift
  for _ in $(seq "$RUNS"); do
    eval "$prep"
    local t0 t1 secs
    t0=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    t1=$(date +%s.%N)
    secs=$(awk "BEGIN{print $t1 - $t0}")
    if [ -z "$best" ] || awk "BEGIN{exit !($secs < $best)}"; then best=$secs; fi
  done
  echo "$best"
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -srm)"
for n in "$SMALL" "$BIG"; do
  "$EX/synth" "$n" "$WORK/p$n" 2>/dev/null
  t0=$(date +%s.%N)
  "$BIN" build --project-dir "$WORK/p$n" >/dev/null 2>&1 || true
  t1=$(date +%s.%N)
  noop=$(best_of ":" "$BIN" build --project-dir "$WORK/p$n")
  summary=$("$BIN" build --project-dir "$WORK/p$n" 2>&1 | grep -o 'Done\..*' || true)
  echo "no-op build $n models: ${noop}s (first build $(awk "BEGIN{printf \"%.1f\", $t1 - $t0}")s; $summary)"
done

INC="$WORK/inc"
mkdir -p "$INC/models" "$INC/macros"
printf "name: inc\nversion: '1.0'\nprofile: inc\n" > "$INC/dbt_project.yml"
printf "inc:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: inc.duckdb\n      threads: 2\n" > "$INC/profiles.yml"
printf "version: 2\nsources:\n  - name: raw\n    schema: raw\n    tables:\n      - name: events\n" > "$INC/models/sources.yml"
cat > "$INC/macros/load.sql" <<'EOF'
{% macro load_events(start, n) %}
  {% do run_query("create schema if not exists raw") %}
  {% do run_query("create table if not exists raw.events (id bigint, ts timestamp, customer_id integer, amount double)") %}
  {% do run_query("insert into raw.events select i, timestamp '2024-01-01' + to_seconds(i), (i % 1000)::integer, (i % 97) * 1.5 from range(" ~ start ~ ", " ~ (start + n) ~ ") t(i)") %}
{% endmacro %}
EOF
for strategy in delete+insert merge; do
  cat > "$INC/models/fct_events.sql" <<EOF
{{ config(materialized='incremental', unique_key='id', incremental_strategy='$strategy') }}
select id, ts, customer_id, amount * 1.2 as amount_with_tax, date_trunc('day', ts) as day
from {{ source('raw', 'events') }}
{% if is_incremental() %}
where id > (select max(id) from {{ this }})
{% endif %}
EOF
  rm -f "$INC/inc.duckdb"
  "$BIN" run-operation load_events --args "{start: 0, n: $ROWS}" --project-dir "$INC" >/dev/null 2>&1
  full=$(best_of ":" "$BIN" run --project-dir "$INC" --full-refresh)
  next=$ROWS
  step=$((ROWS / 100))
  load_more() {
    "$BIN" run-operation load_events --args "{start: $next, n: $step}" --project-dir "$INC" >/dev/null 2>&1
    next=$((next + step))
  }
  inc=$(best_of load_more "$BIN" run --project-dir "$INC")
  rows=$("$BIN" show --inline "select count(*) as n from fct_events" --project-dir "$INC" 2>/dev/null | grep -Eo '[0-9]{6,}' | head -1)
  echo "incremental $strategy, +1% ($step rows) on a $ROWS-row fact table: ${inc}s; full rebuild (--full-refresh): ${full}s; $(awk "BEGIN{printf \"%.1f\", $full / $inc}")x faster (table now $rows rows)"
done
