#!/usr/bin/env bash
# Builds depthlab, dumps the probe, weights and gradients of small networks
# covering every activation and every loss (plus three built-in examples) and
# checks each dump against the NumPy reference check_dump.py.
#
# Usage: tests/reference/run_all.sh      (from anywhere; needs python3 + numpy,
#        or PYTHON=/path/to/python with numpy). Exits non-zero if any check fails.
set -u
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
SRELU='srelu(tl=-0.3,al=0.1,tr=0.4,ar=0.5)'

cargo build --quiet || exit 1
"$PYTHON" -c 'import numpy' || { echo "numpy is missing for $PYTHON" >&2; exit 1; }

# One spec per line; --probe 16 is added to each.
SPECS=(
  "input 8; dense 6 identity x2; dense 4; loss cross_entropy"
  "input 8; dense 6 sigmoid x3; dense 3; loss mse"
  "input 8; dense 6 tanh x3; dense 4; loss bce"
  "input 8; dense 6 softsign x3; dense 4; loss cross_entropy"
  "input 8; dense 6 relu x3; dense 2; loss mse"
  "input 8; dense 6 leaky_relu(a=0.1) x3; dense 3; loss bce"
  "input 8; dense 6 prelu x3; dense 4; loss cross_entropy"
  "input 8; dense 6 elu(a=0.7) x3; dense 3; loss mse"
  "input 8; dense 6 selu x3; dense 3; loss bce"
  "input 8; dense 6 $SRELU x2; dense 3; loss bce"
  "input 8; dense 6 softplus x3; dense 4; loss cross_entropy"
  "input 8; dense 6 gelu x3; dense 3; loss mse"
  "input 8; dense 6 silu x3; dense 3; loss bce"
  # one output, and non-linear output layers (the loss gradient times f'_L)
  "input 8; dense 6 tanh x2; dense 1; loss mse"
  "input 8; dense 6 relu x2; dense 3 sigmoid; loss mse"
  "input 8; dense 6 gelu x2; dense 3 prelu; loss bce"
  "input 8; dense 6 selu x2; dense 4 $SRELU; loss cross_entropy"
  # every activation in one deeper network
  "input 8; dense 7 sigmoid; dense 7 tanh; dense 7 softsign; dense 7 relu; dense 7 leaky_relu(a=0.1); dense 7 prelu; dense 7 elu(a=0.7); dense 7 selu; dense 7 $SRELU; dense 7 softplus; dense 7 gelu; dense 7 silu; dense 7 identity; dense 5; loss cross_entropy"
)
EXAMPLES=(sigmoid-vanishing tanh-glorot relu-he)

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fails=0
n=0

check() {  # check LABEL DEPTHLAB-ARGS...
  local label=$1 dir="$TMP/$n"; shift
  n=$((n + 1))
  echo "=== $label"
  if ! target/debug/depthlab stats "$@" --dump "$dir" >/dev/null; then
    echo "NOT OK depthlab failed"; fails=$((fails + 1)); return
  fi
  "$PYTHON" tests/reference/check_dump.py "$dir" || fails=$((fails + 1))
}

for spec in "${SPECS[@]}"; do check "$spec" --net "$spec" --probe 16; done
for ex in "${EXAMPLES[@]}"; do check "$ex" "$ex"; done

echo
if [ "$fails" -eq 0 ]; then
  echo "all $n dumps match the reference"
else
  echo "$fails of $n dumps differ from the reference"; exit 1
fi
