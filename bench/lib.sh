# Shared by bench/run.sh and bench/instructions.sh (sourced).

# The release build of strata and of the examples the benchmarks run (CARGO_TARGET_DIR, by
# default the cache .ci/run uses); sets BIN (strata) and EX (the examples' folder).
release_build() {
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/strata/target}"
  cargo build --release --bin strata --example synth --example replay >/dev/null 2>&1
  BIN="$CARGO_TARGET_DIR/release/strata"
  EX="$CARGO_TARGET_DIR/release/examples"
}

# A generated project (after release_build): generate synth|gen_project models dir.
generate() {
  case "$1" in
    synth) "$EX/synth" "$2" "$3" 2>/dev/null ;;
    gen_project) python3 ../shared/bench/gen_project.py --models "$2" --out "$3" --seed 42 >/dev/null ;;
  esac
}

# The DuckDB file a generated project's profiles.yml names (relative to the project).
dbfile() { grep -o 'path: *[^ ]*' "$1/profiles.yml" | head -1 | sed 's/path: *//; s/["'"'"']//g'; }

# What examples/replay.rs runs before a build's statements (REPLAY_PRELUDE), on stdout: the
# schemas strata creates first (from target/manifest.json), then the on-run-start hooks, compiled.
replay_prelude() { # strata_binary project
  python3 - "$2/target/manifest.json" <<'EOF2'
import json, sys
nodes = json.load(open(sys.argv[1]))["nodes"].values()
for db, schema in sorted({(n["database"], n["schema"]) for n in nodes if n["resource_type"] in ("model", "seed", "snapshot")}):
    print(f'create schema if not exists "{db}"."{schema}";')
EOF2
  python3 - "$2/dbt_project.yml" <<'EOF2' | while IFS= read -r hook; do
import sys, yaml
hooks = (yaml.safe_load(open(sys.argv[1])) or {}).get("on-run-start") or []
for h in [hooks] if isinstance(hooks, str) else hooks:
    print(h.replace("\n", " "))
EOF2
    "$1" compile --project-dir "$2" --inline "$hook" 2>/dev/null </dev/null
    echo ";"
  done
}
