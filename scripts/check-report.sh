#!/usr/bin/env bash
# Render a report page in headless Chromium (Debian's `chromium`) and save a full-page PNG
# screenshot beside it: the check that the report renders in a real browser.
# Usage: scripts/check-report.sh [reports/quick/report.html] [out.png]
set -euo pipefail
cd "$(dirname "$0")/.."
page="${1:-reports/quick/report.html}"
out="${2:-${page%.html}.png}"
[ -f "$page" ] || { echo "error: $page does not exist; run the pipeline first" >&2; exit 1; }
browser="$(command -v chromium || command -v chromium-browser || true)"
[ -n "$browser" ] || { echo "error: chromium not found; apt-get install chromium" >&2; exit 1; }
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --hide-scrollbars --window-size=1200,9000 \
    --screenshot="$(realpath -m "$out")" "file://$(realpath "$page")" >/dev/null 2>&1
[ -s "$out" ] || { echo "error: no screenshot written" >&2; exit 1; }
echo "$out"
