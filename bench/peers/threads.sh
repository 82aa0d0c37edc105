#!/bin/bash
# Two threads against one, by hand (no test runs this): for each config,
# ROUNDS interleaved pairs of `depthlab bench --threads 1` and `--threads 2`,
# printing the ratio one-thread step time ÷ two-thread step time per round
# (above 1: two threads are faster). `busy` pins a busy loop to CPU 0 for
# the whole run (another process on one of the two cores).
#
#   bench/peers/threads.sh target/release/depthlab 5 free A B C D
#   bench/peers/threads.sh target/release/depthlab 5 busy A B C D
set -euo pipefail
if [ $# -lt 4 ]; then
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
BIN=$1 ROUNDS=$2 MODE=$3
shift 3
OPT='optim sgd lr=0.01 momentum=0.9 weight_decay=0.0001; data gaussian n=1024 test=0'
declare -A NET=(
  [A]="input 32; dense 32 tanh x20; dense 10; $OPT; train batch=16 seed=1"
  [B]="input 784; dense 256 sigmoid x10; dense 10; $OPT; train batch=128 seed=1"
  [C]="input 1024; dense 1024 relu x4; dense 10; $OPT; train batch=256 seed=1"
  [D]="input 64; dense 128 relu x50; dense 10; $OPT; train batch=64 seed=1"
)
declare -A STEPS=([A]=3000 [B]=200 [C]=30 [D]=200)
HOG=
if [ "$MODE" = busy ]; then
  taskset -c 0 sh -c 'while :; do :; done' &
  HOG=$!
  trap 'kill $HOG' EXIT
fi
median_us() { "$BIN" bench --net "${NET[$1]}" --threads "$2" --steps "${STEPS[$1]}" | sed -n 2p | awk '{print $3}'; }
for c in "$@"; do
  ratios=""
  for _ in $(seq "$ROUNDS"); do
    t1=$(median_us "$c" 1)
    t2=$(median_us "$c" 2)
    ratios="$ratios $(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.2f", a / b }')"
  done
  echo "$c $MODE, one-thread time / two-thread time:$ratios"
done
