#!/usr/bin/env bash
# Start a one-node Slurm cluster on this machine for the Slurm launcher's tests (tests/test_ablate_slurm*.py):
# Debian's slurm-wlm and munge, munged + slurmctld + slurmd as root, one node "localhost" (127.0.0.1) with up to 2 CPUs,
# proctrack/linuxproc, task/none, select/cons_tres (CR_CPU: one job per CPU), no cgroups, no accounting database.
#
#   bash .ci/slurm-up.sh               install the packages when missing (apt-get, root or sudo), then start
#   bash .ci/slurm-up.sh --no-install  only start (exit 1 with the reason when Slurm is not installed)
#   bash .ci/slurm-up.sh --down        stop the daemons this script started
#
# Idempotent: when the cluster already answers and its node is up, it does nothing. Configuration and state live in
# $GSTSN_SLURM_DIR (default /var/lib/gstsn-slurm); /etc/slurm/slurm.conf is written (the Slurm commands read it).
set -euo pipefail

DIR="${GSTSN_SLURM_DIR:-/var/lib/gstsn-slurm}"
CONF=/etc/slurm/slurm.conf
MODE="${1:-up}"

die() { echo "slurm-up.sh: $*" >&2; exit 1; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null || die "needs root (or password-less sudo) to run slurmd"
    SUDO="sudo -n"
fi

stop_pidfile() {
    local f="$DIR/$1.pid"
    if [ -f "$f" ]; then
        local pid
        pid="$(cat "$f")"
        if kill -0 "$pid" 2>/dev/null; then
            $SUDO kill "$pid" || true
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        fi
        rm -f "$f"
    fi
    return 0
}

if [ "$MODE" = "--down" ]; then
    stop_pidfile slurmd; stop_pidfile slurmctld; stop_pidfile munged
    echo "== slurm stopped"
    exit 0
fi

make_conf() {  # the cluster's slurm.conf on stdout
    local cpus mem_mb
    cpus=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)  # nproc obeys OMP_NUM_THREADS
    [ "$cpus" -gt 2 ] && cpus=2
    mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 ))
    cat <<EOF
# written by gstsn .ci/slurm-up.sh: a one-node test cluster on localhost
ClusterName=gstsn
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# A requeued job starts again after cred_expire seconds (default 120): kept short for the tests, but longer than
# KillWait + 2 s, the time srun of the job's previous run may take to end its step (the requeued run's step has the
# same id and would be killed with it).
AuthInfo=cred_expire=12
StateSaveLocation=$DIR/ctld
SlurmdSpoolDir=$DIR/d
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
JobRequeue=1
KillWait=5
MinJobAge=600
InactiveLimit=0
SlurmdTimeout=60
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
}

cluster_up() {  # both daemons alive here and the node usable
    pgrep -x slurmctld >/dev/null && pgrep -x slurmd >/dev/null &&
        timeout 10 sinfo -h -N -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'
}

if command -v sinfo >/dev/null 2>&1 && [ "$(make_conf)" = "$(cat "$CONF" 2>/dev/null)" ] && cluster_up; then
    echo "== slurm already up: $(sinfo -h -N -o '%N %T %c CPUs' | head -n 1)"
    exit 0
fi

if ! command -v slurmctld >/dev/null 2>&1 || ! command -v slurmd >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
    [ "$MODE" = "--no-install" ] && die "Slurm is not installed (no slurmctld/slurmd/munged); run .ci/slurm-up.sh as root to install slurm-wlm and munge"
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install slurm-wlm and munge with this system's package manager"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

$SUDO mkdir -p "$DIR"/{ctld,d,log} /etc/slurm /run/munge /var/log/munge /var/lib/munge
# munge: a key (the package creates one; make one when missing), then the daemon
if [ ! -s /etc/munge/munge.key ]; then
    $SUDO dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
$SUDO chown -R munge:munge /etc/munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
$SUDO chmod 0400 /etc/munge/munge.key
$SUDO chmod 0700 /etc/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    stop_pidfile munged
    if ! id munge >/dev/null 2>&1; then
        $SUDO munged --force
    elif [ -z "$SUDO" ]; then
        runuser -u munge -- munged --force
    else
        $SUDO -u munge munged --force
    fi
    for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
    munge -n | unmunge >/dev/null || die "munged did not start (see /var/log/munge/munged.log)"
    cp /run/munge/munged.pid "$DIR/munged.pid" 2>/dev/null || true
fi

if [ "$(make_conf)" != "$(cat "$CONF" 2>/dev/null)" ]; then  # new or changed: (re)start both daemons with it
    make_conf | $SUDO tee "$CONF" >/dev/null
    stop_pidfile slurmd; stop_pidfile slurmctld
fi

if ! timeout 5 scontrol ping 2>/dev/null | grep -q UP; then
    stop_pidfile slurmctld
    $SUDO slurmctld -c -i 2>/dev/null || $SUDO slurmctld -i
fi
stop_pidfile slurmd
$SUDO slurmd -N localhost
for _ in $(seq 100); do cluster_up && break; sleep 0.2; done
if ! cluster_up; then
    # a node left DOWN/DRAIN by an earlier start: bring it back
    $SUDO scontrol update nodename=localhost state=resume 2>/dev/null || true
    for _ in $(seq 50); do cluster_up && break; sleep 0.2; done
fi
cluster_up || die "the node did not come up: $(sinfo -h -N -o '%N %T %E' 2>&1 | head -n 3); logs in $DIR/log"
echo "== slurm up: $(sinfo -h -N -o '%N %T %c CPUs' | head -n 1) (slurm $(sinfo -V | awk '{print $2}'))"
