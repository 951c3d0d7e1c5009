#!/usr/bin/env bash
# The cost of a python model (issue 11's figure in BENCHMARKS.md). Not part of CI.
# Usage: bench/python_model.sh [rows] [profile]   (defaults: 1000000 rows, the release profile)
#
# One project, a source of `rows` rows made by an on-run-start hook, and three models that
# produce the same table from it: a SQL table model, a python model returning the DuckDB
# relation, and a python model returning a pandas DataFrame. Each model's own execution time
# (run_results.json) is the best of RUNS builds; the python models' overhead is their time minus
# the SQL model's: exporting the input to parquet, starting Python and importing duckdb (and
# pandas), the model itself, writing the result to parquet and loading it.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/strata/target}"
ROWS=${1:-1000000}
PROFILE=${2:-release}
RUNS=${RUNS:-5}
cargo build --profile "$PROFILE" --bin strata >/dev/null 2>&1
DIR=$PROFILE
[ "$PROFILE" = dev ] && DIR=debug
BIN="$CARGO_TARGET_DIR/$DIR/strata"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
P="$WORK/py"
mkdir -p "$P/models"
cat > "$P/dbt_project.yml" <<YML
name: py
version: '1.0'
profile: py
models:
  py:
    +materialized: table
on-run-start:
  - "create schema if not exists raw; create or replace table raw.events as select i as id, i % 97 as kind, 'row ' || i as label, i * 0.5 as amount from range($ROWS) t(i)"
YML
cat > "$P/profiles.yml" <<'YML'
py:
  target: dev
  outputs:
    dev: {type: duckdb, path: py.duckdb, threads: 1}
YML
cat > "$P/models/sources.yml" <<'YML'
version: 2
sources:
  - name: raw
    tables: [{name: events}]
YML
echo "select id, kind, label, amount * 2 as amount from {{ source('raw', 'events') }} where kind <> 3" > "$P/models/sql_model.sql"
cat > "$P/models/py_relation.py" <<'PY'
def model(dbt, session):
    return dbt.source("raw", "events").filter("kind <> 3").project("id, kind, label, amount * 2 as amount")
PY
cat > "$P/models/py_pandas.py" <<'PY'
def model(dbt, session):
    df = dbt.source("raw", "events").df()
    df = df[df["kind"] != 3].copy()
    df["amount"] = df["amount"] * 2
    return df
PY
declare -A best
for _ in $(seq "$RUNS"); do
  "$BIN" build --project-dir "$P" --threads 1 --rebuild-all >/dev/null 2>&1
  while read -r id secs; do
    if [ -z "${best[$id]:-}" ] || awk "BEGIN{exit !($secs < ${best[$id]})}"; then best[$id]=$secs; fi
  done < <(python3 -c "
import json
for r in json.load(open('$P/target/run_results.json'))['results']:
    print(r['unique_id'].split('.')[-1], r['execution_time'])")
done
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -srm), $($BIN --version 2>/dev/null || echo strata), python $(python3 -c 'import sys, duckdb, pandas; print(sys.version.split()[0], "duckdb", duckdb.__version__, "pandas", pandas.__version__)')"
echo "rows in: $ROWS (best of $RUNS)"
startup() { local t0 t1; t0=$(date +%s.%N); python3 -c "$1"; t1=$(date +%s.%N); awk "BEGIN{printf \"%.2f\", $t1 - $t0}"; }
echo "python3 start-up alone: $(startup 'import duckdb')s with duckdb imported, $(startup 'import duckdb, pandas')s with pandas too"
for m in sql_model py_relation py_pandas; do
  printf '%-12s %6.2fs  overhead over SQL %6.2fs\n' "$m" "${best[$m]}" "$(awk "BEGIN{print ${best[$m]} - ${best[sql_model]}}")"
done
