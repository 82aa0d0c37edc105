#!/bin/bash
# What the probe statistics cost a training run, by hand (no test runs
# this): for each config, ROUNDS runs of `depthlab train --stats-every K`,
# printing the statistics' time on the training thread (from the summary's
# `probe statistics:` line: all of it in line; when measured beside
# training the wait, plus what the steps run unsplit meanwhile cost beyond
# split ones) as a share of the rest of the run. PROBE is `default`
# (300 rows) or `batch` (as many rows as the batch); THREADS is `1` (on
# CPU 1) or `default` (train's own choice, on CPUs 0 and 1).
#
#   bench/peers/stats.sh target/release/depthlab 2 100 default 1 A B C D
#   bench/peers/stats.sh target/release/depthlab 2 100 default default A B C D
set -euo pipefail
. "$(dirname "$0")/configs.sh"
need_args 6 "$@"
BIN=$1 ROUNDS=$2 EVERY=$3 PROBE=$4 THREADS=$5
shift 5
if [ "$THREADS" = 1 ]; then
  cpus=1 threads=(--threads 1)
else
  cpus=0,1 threads=()
fi
# Steps a run: about a second of training for each config.
declare -A TRAIN_STEPS=([A]=20000 [B]=1000 [C]=200 [D]=2000)
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
for c in "$@"; do
  probe=()
  if [ "$PROBE" = batch ]; then
    probe=(--probe "$(sed 's/.*batch=\([0-9]*\).*/\1/' <<<"${NET[$c]}")")
  fi
  shares=""
  for _ in $(seq "$ROUNDS"); do
    summary=$(taskset -c "$cpus" "$BIN" train --net "${NET[$c]}" "${threads[@]}" \
      --steps "${TRAIN_STEPS[$c]}" --stats-every "$EVERY" "${probe[@]}" \
      --out "$OUT/$c" --overwrite -q)
    shares="$shares $(awk '
      / steps in / { total = $4 }
      function seconds(t) {
        sub(/,$/, "", t)
        scale = t ~ /µs$/ ? 1e-6 : t ~ /ms$/ ? 1e-3 : 1
        sub(/[µm]?s$/, "", t); return t * scale
      }
      /^probe statistics:/ {
        t = $9
        for (i = 1; i < NF; i++) if ($i == "and") t = $(i + 1)
        stats = seconds(t)
        for (i = 1; i < NF; i++) if ($i == "about") stats += seconds($(i + 1))
      }
      END { printf "%.1f%%", 100 * stats / (total - stats) }' <<<"$summary")"
  done
  rows=$(grep -o '[0-9]* measurements of [0-9]* rows' <<<"$summary")
  where='in line'; grep -q 'beside training' <<<"$summary" && where=beside
  echo "$c every $EVERY steps, $rows, $where: statistics / rest of the run:$shares"
done
