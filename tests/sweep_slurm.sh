#!/usr/bin/env bash
# differnet_sweep on a real one-node Slurm cluster, started here and stopped on
# exit: munged, slurmctld -D and slurmd -D with a generated munge key and a
# minimal slurm.conf (localhost, CPU only, no cgroups) in a temporary folder.
#
#   tests/sweep_slurm.sh grid BUILD_DIR     4 runs (2 hidden widths x 2 seeds) through sbatch; every run
#                                           completes, collect gives the table, and run --local on the
#                                           same grid (one run continued from a checkpoint) gives the
#                                           same numbers
#   tests/sweep_slurm.sh failure BUILD_DIR  one task fails (an unknown backbone): status and collect
#                                           report it; sbatch refusing a job gives a clear error
#
# Exit 77 (CTest: skipped) with the reason when the Slurm or munge programs are
# missing or a daemon cannot start. Daemons are stopped by their process ids.
set -uo pipefail
mode=${1:?mode: grid or failure}
build=$(cd "${2:?build folder}" && pwd)
sweep=$build/apps/differnet_sweep

skip() { echo "SKIPPED: $*"; exit 77; }
fail() { echo "FAILED: $*"; dump_logs; exit 1; }

export PATH=$PATH:/usr/sbin:/sbin  # the daemons live there; a non-login PATH may lack it
for tool in munged slurmctld slurmd sbatch squeue sinfo scancel; do
  command -v "$tool" >/dev/null || skip "$tool not found (Debian packages slurm-wlm and munge; scripts/run_tests.sh installs them)"
done
# slurmd starts the tasks as the submitting user, which needs root; CI runs as root.
[ "$(id -u)" -eq 0 ] || skip "needs root: slurmd runs jobs as their user and the test's SlurmUser is root"

tmp=$(mktemp -d /tmp/differnet-slurm-XXXXXX)
pids=()
job_ids=()
cleanup() {
  local pid
  # A test that gives up still stops its tasks before the daemons.
  [ ${#job_ids[@]} -gt 0 ] && scancel "${job_ids[@]}" 2>/dev/null && sleep 1
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
dump_logs() {
  local f
  for f in "$tmp"/slurmctld.log "$tmp"/slurmd.log "$tmp"/munged.log; do
    [ -f "$f" ] && { echo "---- $f (last lines)"; tail -n 15 "$f"; }
  done
}

# Two free TCP ports for slurmctld and slurmd.
free_port() {
  local port
  for _ in $(seq 100); do
    port=$((20000 + RANDOM % 20000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
  done
  return 1
}
ctld_port=$(free_port) && slurmd_port=$(free_port) || skip "no free TCP port"
[ "$ctld_port" != "$slurmd_port" ] || slurmd_port=$((ctld_port + 1))

mkdir -p "$tmp/munge" "$tmp/state" "$tmp/spool"
chmod 700 "$tmp/munge"
head -c 1024 /dev/urandom > "$tmp/munge/munge.key"
chmod 400 "$tmp/munge/munge.key"
munged --foreground --force --key-file="$tmp/munge/munge.key" --socket="$tmp/munge/munge.socket" \
  --pid-file="$tmp/munge/munged.pid" --seed-file="$tmp/munge/munged.seed" --log-file="$tmp/munged.log" \
  > "$tmp/munged.out" 2>&1 &
pids+=($!)

export SLURM_CONF=$tmp/slurm.conf
cat > "$SLURM_CONF" <<EOF
ClusterName=differnet-test
SlurmctldHost=localhost
SlurmUser=root
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
AuthInfo=socket=$tmp/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/slurmctld.log
SlurmdLogFile=$tmp/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
MailProg=/bin/true
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF

for _ in $(seq 50); do [ -S "$tmp/munge/munge.socket" ] && break; sleep 0.1; done
[ -S "$tmp/munge/munge.socket" ] || { cat "$tmp/munged.out"; dump_logs; skip "munged did not start"; }
slurmctld -D -f "$SLURM_CONF" > "$tmp/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -N localhost -f "$SLURM_CONF" > "$tmp/slurmd.out" 2>&1 &
pids+=($!)

# The node must become idle within 60 s, or Slurm cannot run here.
state=""
for _ in $(seq 120); do
  state=$(sinfo -h -n localhost -o %t 2>/dev/null)
  [ "$state" = "idle" ] && break
  sleep 0.5
done
[ "$state" = "idle" ] || { cat "$tmp"/slurm*.out; dump_logs; skip "the Slurm node did not become idle (state '$state')"; }
echo "one-node Slurm cluster up (slurmctld :$ctld_port, slurmd :$slurmd_port)"

# A tiny synthetic category and a random AlexNet: each run takes about a second.
"$build/apps/prepare_dataset" --synthetic --out "$tmp/data" --size 64 --train 16 --test-good 8 --test-defect 10 >/dev/null \
  || fail "prepare_dataset"
"$build/tests/random_backbone_weights" alexnet "$tmp/alexnet.safetensors" || fail "random_backbone_weights"
write_grid() {  # $1: file, then extra lines
  local file=$1
  shift
  {
    echo "data = $tmp/data"
    echo "category = synthetic"
    echo "weights = $tmp/alexnet.safetensors"
    echo "device = cpu"
    echo "image-size = 64"
    echo "scales = 1"
    echo "blocks = 2"
    echo "train-transforms = 2"
    echo "test-transforms = 2"
    echo "batch-size = 4"
    echo "meta-epochs = 1"
    echo "sub-epochs = 1"
    echo "localize = none"
    printf '%s\n' "$@"
  } > "$file"
}

# Submits DIR's runs and waits (bounded) until the job array has left the queue.
submit_and_wait() {
  local dir=$1 out job
  out=$("$sweep" submit "$dir" --slurm --cpus-per-task 1 --time 10) || fail "submit: $out"
  echo "$out"
  job=$(echo "$out" | sed -n 's/^submitted job array \([0-9]*\):.*/\1/p')
  [ -n "$job" ] || fail "no job id in: $out"
  job_ids+=("$job")
  for _ in $(seq 300); do
    [ -z "$(squeue -h -j "$job" 2>/dev/null)" ] && return 0
    sleep 0.5
  done
  squeue
  fail "job array $job still queued after 150 s"
}

case "$mode" in
grid)
  write_grid "$tmp/grid.cfg" "hidden = 16, 32" "seed = 0, 1"
  "$sweep" plan "$tmp/grid.cfg" --out "$tmp/slurm-sweep" || fail "plan"
  submit_and_wait "$tmp/slurm-sweep"
  "$sweep" status "$tmp/slurm-sweep" | tee "$tmp/status.txt"
  grep -q "4 runs: 4 done," "$tmp/status.txt" || fail "not every run is done"
  grep -q "slurm job" "$tmp/slurm-sweep/runs/0003/sweep-state" || fail "run 3 did not run as a Slurm array task"
  "$sweep" collect "$tmp/slurm-sweep" || fail "collect (exit $?)"
  for f in table.md table.csv table.json table.html; do [ -s "$tmp/slurm-sweep/$f" ] || fail "no $f"; done
  [ "$(grep -c '^synthetic,hidden=[0-9]*,[0-9.]*,[0-9.]*,2,2,0,0,' "$tmp/slurm-sweep/table.csv")" = 2 ] \
    || fail "table.csv lacks two complete cells: $(cat "$tmp/slurm-sweep/table.csv")"
  # The same grid on this machine: the same seeds on the CPU give identical numbers.
  "$sweep" plan "$tmp/grid.cfg" --out "$tmp/local-sweep" || fail "plan (local)"
  # Run 0 stopped after one step, as a preempted task would be: run --local continues it from its checkpoint.
  "$build/apps/train_mvtec" --config "$tmp/local-sweep/runs/0000/options.cfg" --out "$tmp/local-sweep/runs/0000" \
    --stop-after-steps 1 > "$tmp/stopped.txt" 2>&1
  [ $? -eq 130 ] && [ -f "$tmp/local-sweep/runs/0000/checkpoint.safetensors" ] || fail "no interrupted run 0: $(tail -3 "$tmp/stopped.txt")"
  "$sweep" run "$tmp/local-sweep" --local --jobs 2 || fail "run --local"
  grep -q -- "--out $tmp/local-sweep/runs/0000 --resume" "$tmp/local-sweep/runs/0000/log.txt" || fail "run 0 did not resume"
  "$sweep" collect "$tmp/local-sweep" >/dev/null || fail "collect (local)"
  cmp "$tmp/slurm-sweep/table.csv" "$tmp/local-sweep/table.csv" || fail "run --local gave another table:
$(cat "$tmp/slurm-sweep/table.csv")
---
$(cat "$tmp/local-sweep/table.csv")"
  for r in 0000 0001 0002 0003; do
    a=$(grep -o '"image_auroc_last": [^,]*' "$tmp/slurm-sweep/runs/$r/results.json")
    b=$(grep -o '"image_auroc_last": [^,]*' "$tmp/local-sweep/runs/$r/results.json")
    [ -n "$a" ] && [ "$a" = "$b" ] || fail "run $r: Slurm $a, local $b"
  done
  echo "same table from Slurm and from run --local"
  ;;
failure)
  write_grid "$tmp/grid.cfg" "hidden = 16" "backbone = alexnet, no-such-backbone"
  "$sweep" plan "$tmp/grid.cfg" --out "$tmp/sweep" || fail "plan"
  # sbatch refusing the job: a clear error, and no job recorded.
  out=$("$sweep" submit "$tmp/sweep" --slurm --partition no-such-partition 2>&1) && fail "submit to a missing partition succeeded"
  echo "$out" | grep -q "sbatch refused the job array" || fail "unclear error: $out"
  [ ! -e "$tmp/sweep/slurm/jobs" ] || fail "a refused job was recorded"
  submit_and_wait "$tmp/sweep"
  "$sweep" status "$tmp/sweep" | tee "$tmp/status.txt"
  grep -q "2 runs: 1 done, 0 running, 0 interrupted, 1 failed" "$tmp/status.txt" || fail "status does not report 1 failed run"
  grep -q "^1 *failed .*exit status 1" "$tmp/status.txt" || fail "status does not name run 1 as failed"
  grep -q "| .*no-such-backbone" "$tmp/status.txt" || fail "status does not show the failed run's log"
  "$sweep" collect "$tmp/sweep" > "$tmp/collect.txt" && fail "collect exited 0 on an incomplete grid"
  cat "$tmp/collect.txt"
  grep -q "(0 of 1 runs, 1 FAILED)" "$tmp/sweep/table.md" || fail "table.md does not mark the failed cell"
  grep -q "^- run 1 (synthetic, backbone=no-such-backbone, seed 0): failed" "$tmp/sweep/table.md" \
    || fail "table.md does not list the failed run"
  grep -q '"state": "failed"' "$tmp/sweep/table.json" || fail "table.json does not mark the failed run"
  ;;
*) fail "unknown mode $mode" ;;
esac
echo "PASSED ($mode)"
