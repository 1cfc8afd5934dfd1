#!/usr/bin/env bash
# A one-machine Slurm for check's srun test (test_srun_ranks): munge, slurmctld and slurmd as
# root, their configuration, state and logs in DIR (default /tmp/ckptdoc-slurm), nothing under
# /etc. Needs Debian's slurmd, slurmctld, slurm-client and munge. On success it prints the
# SLURM_CONF to export and exits 0; otherwise it says why and exits 1 (the test then skips).
#
#   tests/slurm-local.sh [DIR] && export SLURM_CONF=DIR/slurm.conf CKPTDOC_TEST_SRUN=1
#   tests/slurm-local.sh --stop [DIR]
set -u
stop=0
[ "${1:-}" = "--stop" ] && { stop=1; shift; }
dir=${1:-/tmp/ckptdoc-slurm}
if [ "$stop" = 1 ]; then
    for d in slurmd slurmctld; do
        pid=$(cat "$dir/$d.pid" 2>/dev/null) || continue
        kill "$pid" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    done
    exit 0
fi
say() { echo "slurm-local: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || say "needs root (slurmd starts the tasks)"
for b in munged slurmctld slurmd srun sinfo; do
    command -v "$b" >/dev/null || [ -x "/usr/sbin/$b" ] || say "$b is not installed (slurmd slurmctld slurm-client munge)"
done
PATH=$PATH:/usr/sbin
mkdir -p "$dir/spool" "$dir/state" /run/munge || say "cannot make $dir"
munge_ok() { munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }
if ! munge_ok; then
    chown munge:munge /run/munge 2>/dev/null
    [ -s /etc/munge/munge.key ] || say "/etc/munge/munge.key is missing (the munge package makes it)"
    su -s /bin/sh munge -c munged || munged --force || say "munged did not start"
    munge_ok || say "munged does not answer (/run/munge)"
fi
host=$(hostname -s)
cat > "$dir/slurm.conf" <<EOF
ClusterName=ckptdoc
SlurmctldHost=$host(127.0.0.1)
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
SlurmUser=root
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmdSpoolDir=$dir/spool
StateSaveLocation=$dir/state
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc)
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:8
EOF
export SLURM_CONF=$dir/slurm.conf
slurmctld -f "$SLURM_CONF" || say "slurmctld did not start ($dir/slurmctld.log)"
slurmd -f "$SLURM_CONF" || say "slurmd did not start ($dir/slurmd.log)"
for _ in $(seq 30); do
    if sinfo -h -o %a 2>/dev/null | grep -q up && timeout 20 srun -n 1 true 2>/dev/null; then
        echo "SLURM_CONF=$SLURM_CONF"
        exit 0
    fi
    sleep 1
done
say "the partition did not come up in 30 s ($dir/slurmctld.log, $dir/slurmd.log)"
