#!/bin/bash
# What the probe statistics cost a training run, by hand (no test runs
# this): for each config, ROUNDS runs of `depthlab train --threads 1
# --stats-every K` on CPU 1, printing the statistics' time (from the
# summary's `probe statistics:` line) as a share of the rest of the run.
# PROBE is `default` (300 rows) or `batch` (as many rows as the batch).
#
#   bench/peers/stats.sh target/release/depthlab 2 100 default A B C D
#   bench/peers/stats.sh target/release/depthlab 2 100 batch A B C D
set -euo pipefail
. "$(dirname "$0")/configs.sh"
need_args 5 "$@"
BIN=$1 ROUNDS=$2 EVERY=$3 PROBE=$4
shift 4
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
    summary=$(taskset -c 1 "$BIN" train --net "${NET[$c]}" --threads 1 \
      --steps "${TRAIN_STEPS[$c]}" --stats-every "$EVERY" "${probe[@]}" \
      --out "$OUT/$c" --overwrite -q)
    shares="$shares $(awk '
      / steps in / { total = $4 }
      /^probe statistics:/ {
        t = $9; sub(/,$/, "", t)
        scale = t ~ /µs$/ ? 1e-6 : t ~ /ms$/ ? 1e-3 : 1
        sub(/[µm]?s$/, "", t); stats = t * scale
      }
      END { printf "%.1f%%", 100 * stats / (total - stats) }' <<<"$summary")"
  done
  rows=$(grep -o '[0-9]* measurements of [0-9]* rows' <<<"$summary")
  echo "$c every $EVERY steps, $rows: statistics / rest of the run:$shares"
done
