#!/usr/bin/env bash
# strata and dbt-spark building the same generated project on the same local Spark cluster.
# Not part of CI. Usage: bench/spark.sh [models] (default 1000)
# TOOLS="strata dbt" (the default) picks which tools run; KEEP=dir keeps the generated project;
# LIMIT=90m stops a tool's build after that long (none by default).
#
# The cluster: scripts/spark-local.sh start (it must be running; STRATA_SPARK_PORT as there).
# dbt-spark: a virtualenv in $DBT_SPARK_VENV (default $HOME/.cache/strata/dbt-spark) with
#   pip install 'dbt-core<1.11' 'dbt-spark<1.11' 'pyspark[connect]==4.0.1'
# made when missing. dbt-spark runs with `method: session`, and SPARK_REMOTE points pyspark's
# session at the cluster's Spark Connect server: both tools send their SQL to the same server.
#
# ../shared/bench/gen_project.py writes a dbt-duckdb project; the script makes it Spark's:
# the on-run-start macros that create the raw tables are rewritten in Spark SQL (the same
# rows), and the delete+insert incremental models become append (neither tool has MERGE on
# parquet; a fresh build is a full build either way). Each tool builds into its own schemas
# on a fresh state (its schemas dropped first).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/strata/target}"
N=${1:-1000}
PORT=${STRATA_SPARK_PORT:-15002}
VENV=${DBT_SPARK_VENV:-$HOME/.cache/strata/dbt-spark}
GEN=${GEN_PROJECT:-../shared/bench/gen_project.py}
# The dev build by default (what `cargo run` gives; its dependencies are optimised): on Spark the
# time is the cluster's, not strata's. STRATA_BIN picks another binary.
if [ -z "${STRATA_BIN:-}" ]; then cargo build --bin strata >/dev/null 2>&1; fi
BIN=${STRATA_BIN:-$CARGO_TARGET_DIR/debug/strata}
if [ ! -x "$VENV/bin/dbt" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q 'dbt-core<1.11' 'dbt-spark<1.11' 'pyspark[connect]==4.0.1'
fi
TOOLS=${TOOLS:-strata dbt}
WORK=$(mktemp -d)
if [ -n "${KEEP:-}" ]; then rm -rf "$KEEP"; mkdir -p "$KEEP"; WORK=$KEEP; else trap 'rm -rf "$WORK"' EXIT; fi
python3 "$GEN" --models "$N" --out "$WORK/p" --seed 42 >/dev/null
python3 - "$WORK/p" <<'EOF'
import pathlib, re, sys
root = pathlib.Path(sys.argv[1])
macros = root / "macros" / "raw_sources.sql"
text = macros.read_text()
text = text.replace("create table if not exists raw.web_orders as", "create table if not exists raw.web_orders using parquet as")
text = text.replace("create table if not exists raw.payments as", "create table if not exists raw.payments using parquet as")
text = re.sub(r"timestamp '([^']+)' \+ to_seconds\(([^\n]+?)\) as created_at",
              r"timestampadd(SECOND, \2, timestamp '\1') as created_at", text)
text = re.sub(r"\[('[^\]]+')\]\[1 \+ \(i % 4\)\]", r"element_at(array(\1), 1 + cast(i % 4 as int))", text)
text = re.sub(r"from range\((\d+)\) t\(i\)", r"from (select id as i from range(\1))", text)
macros.write_text(text)
for f in (root / "models").rglob("*.sql"):
    s = f.read_text()
    if "delete+insert" in s:
        s = s.replace("incremental_strategy='delete+insert'", "incremental_strategy='append'")
        s = re.sub(r"\s*unique_key='[a-z_]+',?", "", s)
        f.write_text(s)
EOF
cat > "$WORK/p/profiles.yml" <<EOF
bench:
  target: strata
  outputs:
    strata:
      type: spark
      method: connect
      host: 127.0.0.1
      port: $PORT
      schema: bench_strata
      threads: ${STRATA_THREADS:-4}
    dbt:
      type: spark
      method: session
      host: NA
      schema: bench_dbt
      threads: ${DBT_THREADS:-4}
EOF
sed -i 's/^profile: .*/profile: bench/' "$WORK/p/dbt_project.yml"

drop_schemas() {
  SPARK_REMOTE="sc://127.0.0.1:$PORT" "$VENV/bin/python" - "$1" <<'EOF'
import sys
from pyspark.sql import SparkSession
s = SparkSession.builder.getOrCreate()
for (name,) in s.sql("show schemas").collect():
    if name.startswith(sys.argv[1]) or name == "raw":
        s.sql(f"drop schema if exists `{name}` cascade").collect()
EOF
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -srm); $N models"
cd "$WORK/p"
if [[ " $TOOLS " == *" strata "* ]]; then
  drop_schemas bench_strata
  /usr/bin/time -o "$WORK/t1" -f "%e" timeout "${LIMIT:-0}" "$BIN" build --target strata >"$WORK/strata.log" 2>&1 || true
  echo "strata build: $(cat "$WORK/t1") s wall; $(grep -E 'PASS=' "$WORK/strata.log" | tail -1)"
  rm -rf target
fi
if [[ " $TOOLS " == *" dbt "* ]]; then
  drop_schemas bench_dbt
  SPARK_REMOTE="sc://127.0.0.1:$PORT" /usr/bin/time -o "$WORK/t2" -f "%e" timeout "${LIMIT:-0}" "$VENV/bin/dbt" build --target dbt --profiles-dir . >"$WORK/dbt.log" 2>&1 || true
  echo "dbt-spark build: $(cat "$WORK/t2") s wall; $(grep -E 'Done\. PASS' "$WORK/dbt.log" | tail -1)"
fi
for f in strata.log dbt.log; do [ -f "$WORK/$f" ] && cp "$WORK/$f" "${BENCH_LOGS:-/tmp}/spark-$f"; done
true
