#!/usr/bin/env bash
# The prepared first check of the CUDA path, for a session with a lent GPU (under 8 min on
# one GPU): what the machine is, the trainer's throughput on the GPU (bf16 autocast where
# the GPU has it), fp32 evaluation checked against the CPU, and the quickstart study with
# two workers on the GPU(s). Everything lands in --out (default benchmarks/results/gpu_check).
#
#   bash benchmarks/gpu_check.sh                 # on the GPU machine
#   bash benchmarks/gpu_check.sh --device cpu    # dry run (CI's slow set): same steps, small
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICE=cuda
OUT=benchmarks/results/gpu_check
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    *) echo "gpu_check: unknown argument $1 (use --device DEV, --out DIR)" >&2; exit 2 ;;
  esac
done
PY=${PYTHON:-.venv/bin/python}
mkdir -p "$OUT"
step() { echo "gpu_check: $*" >&2; }

step "machine"
{ nvidia-smi 2>&1 || echo "no nvidia-smi"; } > "$OUT/nvidia-smi.txt"
"$PY" - "$DEVICE" > "$OUT/torch.json" <<'PY'
import json, sys, torch
from search.device import describe_device
dev = sys.argv[1]
print(json.dumps({"torch": torch.__version__, "cuda": torch.version.cuda,
                  "device": describe_device(dev),
                  "capability": list(torch.cuda.get_device_capability()) if dev.startswith("cuda") else None}))
PY

if [ "$DEVICE" = cpu ]; then REPS=1; TINY=(--set data.max_per_class=150 --set data.val_per_class=40
  --set data.test_per_class=20 --set train.epochs=2 --set finetune.epochs=1); else REPS=3; TINY=(); fi
step "throughput on $DEVICE ($REPS reps)"
"$PY" benchmarks/throughput.py --device "$DEVICE" --reps "$REPS" --loader-workers 0 --out "$OUT" \
  > "$OUT/throughput.log" 2>&1
step "fp32 evaluation on $DEVICE against the CPU"
"$PY" benchmarks/eval_check.py --device "$DEVICE" --out "$OUT" > "$OUT/eval_check.log" 2>&1
step "quickstart, 2 workers on $DEVICE"
rm -f "$OUT/quickstart.db"
start=$SECONDS
"$PY" -m search.cli run quickstart --device "$DEVICE" --workers 2 --n-trials 4 \
  --storage "sqlite:///$OUT/quickstart.db" --quiet --no-dashboard "${TINY[@]}" \
  > "$OUT/quickstart.log" 2>&1 || { tail -20 "$OUT/quickstart.log" >&2; exit 1; }
echo "quickstart wall seconds: $((SECONDS - start))" >> "$OUT/quickstart.log"
"$PY" -m search.cli studies --storage "sqlite:///$OUT/quickstart.db" > "$OUT/quickstart_studies.txt"
step "done: $OUT"
