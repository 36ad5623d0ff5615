#!/usr/bin/env bash
# Takes screenshots of the demo with headless Chromium into docs/.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(swift build --show-bin-path)
DIR=$(mktemp -d)
PORT=${PORT:-8181}
export LOTSE_DATA_DIR=$DIR LOTSE_PUBLIC_BASE_URL=http://127.0.0.1:$PORT
"$BIN/lotse" demo > "$DIR/demo.log"
URL=$(grep 'case page of' "$DIR/demo.log" | grep -v '(paid)' | grep -o 'http://127.0.0.1:[0-9]*/T/[A-Z0-9]*' | head -1)
LOTSE_EVALUATOR_TOKEN=screenshot-token "$BIN/lotse" serve --port "$PORT" > "$DIR/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
mkdir -p docs
shot() { chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size="$1" --screenshot="$2" "$3" >/dev/null 2>&1; echo "wrote $2"; }
shot 390,844 docs/case-de.png "$URL?lang=de"
shot 390,844 docs/case-en.png "$URL?lang=en"
shot 390,844 docs/case-ar.png "$URL?lang=ar"
shot 390,844 docs/start.png "http://127.0.0.1:$PORT/"
shot 390,1400 docs/case-de-full.png "$URL?lang=de"
# The dashboard needs the evaluator token: fetch it with the bearer header and let Chromium render the copy.
# (no period given: the pilot's months with data, ending this month)
curl -sf -H "Authorization: Bearer screenshot-token" "http://127.0.0.1:$PORT/stats?lang=en" \
  | sed "s|href=\"/style.css\"|href=\"http://127.0.0.1:$PORT/style.css\"|; s|src=\"/logo.svg\"|src=\"http://127.0.0.1:$PORT/logo.svg\"|" > "$DIR/stats.html"
shot 1024,3000 docs/stats.png "file://$DIR/stats.html"
shot 390,2400 docs/stats-phone.png "file://$DIR/stats.html"
# The council's PDF report (rendered by the server's headless Chromium): its first two pages as PNG.
curl -sf -H "Authorization: Bearer screenshot-token" "http://127.0.0.1:$PORT/stats/report.pdf?lang=en" -o "$DIR/report.pdf"
pdftoppm -png -r 60 -f 1 -l 2 "$DIR/report.pdf" docs/stats-report
echo "wrote docs/stats-report-1.png docs/stats-report-2.png"
