# Sourced by the justfile and scripts: where sgdnoise's set-up lives and how cargo finds libtorch.
# Everything heavy (the torch wheel, the npm tarball) lives outside the repository, under
# SGDNOISE_HOME, so a fresh clone reuses it.
SGDNOISE_TORCH_VERSION="${SGDNOISE_TORCH_VERSION:-2.11.0}"
SGDNOISE_HOME="${SGDNOISE_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/sgdnoise}"
SGDNOISE_TORCH_VENV="${SGDNOISE_TORCH_VENV:-$SGDNOISE_HOME/torch-$SGDNOISE_TORCH_VERSION}"
export SGDNOISE_HOME SGDNOISE_TORCH_VERSION SGDNOISE_TORCH_VENV
if [ -z "${LIBTORCH:-}" ] && [ -f "$SGDNOISE_TORCH_VENV/.complete" ]; then
    LIBTORCH="$(cat "$SGDNOISE_TORCH_VENV/.libtorch")"
    export LIBTORCH
fi
if [ -f "$SGDNOISE_TORCH_VENV/.cxx11abi" ]; then
    LIBTORCH_CXX11_ABI="$(cat "$SGDNOISE_TORCH_VENV/.cxx11abi")"
    export LIBTORCH_CXX11_ABI
fi
export SGDNOISE_PYTHON="$SGDNOISE_TORCH_VENV/bin/python"
case ":$PATH:" in
    *":$SGDNOISE_HOME/tools/bin:"*) ;;
    *) export PATH="$SGDNOISE_HOME/tools/bin:$PATH" ;;
esac
