#!/bin/bash
# Two threads against one, by hand (no test runs this): for each config,
# ROUNDS rounds of `depthlab bench --threads 1` and `--threads 2` in ABBA
# order (1, 2, 2, 1: a drift of the shared host within a round cancels),
# printing the ratio one-thread step time ÷ two-thread step time per round
# (sums of the two median step times each; above 1: two threads are
# faster). `busy` pins a busy loop to CPU 0 for
# the whole run (another process on one of the two cores).
#
#   bench/peers/threads.sh target/release/depthlab 5 free A B C D
#   bench/peers/threads.sh target/release/depthlab 5 busy A B C D
set -euo pipefail
. "$(dirname "$0")/configs.sh"
need_args 4 "$@"
BIN=$1 ROUNDS=$2 MODE=$3
shift 3
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
    u2=$(median_us "$c" 2)
    u1=$(median_us "$c" 1)
    ratios="$ratios $(awk -v a="$t1" -v b="$t2" -v c="$u2" -v d="$u1" \
      'BEGIN { printf "%.2f", (a + d) / (b + c) }')"
  done
  echo "$c $MODE, one-thread time / two-thread time:$ratios"
done
