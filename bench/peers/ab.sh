#!/bin/bash
# Two depthlab builds against each other, by hand (no test runs this): for
# each config, ROUNDS rounds of `depthlab bench --threads 1` on CPU 1 (with
# THREADS=2: `--threads 2` on CPUs 0 and 1) in ABBA order (old, new, new,
# old), printing new ÷ old per round (the sums of both samples; below 1:
# the new build is faster) and the median, for the median step time and
# for the fastest step (on a busy host the fastest steps are those the host
# left alone). ABBA cancels a drift within a round; the median, outliers.
#
#   bench/peers/ab.sh /tmp/depthlab-old target/release/depthlab 5 A B C D
set -euo pipefail
. "$(dirname "$0")/configs.sh"
need_args 4 "$@"
OLD=$1 NEW=$2 ROUNDS=$3
shift 3
THREADS=${THREADS:-1}
CPUS=1
[ "$THREADS" = 1 ] || CPUS=0,1
# "median fastest" step time of build $1 on config $2, in µs.
times_us() {
  taskset -c "$CPUS" "$1" bench --net "${NET[$2]}" --threads "$THREADS" --steps "${STEPS[$2]}" |
    sed -n 2p | sed 's/.*median \([0-9.]*\) µs (min \([0-9.]*\).*/\1 \2/'
}
# new ÷ old of field $5 (1: median, 2: fastest) of four "median fastest" pairs.
ratio() { echo "$1 $2 $3 $4" | awk -v f="$5" '{ o = $(f) + $(6 + f); n = $(2 + f) + $(4 + f); printf "%.3f", n / o }'; }
median() { echo "$@" | tr ' ' '\n' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for c in "$@"; do
  medians="" fastest=""
  for _ in $(seq "$ROUNDS"); do
    o1=$(times_us "$OLD" "$c")
    n1=$(times_us "$NEW" "$c")
    n2=$(times_us "$NEW" "$c")
    o2=$(times_us "$OLD" "$c")
    medians="$medians $(ratio "$o1" "$n1" "$n2" "$o2" 1)"
    fastest="$fastest $(ratio "$o1" "$n1" "$n2" "$o2" 2)"
  done
  echo "$c new/old median step:$medians  median $(median $medians)"
  echo "$c new/old fastest step:$fastest  median $(median $fastest)"
done
