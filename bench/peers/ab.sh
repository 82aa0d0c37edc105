#!/bin/bash
# Two depthlab builds against each other, by hand (no test runs this): for
# each config, ROUNDS rounds of `depthlab bench --threads 1` pinned to CPU 1
# in ABBA order (old, new, new, old), printing new ÷ old step time per round
# (the sums of both samples; below 1: the new build is faster) and the
# median. ABBA cancels a drift of the host within a round; the median, the
# outliers of a busy one.
#
#   bench/peers/ab.sh /tmp/depthlab-old target/release/depthlab 5 A B C D
set -euo pipefail
. "$(dirname "$0")/configs.sh"
need_args 4 "$@"
OLD=$1 NEW=$2 ROUNDS=$3
shift 3
median_us() { taskset -c 1 "$1" bench --net "${NET[$2]}" --threads 1 --steps "${STEPS[$2]}" | sed -n 2p | awk '{print $3}'; }
for c in "$@"; do
  ratios=""
  for _ in $(seq "$ROUNDS"); do
    o1=$(median_us "$OLD" "$c")
    n1=$(median_us "$NEW" "$c")
    n2=$(median_us "$NEW" "$c")
    o2=$(median_us "$OLD" "$c")
    ratios="$ratios $(awk -v a="$o1" -v b="$n1" -v c="$n2" -v d="$o2" 'BEGIN { printf "%.3f", (b + c) / (a + d) }')"
  done
  median=$(echo $ratios | tr ' ' '\n' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
  echo "$c new/old step time:$ratios  median $median"
done
