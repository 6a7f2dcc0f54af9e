#!/usr/bin/env bash
# Distributed smoke runs on a CUDA machine: DDP, FSDP2 and DeepSpeed ZeRO-2, each a few LoRA and full steps on the
# default model with the bundled support data, one process per GPU. Results are appended to docs/distributed.md.
#   PYTHON=/path/to/python benchmarks/gpu_distributed.sh      (a Python with honed and CUDA torch installed)
# DeepSpeed runs only where the deepspeed package imports; otherwise its row says so.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT=${OUT:-/tmp/honed-distributed}
mkdir -p "$OUT"
GPUS=$($PY -c "import torch; print(torch.cuda.device_count())")
if [ "${GPUS:-0}" -lt 1 ]; then echo "no CUDA GPU visible; nothing to check" >&2; exit 1; fi
COMMON=(examples/usecases/support.yaml --max-steps 6 --batch-size 8 --overwrite --nproc "$GPUS")
[ "$GPUS" -eq 1 ] && COMMON=(examples/usecases/support.yaml --max-steps 6 --batch-size 8 --overwrite)

run() {  # name, then extra flags
  local name=$1; shift
  local start=$(date +%s)
  if $PY -m honed train "${COMMON[@]}" --output "$OUT/$name" "$@" > "$OUT/$name.log" 2>&1; then
    local loss=$($PY -c "import json,sys; s=json.load(open('$OUT/$name/summary.json')); print(f\"loss {s['final_train_loss']:.4f}, {s['tokens_per_s']} tok/s, peak GPU {s.get('peak_gpu_mb')} MB\")")
    echo "| $name | ok | $(( $(date +%s) - start )) s | $loss |"
  else
    echo "| $name | FAILED | $(( $(date +%s) - start )) s | $(grep -v '^\s*$' "$OUT/$name.log" | tail -1 | cut -c1-160) |"
  fi
}

{
  echo; echo "## GPU smoke runs ($GPUS x $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1), $(date -u +%Y-%m-%d))"
  echo; echo "| run | status | wall | result |"; echo "|---|---|---|---|"
  run ddp-lora --method lora
  run ddp-full --method full
  if [ "$GPUS" -ge 2 ]; then
    run fsdp-full --method full --set training.fsdp=true
  else
    echo "| fsdp-full | skipped | - | FSDP shards across processes: needs 2+ GPUs (CPU runs are in the test suite) |"
  fi
  if $PY -c "import deepspeed" 2>/dev/null; then
    run zero2-lora --method lora --set training.deepspeed=2
    run zero2-full --method full --set training.deepspeed=2
  else
    echo "| zero2 | skipped | - | deepspeed does not import here |"
  fi
} | tee -a "$OUT/table.md"
cat "$OUT/table.md" >> docs/distributed.md
