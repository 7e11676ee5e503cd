#!/usr/bin/env bash
# Check a report page in headless Chromium (Debian's `chromium`, driven by Playwright) and save
# screenshots beside it: the page's head (claims, figure index), and a figure with a point hovered (its tooltip names the
# runs behind the point). Fails if the page fetches anything, has a script error, or a figure is
# missing from the page or its index. Installs playwright-core once, outside the repository.
# Usage: scripts/check-report.sh [reports/quick/report.html]
set -euo pipefail
cd "$(dirname "$0")/.."
page="${1:-reports/quick/report.html}"
[ -f "$page" ] || { echo "error: $page does not exist; run the pipeline first" >&2; exit 1; }
browser="$(command -v chromium || command -v chromium-browser || true)"
[ -n "$browser" ] || { echo "error: chromium not found; apt-get install chromium" >&2; exit 1; }
node_dir="${SGDNOISE_CACHE:-$HOME/.cache/sgdnoise}/node"
if [ ! -d "$node_dir/node_modules/playwright-core" ]; then
    mkdir -p "$node_dir"
    npm install --prefix "$node_dir" --no-audit --no-fund playwright-core@1.64.1 >&2
fi
cp scripts/check-report.mjs "$node_dir/check-report.mjs"
CHROMIUM="$browser" node "$node_dir/check-report.mjs" "$(realpath "$page")" \
    "$(realpath -m "${page%.html}.png")" "$(realpath -m "${page%.html}-hover.png")"
