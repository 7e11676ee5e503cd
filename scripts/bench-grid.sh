#!/usr/bin/env bash
# Benchmark: a slice of paper-cpu's GELU phase diagram run end to end through the engine, by two
# builds in one invocation, alternating, each from its own empty cache (the MNIST pool prepared
# first and not timed), at -j 2 as the paper is run. It counts what `bench-replicas` leaves out:
# each run's data, its F(w0, x) and final statistics on 32,768 test points, its record and
# provenance. Then it checks that both builds stored the same record for every run.
#
#   scripts/bench-grid.sh BEFORE_DIR [AFTER_DIR] [ROUNDS]
#
# BEFORE_DIR and AFTER_DIR hold `sgdnoise` and `sgdnoise-torch` (AFTER_DIR defaults to
# target/release; copy a build aside to compare against it). ROUNDS defaults to 2. The slice:
# α = 2^-12, 2^-8, 2^-4 at T = 2^-6…2^0 (phase-fc) and α = 1, 2^4, 2^8 at T = 2^-4…2^2
# (phase-fc-lazy), 3 seeds: 126 runs, most of them short, as most of the diagram's are.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
before="${1:?usage: scripts/bench-grid.sh BEFORE_DIR [AFTER_DIR] [ROUNDS]}"
after="${2:-target/release}"
rounds="${3:-2}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export SGDNOISE_DATA="${SGDNOISE_DATA:-$PWD/data}"
cat > "$work/slice.yaml" <<'EOF'
name: slice
stages:
  mnist:
    kind: dataset
    params: { data: mnist-parity, test_size: 32768, test_seed: 0 }
  phase-fc:
    kind: train
    needs: [mnist]
    params: { data: mnist-parity, arch: fc, depth: 5, width: 128, act: gelu, P: 1024, batch: 16, max_wall: 120 }
    sweep: { grid: { alpha: ["2^-12", "2^-8", "2^-4"], T: "2^-6..2^0", seed: "0..2" } }
  phase-fc-lazy:
    kind: train
    needs: [mnist]
    params: { data: mnist-parity, arch: fc, depth: 5, width: 128, act: gelu, P: 1024, batch: 16, max_wall: 120 }
    sweep: { grid: { alpha: ["2^0", "2^4", "2^8"], T: "2^-4..2^2", seed: "0..2" } }
EOF
records() {
    sqlite3 "$1/provenance.sqlite" "select e.instance, r.output_hash from records r
        join executions e on r.execution_id = e.id where e.kind = 'train' order by e.instance"
}
declare -A best
for round in $(seq "$rounds"); do
    for side in after before; do
        bin="$before"
        [ "$side" = after ] && bin="$after"
        cache="$work/cache-$side"
        rm -rf "$cache"
        "$bin/sgdnoise" run "$work/slice.yaml" mnist --cache "$cache" --quiet > /dev/null
        start=$(date +%s.%N)
        "$bin/sgdnoise" run "$work/slice.yaml" --cache "$cache" -j 2 --quiet
        seconds=$(echo "$(date +%s.%N) - $start" | bc)
        printf '%-6s round %s: %6.1f s\n' "$side" "$round" "$seconds"
        if [ -z "${best[$side]:-}" ] || [ "$(echo "$seconds < ${best[$side]}" | bc)" = 1 ]; then
            best[$side]=$seconds
        fi
    done
done
runs=$(records "$work/cache-after" | wc -l)
printf 'best of %s: before %.1f s, after %.1f s: %.2fx (%s runs)\n' "$rounds" "${best[before]}" \
    "${best[after]}" "$(echo "${best[before]} / ${best[after]}" | bc -l)" "$runs"
if [ "$(records "$work/cache-after")" = "$(records "$work/cache-before")" ]; then
    echo "the same record for every run"
else
    echo "the records differ" >&2
    exit 1
fi
