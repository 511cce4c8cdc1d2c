#!/usr/bin/env bash
# Start (or stop) a real Slurm on 127.0.0.1 for the tests: munged as the munge user, slurmctld and
# one slurmd per emulated node started directly (no systemd). Needs Debian's slurm-wlm and munge.
#   [NODES=N] [GPUS=G] tests/slurm/local_slurm.sh start DIR   -> writes DIR/slurm.conf
#   tests/slurm/local_slurm.sh stop DIR                         (then: export SLURM_CONF=DIR/slurm.conf)
# NODES>1 emulates nodes n1..nN (one slurmd each, own port); GPUS>0 gives each node G GPUs whose
# device files are symlinks to /dev/null: Slurm allocates and binds them (CUDA_VISIBLE_DEVICES)
# as it would real ones, and nothing can run on them.
set -euo pipefail
cmd=${1:?start|stop}
dir=$(realpath -m "${2:?state directory}")
host=$(hostname -s)

nodes=${NODES:-1}
gpus=${GPUS:-0}

if [[ $cmd == stop ]]; then
  for f in "$dir"/slurmd*.pid "$dir"/slurmctld.pid; do
    if [[ -f $f ]]; then kill "$(cat "$f")" 2>/dev/null || true; fi
  done
  exit 0
fi

mkdir -p "$dir"/{state,spool,log}
# A munged that runs but cannot be reached (its socket directory removed) is as good as none:
# test a credential round trip, not the process list.
munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
if ! munge_ok; then
  pkill -x munged 2>/dev/null || true
  mkdir -p /run/munge /var/log/munge /var/lib/munge /etc/munge
  [[ -f /etc/munge/munge.key ]] || dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
  chown -R munge:munge /run/munge /var/log/munge /var/lib/munge /etc/munge
  chmod 0700 /etc/munge && chmod 0400 /etc/munge/munge.key
  runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 40); do munge_ok && break; sleep 0.25; done
  munge_ok || { echo "munged did not start" >&2; exit 1; }
fi

cpus=$(nproc)
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 / nodes ))
if (( nodes == 1 )); then
  names=$host
  node_lines="NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN"
else
  names="n[1-$nodes]"
  node_lines=""
  for ((i = 1; i <= nodes; i++)); do
    node_lines+="NodeName=n$i NodeHostname=$host NodeAddr=127.0.0.1 Port=$((17100 + i)) CPUs=$cpus RealMemory=$mem State=UNKNOWN"
    if (( gpus > 0 )); then node_lines+=" Gres=gpu:$gpus"; fi
    node_lines+=$'\n'
  done
fi
gres_conf=""
if (( gpus > 0 )); then
  [[ $nodes -gt 1 ]] || node_lines+=" Gres=gpu:$gpus"
  : > "$dir/gres.conf"
  for ((i = 1; i <= nodes; i++)); do
    node=$([[ $nodes -gt 1 ]] && echo "n$i" || echo "$host")
    mkdir -p "$dir/dev/$node"
    for ((g = 0; g < gpus; g++)); do ln -sf /dev/null "$dir/dev/$node/nvidia$g"; done
    echo "NodeName=$node Name=gpu File=$dir/dev/$node/nvidia[0-$((gpus - 1))]" >> "$dir/gres.conf"
  done
  gres_conf="GresTypes=gpu"
fi
cat > "$dir/slurm.conf" <<CONF
ClusterName=srlmtest
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd-%n.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
EnforcePartLimits=ALL
DependencyParameters=kill_invalid_depend
SchedulerParameters=batch_sched_delay=0
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
ReturnToService=2
MpiDefault=none
$gres_conf
$node_lines
PartitionName=debug Nodes=$names Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$dir/slurm.conf
/usr/sbin/slurmctld -f "$SLURM_CONF"
if (( nodes == 1 )); then
  mkdir -p "$dir/spool/$host"
  /usr/sbin/slurmd -f "$SLURM_CONF"
else
  for ((i = 1; i <= nodes; i++)); do
    mkdir -p "$dir/spool/n$i"
    /usr/sbin/slurmd -f "$SLURM_CONF" -N "n$i"
  done
fi
end=$((SECONDS + 60))
while (( SECONDS < end )); do
  up=$(timeout 5 sinfo -h -N -o %t 2>/dev/null | grep -cE '^(idle|mix|alloc)' || true)
  if (( up == nodes )); then echo "slurm up ($nodes node(s), $gpus GPU(s) each): $SLURM_CONF"; exit 0; fi
  sleep 0.5
done
echo "slurm did not come up in 60 s; logs in $dir/log" >&2
"$0" stop "$dir"
exit 1
