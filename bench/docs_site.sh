#!/usr/bin/env bash
# The docs site on ../shared/bench/gen_project.py's project in headless Chromium: first view,
# search, the lineage explorer on one mart's ancestors and on a selection of about 2,000 nodes.
# Not part of CI. Usage: bench/docs_site.sh [models] (default 10000). STRATA_BIN picks the binary
# (the dev build by default: the figures are the browser's).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/strata/target}"
N=${1:-10000}
GEN=${GEN_PROJECT:-../shared/bench/gen_project.py}
if [ -z "${STRATA_BIN:-}" ]; then cargo build --bin strata >/dev/null 2>&1; fi
BIN=${STRATA_BIN:-$CARGO_TARGET_DIR/debug/strata}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
python3 "$GEN" --models "$N" --out "$WORK/p" --seed 42 >/dev/null
/usr/bin/time -o "$WORK/t" -f "%e s, %M KB" "$BIN" docs generate --project-dir "$WORK/p" >/dev/null 2>&1
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; $N models; docs generate $(cat "$WORK/t"); index.js $(du -k "$WORK/p/target/docs/index.js" | cut -f1) KB, select.js $(du -k "$WORK/p/target/docs/select.js" | cut -f1) KB"
page="file://$WORK/p/target/index.html"
chrome() {
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --user-data-dir="$WORK/chrome" --virtual-time-budget=30000 --dump-dom "$1" 2>/dev/null
}
mart=$("$BIN" ls --project-dir "$WORK/p" -s 'path:models/marts' --resource-type model --output name 2>/dev/null | tail -1)
# The staging models and the finance marts: 1,992 models at 10,000.
big="path:models/staging path:models/marts/finance"
count=$("$BIN" ls --project-dir "$WORK/p" -s "$big" --resource-type model --output name 2>/dev/null | wc -l)
enc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
for route in "" "search/customer" "lineage?select=$(enc "+$mart")" "lineage?select=$(enc "$big")" "lineage?select=$(enc "path:models/marts")"; do
  for run in 1 2 3; do
    t0=$(date +%s.%N)
    dom=$(chrome "$page#!/$route")
    t1=$(date +%s.%N)
    body=$(echo "$dom" | grep -o '<body[^>]*>')
    drawn=$(echo "$dom" | grep -o 'id="explorer" data-count="[0-9]*"' | grep -o '[0-9]*' || true)
    echo "#!/$route run $run: $(echo "$body" | grep -o 'data-[a-z-]*ms="[0-9]*"' | tr '\n' ' ')${drawn:+selected $drawn nodes }(browser process $(awk "BEGIN{printf \"%.2f\", $t1 - $t0}") s)"
  done
done
echo "(+$mart; $big: $count models)"
