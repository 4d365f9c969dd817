#!/usr/bin/env bash
# A real one-node Slurm cluster on this machine, for phx's tests:
#   tests/slurm/cluster.sh up     install (Debian's slurm-wlm and munge) if missing, start, wait for the node
#   tests/slurm/cluster.sh down   cancel every job, stop the daemons
#   tests/slurm/cluster.sh status
# Needs root (the daemons run as root) and no systemd. State lives in
# $PHX_SLURM_DIR (default /tmp/phx-slurm); logs there too.
set -euo pipefail

STATE=${PHX_SLURM_DIR:-/tmp/phx-slurm}
CPUS=${PHX_SLURM_CPUS:-16}
HOST=$(hostname -s)

log() { echo "slurm-cluster: $*" >&2; }

install() {
  if command -v slurmctld >/dev/null && command -v munged >/dev/null && command -v sbatch >/dev/null; then
    return
  fi
  log "installing slurm-wlm and munge from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq slurm-wlm munge >/dev/null
}

# A pid from a pid file, if that process is alive and is what we think.
live_pid() {
  local file=$1 comm=$2 pid
  [ -f "$file" ] || return 1
  pid=$(cat "$file" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
  # PID 1 here reaps slowly: a zombie is dead.
  grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null && return 1
  [ "$(cat /proc/$pid/comm 2>/dev/null)" = "$comm" ] || return 1
  echo "$pid"
}

start_munge() {
  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    return
  fi
  [ -f /etc/munge/munge.key ] || mungekey --create >/dev/null 2>&1 || /usr/sbin/create-munge-key -f >/dev/null 2>&1
  chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  chmod 0755 /run/munge
  runuser -u munge -- /usr/sbin/munged 9>&-
  for _ in $(seq 50); do
    munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return
    sleep 0.1
  done
  log "munged did not start"; exit 1
}

write_conf() {
  mkdir -p "$STATE/spool/ctld" "$STATE/spool/d" /etc/slurm
  # The node as slurmd sees it, with more CPUs advertised than the machine
  # has so that many trivial jobs run at once (config_overrides).
  local node
  node=$(slurmd -C | head -1 | sed -E "s/CPUs=[0-9]+/CPUs=$CPUS/; s/Boards=[0-9]+ //; s/SocketsPerBoard=[0-9]+ //; s/CoresPerSocket=[0-9]+ //; s/ThreadsPerCore=[0-9]+ //")
  cat > /etc/slurm/slurm.conf <<CONF
# Written by phx's tests/slurm/cluster.sh: a one-node cluster for tests.
ClusterName=phx-test
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
MailProg=/bin/true
SlurmdParameters=config_overrides
SchedulerParameters=batch_sched_delay=0
DependencyParameters=kill_invalid_depend
EnforcePartLimits=ALL
MinJobAge=300
ReturnToService=2
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE/jobcomp.txt
AccountingStorageType=accounting_storage/none
StateSaveLocation=$STATE/spool/ctld
SlurmdSpoolDir=$STATE/spool/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
}

wait_idle() {
  for _ in $(seq 300); do
    if sinfo -h -N -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
      return
    fi
    sleep 0.1
  done
  log "the node did not become idle; sinfo says:"; sinfo -N >&2 || true
  tail -20 "$STATE/slurmctld.log" "$STATE/slurmd.log" >&2 || true
  exit 1
}

up() {
  install
  start_munge
  if live_pid "$STATE/slurmctld.pid" slurmctld >/dev/null && live_pid "$STATE/slurmd.pid" slurmd >/dev/null; then
    wait_idle
    log "already up"
    return
  fi
  write_conf
  live_pid "$STATE/slurmctld.pid" slurmctld >/dev/null || slurmctld -i 9>&-
  live_pid "$STATE/slurmd.pid" slurmd >/dev/null || slurmd -N "$HOST" 9>&-
  wait_idle
  # The node may come back DOWN after an unclean stop: resume it.
  scontrol update NodeName="$HOST" State=RESUME >/dev/null 2>&1 || true
  log "up: $(sinfo -h -o '%P %a %D %T %c')"
}

down() {
  # Cancel first: a stopped daemon leaves jobs running, and a restart
  # would re-adopt them.
  scancel --full $(squeue -h -o %i 2>/dev/null) >/dev/null 2>&1 || true
  scontrol shutdown >/dev/null 2>&1 || true
  for name in slurmctld slurmd; do
    local pid
    if pid=$(live_pid "$STATE/$name.pid" "$name"); then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do live_pid "$STATE/$name.pid" "$name" >/dev/null || break; sleep 0.1; done
    fi
  done
  log "down"
}

# Tests start the cluster from several processes at once: one at a time.
mkdir -p "$STATE"
exec 9>"$STATE/lock"
flock 9

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) sinfo; squeue ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
