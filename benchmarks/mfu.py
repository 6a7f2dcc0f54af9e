"""Model FLOP utilisation of honed's full fine-tuning on packed batches, against this machine's measured matmul
peak in the precision the run trained in (`precision: auto` chooses it; --precision overrides).

    python benchmarks/mfu.py [--rows 48] [--sizes 512,1024,2048] [--precision auto|fp32|bf16]

Peak: the best GFLOP/s of square matmuls in the run's dtype (torch, one thread per physical core). Training FLOPs
per token: 6 x parameters + 12 x layers x hidden x row length (PaLM's formula: forward and backward of every
matmul, plus attention over the token's own row only, since packed rows do not attend to each other). Steady state
skips the first optimizer step (allocation and warm-up).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import long_tailed_texts  # noqa: E402


def matmul_peak_gflops(sizes: list[int], dtype: str, seconds: float = 1.0) -> dict[int, float]:
    import torch

    rates = {}
    for n in sizes:
        torch_dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[dtype]
        a, b = torch.randn(n, n, dtype=torch_dtype), torch.randn(n, n, dtype=torch_dtype)
        a @ b
        start, count = time.perf_counter(), 0
        while time.perf_counter() - start < seconds:
            a @ b
            count += 1
        rates[n] = 2 * n**3 * count / (time.perf_counter() - start) / 1e9
    return rates


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=48)
    parser.add_argument("--sizes", default="512,1024,2048")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--precision", default="auto")
    args = parser.parse_args()

    import honed.training
    from honed.models import load_tokenizer
    from honed.hardware import cpu_name, set_threads

    threads = set_threads(None)
    tokenizer = load_tokenizer("smollm2-135m")
    texts = long_tailed_texts(tokenizer, args.rows)
    folder = Path(tempfile.mkdtemp(prefix="honed-mfu-"))
    (folder / "texts.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    trained = honed.training.fit({
        "method": "full", "data": {"train": str(folder / "texts.jsonl")}, "output": str(folder / "run"),
        "training": {"epochs": 1, "batch_size": args.batch_size, "logging_steps": 1, "warmup": 0,
                     "precision": args.precision},
    })
    precision = trained.summary["precision"]
    rates = matmul_peak_gflops([int(s) for s in args.sizes.split(",")], precision)
    peak = max(rates.values())
    print(f"{cpu_name()}: {precision} matmul ({trained.summary['precision_reason']}), {threads} threads: "
          + ", ".join(f"{n}: {r:.1f}" for n, r in rates.items()) + f" GFLOP/s; peak {peak:.1f}")
    config = trained.model.config
    params = trained.summary["parameters"]["total"]
    lengths = [len(tokenizer(t, add_special_tokens=False)["input_ids"]) + 1 for t in texts]
    mean_row = sum(n * n for n in lengths) / sum(lengths)  # the row length a token sits in, on average
    per_token = 6 * params + 12 * config.num_hidden_layers * config.hidden_size * mean_row

    rows = [json.loads(x) for x in (trained.run_dir / "metrics.jsonl").read_text().splitlines() if '"loss"' in x]
    first, last = rows[0], rows[-1]
    steady = (last["real_tokens"] - first["real_tokens"]) / (last["time_s"] - first["time_s"])
    overall = trained.summary["tokens_per_s"]
    for label, rate in (("overall", overall), ("steady state", steady)):
        gflops = rate * per_token / 1e9
        print(f"full fine-tuning, packed ({label}): {rate:.1f} real tokens/s x {per_token / 1e6:.0f} MFLOP/token "
              f"= {gflops:.1f} GFLOP/s = {100 * gflops / peak:.0f}% of the matmul peak")


if __name__ == "__main__":
    main()
