#!/usr/bin/env bash
# Benchmarks over generated projects. Not part of CI: targets live here and in BENCHMARKS.md,
# never in timed tests.
#
#   bench/run.sh [synth|gen_project|both] [models_for_parse] [models_for_build]
#
# Generators: `synth` is examples/synth.rs (staging views over seeds, Jinja loops, one schema.yml
# with a test per column key); `gen_project` is ../shared/bench/gen_project.py --seed 42 (sources
# created by on-run-start hooks, macros, CTE-style models, a third of them documented and tested).
# Every figure is RUNS runs (3 by default), all listed, of the release build (`cargo build
# --release`, what users install). Environment: RUNS, DBT=0 to leave dbt-core out (it is
# compared when `dbt` is on PATH: `pip install 'dbt-core<1.11' dbt-duckdb`), DBT_THREADS (the
# threads both tools build with in the side-by-side, default 4), PAIRS (build / replay pairs for
# the build overhead, default 9: one pair varies by 10 % or more on a shared machine).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
GEN=${1:-both}
BIG=${2:-10000}
SMALL=${3:-1000}
RUNS=${RUNS:-3}
DBT_THREADS=${DBT_THREADS:-4}
PAIRS=${PAIRS:-9}
case "$GEN" in
  synth | gen_project) GENS=$GEN ;;
  both) GENS="synth gen_project" ;;
  *) echo "usage: bench/run.sh [synth|gen_project|both] [models_for_parse] [models_for_build]" >&2; exit 2 ;;
esac
DBT=${DBT:-$(command -v dbt >/dev/null 2>&1 && echo 1 || echo 0)}
release_build
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# RUNS runs of a command, each after the untimed shell command $PREP (default none). Sets
# LIST ("a / b / c"), BEST (min seconds) and PEAK (max RSS, MB).
measure() {
  local times=() peak=0
  BEST=""
  for _ in $(seq "$RUNS"); do
    eval "${PREP:-:}"
    /usr/bin/time -o "$WORK/time.txt" -f "%e %M" "$@" >/dev/null 2>&1 || true
    local out secs kb
    out=$(tail -1 "$WORK/time.txt")
    secs=${out% *} kb=${out#* }
    times+=("$secs")
    if [ -z "$BEST" ] || awk "BEGIN{exit !($secs < $BEST)}"; then BEST=$secs; fi
    [ "$kb" -gt "$peak" ] && peak=$kb
  done
  LIST=$(printf '%s / ' "${times[@]}")
  LIST="${LIST% / } s"
  PEAK=$((peak / 1024))
}

# RUNS runs of examples/replay.rs (DuckDB alone running the statements strata executed, from
# target/run/, in one connection, in dependency order): sets RLIST and RBEST.
replay() { # project db [env...]
  local times=()
  RBEST=""
  for _ in $(seq "$RUNS"); do
    local secs
    secs=$(env "${@:3}" "$EX/replay" "$1" "$2" 2>/dev/null)
    times+=("$secs")
    if [ -z "$RBEST" ] || awk "BEGIN{exit !($secs < $RBEST)}"; then RBEST=$secs; fi
  done
  RLIST=$(printf '%s / ' "${times[@]}")
  RLIST="${RLIST% / } s"
}
ratio() { awk "BEGIN{printf \"%.2f\", $1 / $2}"; }

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -srm); $RUNS runs each, release build"
for g in $GENS; do
  big="$WORK/$g-big" small="$WORK/$g-small"
  generate "$g" "$BIG" "$big"
  generate "$g" "$SMALL" "$small"
  echo
  echo "== $g =="
  PREP="" measure "$BIN" parse --project-dir "$big"
  echo "parse   $BIG models: $LIST, peak $PEAK MB (target <= 0.6 s, <= 200 MB)"
  "$BIN" compile --project-dir "$big" >/dev/null 2>&1 || true
  measure "$BIN" compile --project-dir "$big"
  echo "compile $BIG models and their tests, target/ already written: $LIST, peak $PEAK MB (target <= 1.5 s, <= 300 MB)"
  on=$BEST
  PREP='rm -rf "$big/target"' measure "$BIN" compile --project-dir "$big"
  echo "compile $BIG models and their tests, empty target/: $LIST"
  measure "$BIN" compile --static-analysis off --project-dir "$big"
  echo "static analysis and column lineage: $(awk "BEGIN{printf \"%.0f%%\", ($on - $BEST) / $on * 100}") of compile (best ${on}s with it, ${BEST}s without; target < 30%)"
  measure "$BIN" docs generate --project-dir "$big"
  echo "docs generate $BIG models: $LIST, peak $PEAK MB (target <= 2 s, <= 400 MB); site $(du -sh "$big/target/docs" | cut -f1) (bench/docs_site.sh times it in a browser)"

  # A fresh build (new database, no build state) of the small project, data tests included,
  # against DuckDB alone running the same statements: the schemas and the on-run-start hooks'
  # SQL, then every model, seed and test's, in the order they ran.
  dbf="$small/$(dbfile "$small")"
  PREP='rm -f "$dbf" "$small/target/strata_state.json"' measure "$BIN" build --project-dir "$small" --threads 2
  two_list=$LIST
  replay_prelude "$BIN" "$small" >"$WORK/prelude.sql"
  mkdir -p "$WORK/replay"
  # In pairs, so that both sides of a ratio meet the same machine: a fresh build with --threads
  # 1 and DuckDB alone replaying what a build ran (target/run_results.json, target/run/; every
  # build runs the same statements). The order alternates, so that a machine speeding up or
  # slowing down over the run favours neither side: the first pair builds first.
  one_times=() replay_times=() pairs=() one="" RBEST="" one_peak=0
  build_one() {
    # Each side starts with the other's writes on disk (sync), not being written back under it.
    rm -f "$dbf" "$small/target/strata_state.json" && sync
    /usr/bin/time -o "$WORK/time.txt" -f "%e %M" "$BIN" build --project-dir "$small" --threads 1 >/dev/null 2>&1 || true
    out=$(tail -1 "$WORK/time.txt")
    secs=${out% *} kb=${out#* }
    if [ $((kb / 1024)) -gt "$one_peak" ]; then one_peak=$((kb / 1024)); fi
  }
  replay_one() {
    sync
    rsecs=$(REPLAY_PRELUDE="$WORK/prelude.sql" "$EX/replay" "$small" "$WORK/replay/$(basename "$dbf")" 2>/dev/null)
  }
  for i in $(seq "$PAIRS"); do
    if [ $((i % 2)) = 1 ]; then
      build_one
      replay_one
    else
      replay_one
      build_one
    fi
    one_times+=("$secs") replay_times+=("$rsecs") pairs+=("$(ratio "$secs" "$rsecs")")
    if [ -z "$one" ] || awk "BEGIN{exit !($secs < $one)}"; then one=$secs; fi
    if [ -z "$RBEST" ] || awk "BEGIN{exit !($rsecs < $RBEST)}"; then RBEST=$rsecs; fi
  done
  one_list="$(printf '%s / ' "${one_times[@]}")" RLIST="$(printf '%s / ' "${replay_times[@]}")"
  one_list="${one_list% / } s" RLIST="${RLIST% / } s"
  median=$(printf '%s\n' "${pairs[@]}" | sort -n | awk '{a[NR]=$1} END{print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}')
  echo "build   $SMALL models and their tests, fresh database: $one_list with --threads 1 (peak $one_peak MB), $two_list with --threads 2"
  echo "duckdb alone (opening the database, then the same statements in one connection), each run right after the build before it: $RLIST"
  mean=$(printf '%s\n' "${pairs[@]}" | awk '{s+=$1} END{printf "%.2f", s/NR}')
  echo "ratio: $(ratio "$one" "$RBEST") best / best, $median the median of the $PAIRS pairs, $mean their mean ($(printf '%s ' "${pairs[@]}")) with --threads 1 (target <= 1.05)"
  rm -f "$dbf" "$small/target/strata_state.json"
  "$BIN" build --project-dir "$small" >/dev/null 2>&1 || true
  measure "$BIN" build --project-dir "$small"
  echo "build   $SMALL models again, nothing changed: $LIST ($("$BIN" build --project-dir "$small" 2>&1 | grep -o 'Done\..*' || true); target <= 1 s)"
  f=$(find "$small/models" -name '*.sql' | sort | sed -n 1p) # sed reads all: no SIGPIPE under pipefail
  m=$(basename "$f" .sql)
  echo "-- edited" >>"$f"
  touched=$("$BIN" ls --project-dir "$small" -s "$m+" 2>/dev/null | wc -l)
  echo "build   after editing $m: $("$BIN" build --project-dir "$small" 2>&1 | grep -o 'Done\..*' || true) ($touched nodes in $m+)"

  # `strata test` on the built project against DuckDB alone running the same test queries.
  measure "$BIN" test --project-dir "$small" --threads 1
  tone=$BEST tlist=$LIST
  replay "$small" "$dbf" REPLAY_KEEP_DB=1
  echo "test    $("$BIN" ls --project-dir "$small" --resource-type test 2>/dev/null | wc -l) data tests: $tlist with --threads 1; duckdb alone $RLIST; ratio $(ratio "$tone" "$RBEST")"

  if [ "$DBT" = 1 ]; then
    # dbt-core side by side, in the same run, on a copy of the small project (its own target/
    # and database): a full parse (no partial-parse cache), and a fresh build with both tools on
    # the same number of threads.
    d="$WORK/$g-dbt"
    rm -rf "$d" && generate "$g" "$SMALL" "$d"
    ddb="$d/$(dbfile "$d")"
    measure "$BIN" parse --project-dir "$small"
    sp=$BEST sl=$LIST
    measure dbt parse --no-partial-parse --project-dir "$d" --profiles-dir "$d"
    echo "dbt-core $(dbt --version 2>/dev/null | awk '/installed:/{print $3; exit}') parse $SMALL models: $LIST; strata $sl: dbt/strata $(ratio "$BEST" "$sp")"
    PREP='rm -f "$dbf" "$small/target/strata_state.json"' measure "$BIN" build --project-dir "$small" --threads "$DBT_THREADS"
    sb=$BEST sl=$LIST
    PREP='rm -f "$ddb"' measure dbt build --project-dir "$d" --profiles-dir "$d" --threads "$DBT_THREADS"
    echo "dbt-core build $SMALL models and their tests, --threads $DBT_THREADS: $LIST; strata $sl: dbt/strata $(ratio "$BEST" "$sb")"
  fi
done
