#!/usr/bin/env bash
# Regenerates docs/results/paper-cpu/ from this cache: the report of pipelines/paper-cpu.yaml
# (provisional, over the runs done, unless every run is), each train stage's runs table, and the
# results bundle that every audit id of the report resolves from on a fresh clone.
# Runs no training: run the pipeline (or pieces of it) first, e.g.
#   target/release/sgdnoise run pipelines/paper-cpu.yaml -j 2
# Extra arguments go to `sgdnoise run` (e.g. --cache DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
bin=${SGDNOISE_BIN:-target/release/sgdnoise}   # another build, e.g. a clean one copied aside
out=${PAPER_CPU_OUT:-docs/results/paper-cpu}   # another folder for a sitting's partial cache
"$bin" run pipelines/paper-cpu.yaml report --partial --no-export "$@" || true
mkdir -p "$out/runs"
"$bin" export pipelines/paper-cpu.yaml --stage report --partial --out "$out" "$@"
for stage in fc-mnist perceptron phase-fc; do
    "$bin" export pipelines/paper-cpu.yaml --stage "$stage-runs" --partial --out "$out/runs/$stage" "$@" || true
    rm -f "$out/runs/$stage/runs.json"   # the CSV has every scalar; the JSON adds trajectories (large)
done
"$bin" bundle pipelines/paper-cpu.yaml --partial --out "$out/bundle" "$@"   # what every audit id rests on
"$bin" plan pipelines/paper-cpu.yaml -j 2 "$@" > "$out/plan.txt"
