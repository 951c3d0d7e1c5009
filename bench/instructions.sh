#!/usr/bin/env bash
# Build overhead counted in instructions rather than seconds (not part of CI): a fresh
# `strata build --threads 1` of a generated project and examples/replay.rs running the statements
# that build executed, each under valgrind's callgrind, which counts the instructions a process
# executes whatever else the machine is doing; DuckDB runs on one thread on both sides (see
# below). The wall-clock pairs of bench/run.sh measure the same ratio in time, but this machine's
# speed drifts by 10-30 % from one run to the next; the counts repeat. They leave out what is not
# an instruction of the process: the kernel's work (system calls, page faults) and waiting. Under
# valgrind the CPU reports no SHA extensions, so sha2 hashes in software: strata's SHA-256 (the
# manifest's checksums, the build state's fingerprints) counts about 77 million instructions at
# synth 1,000, several times what it runs natively.
#
#   bench/instructions.sh [synth|gen_project] [models]
#
# Needs valgrind (Debian's package). Both runs go at once, one per core: a count does not depend
# on what else runs. About 4 minutes for synth 1,000 and 11 for gen_project 1,000 on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
GEN=${1:-synth}
MODELS=${2:-1000}
case "$GEN" in
  synth | gen_project) ;;
  *) echo "usage: bench/instructions.sh [synth|gen_project] [models]" >&2; exit 2 ;;
esac
command -v valgrind >/dev/null || { echo "bench/instructions.sh needs valgrind (apt-get install valgrind)" >&2; exit 2; }
release_build
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

p="$WORK/project" r="$WORK/replayed"
generate "$GEN" "$MODELS" "$p"
db=$(dbfile "$p")
# DuckDB on one thread on both sides (the target's `settings`, and the replay's first statement):
# with its default of one worker per core, how its threads share a query's work, and how long
# the idle ones poll, change from run to run, and so did the counts (by up to 9 %).
printf '      settings:\n        threads: 1\n' >>"$p/profiles.yml"

# A build outside valgrind gives the replay its statements (target/run/, run_results.json), on a
# copy of the project, so that the counted build writes its own.
"$BIN" build --project-dir "$p" --threads 1 >/dev/null 2>&1
cp -r "$p" "$r"
rm -f "$p/$db" "$p/$db.wal" "$p/target/strata_state.json"
# What the replay runs first, as bench/run.sh: the schemas, then the on-run-start hooks compiled.
{ echo "set threads = 1;" && replay_prelude "$BIN" "$r"; } >"$WORK/prelude.sql"

# The file's name is the database's: the statements name it.
mkdir -p "$WORK/replay"
count() { # log file: the instructions callgrind counted
  grep -o 'I *refs: *[0-9,]*' "$1" | tr -dc '0-9'
}
valgrind --tool=callgrind --callgrind-out-file=/dev/null "$BIN" build --project-dir "$p" --threads 1 \
  >/dev/null 2>"$WORK/build.log" &
build=$!
# The replay's count is of its timed part only (the function `replay`: opening the database, the
# statements, closing it), not of its reading target/manifest.json and run_results.json, which is
# about 3 % of its instructions at synth 1,000 and is not DuckDB's work.
REPLAY_PRELUDE="$WORK/prelude.sql" valgrind --tool=callgrind --callgrind-out-file=/dev/null \
  --collect-atstart=no --toggle-collect='replay::replay' "$EX/replay" "$r" "$WORK/replay/$(basename "$db")" >/dev/null 2>"$WORK/replay.log" &
replay=$!
wait "$build" || { tail -5 "$WORK/build.log" >&2; echo "the build failed under valgrind" >&2; exit 1; }
wait "$replay" || { tail -5 "$WORK/replay.log" >&2; echo "the replay failed under valgrind" >&2; exit 1; }
b=$(count "$WORK/build.log") d=$(count "$WORK/replay.log")
echo "$GEN $MODELS models, fresh build with --threads 1: $b instructions; DuckDB alone, the same statements: $d"
echo "ratio $(awk "BEGIN{printf \"%.4f\", $b / $d}") (target <= 1.05)"
