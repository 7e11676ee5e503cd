#!/usr/bin/env bash
# A real one-node Slurm for the tests (and for trying `--executor slurm` on one machine):
#   scripts/slurm.sh up [DIR]     install Debian's packages if missing, write a configuration
#                                 under DIR, start slurmctld and slurmd, wait for a first job
#   scripts/slurm.sh down [DIR]   stop both daemons
#   scripts/slurm.sh env [DIR]    print `export SLURM_CONF=…` for a shell
# No systemd, no munge, no cgroups: auth/none, proctrack/linuxproc, task/none. Two fake GPUs
# (symlinks to /dev/null) so `--gres=gpu:1` hands each task its own CUDA_VISIBLE_DEVICES.
# Everything lives in DIR (default /tmp/sgdnoise-slurm); running `up` twice reuses the daemons.
set -euo pipefail
cmd="${1:-up}"
dir="${2:-${SGDNOISE_SLURM_DIR:-/tmp/sgdnoise-slurm}}"
conf="$dir/slurm.conf"
say() { printf '%12s %s\n' "$1" "$2" >&2; }

alive() { [ -f "$dir/$1.pid" ] && kill -0 "$(cat "$dir/$1.pid")" 2>/dev/null; }

case "$cmd" in
env)
    echo "export SLURM_CONF=$conf"
    exit 0
    ;;
down)
    for d in slurmd slurmctld; do
        if alive "$d"; then kill "$(cat "$dir/$d.pid")" || true; fi
    done
    say Stopped "slurm in $dir"
    exit 0
    ;;
up) ;;
*)
    echo "usage: scripts/slurm.sh up|down|env [DIR]" >&2
    exit 2
    ;;
esac

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null; then
    say Installing "slurmctld slurmd slurm-client (Debian packages)"
    [ "$(id -u)" = 0 ] || { echo "error: installing Slurm needs root (apt-get)" >&2; exit 1; }
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurmctld slurmd slurm-client >/dev/null
fi

export SLURM_CONF="$conf"
if alive slurmctld && alive slurmd && scontrol ping >/dev/null 2>&1; then
    say Fresh "slurm in $dir"
    exit 0
fi
for d in slurmd slurmctld; do
    if alive "$d"; then kill "$(cat "$dir/$d.pid")" || true; fi
done

host="$(hostname -s)"
mkdir -p "$dir/state" "$dir/spool"
ln -sfn /dev/null "$dir/gpu0"
ln -sfn /dev/null "$dir/gpu1"
cat >"$conf" <<EOF
ClusterName=sgdnoise
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/none
CredType=cred/none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=256
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
MinJobAge=3600
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/jobcomp.txt
ReturnToService=2
SlurmctldPort=16817
SlurmdPort=16818
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
GresTypes=gpu
SlurmdParameters=config_overrides
NodeName=$host CPUs=8 RealMemory=16000 Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
cat >"$dir/gres.conf" <<EOF
AutoDetect=off
Name=gpu File=$dir/gpu0
Name=gpu File=$dir/gpu1
EOF

slurmctld -f "$conf"
slurmd -f "$conf"
# The scheduler runs its first job a few seconds after start: wait for one warm-up job.
for _ in $(seq 1 100); do
    scontrol ping >/dev/null 2>&1 && break
    sleep 0.2
done
job=$(sbatch --parsable --output=/dev/null --wrap true)
for _ in $(seq 1 150); do
    state=$(scontrol show job "$job" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')
    [ "$state" = COMPLETED ] && { say Started "slurm in $dir (SLURM_CONF=$conf)"; exit 0; }
    sleep 0.2
done
echo "error: slurm did not run a first job (see $dir/slurmctld.log, $dir/slurmd.log)" >&2
exit 1
