#!/usr/bin/env bash
# Start (or stop) a real single-node Slurm on 127.0.0.1 for the tests: munged as the munge user,
# slurmctld and slurmd started directly (no systemd). Needs Debian's slurm-wlm and munge.
#   tests/slurm/local_slurm.sh start DIR   -> writes DIR/slurm.conf; export SLURM_CONF=DIR/slurm.conf
#   tests/slurm/local_slurm.sh stop DIR
set -euo pipefail
cmd=${1:?start|stop}
dir=$(realpath -m "${2:?state directory}")
host=$(hostname -s)

if [[ $cmd == stop ]]; then
  for p in slurmd slurmctld; do
    if [[ -f $dir/$p.pid ]]; then kill "$(cat "$dir/$p.pid")" 2>/dev/null || true; fi
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
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))
cat > "$dir/slurm.conf" <<CONF
ClusterName=srlmtest
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
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
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$dir/slurm.conf
/usr/sbin/slurmctld -f "$SLURM_CONF"
/usr/sbin/slurmd -f "$SLURM_CONF"
end=$((SECONDS + 60))
while (( SECONDS < end )); do
  if timeout 5 sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then echo "slurm up: $SLURM_CONF"; exit 0; fi
  sleep 0.5
done
echo "slurm did not come up in 60 s; logs in $dir/log" >&2
"$0" stop "$dir"
exit 1
