# The four configs of bench/peers (as peers.py times them), sourced by
# threads.sh and ab.sh: NET[c] is config c's spec, STEPS[c] its timed steps;
# and `need_args N "$@"`, which prints the sourcing script's header comment
# (its lines 2–9) and exits 2 unless it was given at least N arguments.
OPT='optim sgd lr=0.01 momentum=0.9 weight_decay=0.0001; data gaussian n=1024 test=0'
declare -A NET=(
  [A]="input 32; dense 32 tanh x20; dense 10; $OPT; train batch=16 seed=1"
  [B]="input 784; dense 256 sigmoid x10; dense 10; $OPT; train batch=128 seed=1"
  [C]="input 1024; dense 1024 relu x4; dense 10; $OPT; train batch=256 seed=1"
  [D]="input 64; dense 128 relu x50; dense 10; $OPT; train batch=64 seed=1"
)
declare -A STEPS=([A]=3000 [B]=200 [C]=30 [D]=200)
need_args() {
  if [ $(($# - 1)) -lt "$1" ]; then
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
  fi
}
