"""What each optional speed/memory knob costs or buys on this machine: honed training with one option changed.

    python benchmarks/train_options.py [--rows 32] [--method lora]

Variants: the defaults (packing, fused AdamW); gradient checkpointing; the per-tensor AdamW loop; torch.compile;
packing off (length-grouped padding).
Each runs in its own process (clean peak memory) on the same long-tailed texts for one epoch.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import long_tailed_texts, peak_rss_mb  # noqa: E402

VARIANTS = {
    "defaults": {},
    "gradient_checkpointing": {"gradient_checkpointing": True},
    "per_tensor_adamw": {"optimizer": "adamw_torch"},
    "torch_compile": {"compile": True},
    "no_packing": {"packing": False},
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=32)
    parser.add_argument("--method", default="lora")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(_run(args.worker, args.method, args.data)))
        return
    from honed.models import load_tokenizer

    texts = long_tailed_texts(load_tokenizer("smollm2-135m"), args.rows, seed=1)
    data = Path(tempfile.mkdtemp(prefix="honed-options-")) / "texts.jsonl"
    data.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    print(f"{args.method}, {len(texts)} long-tailed rows, 1 epoch")
    print(f"{'variant':<24} {'real tok/s':>10} {'vs defaults':>11} {'peak RSS MB':>12} {'final train loss':>17}")
    base = None
    for name in args.variants.split(","):
        done = subprocess.run([sys.executable, __file__, "--worker", name, "--method", args.method, "--data",
                               str(data)], capture_output=True, text=True)
        line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            print(f"{name:<24} failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else '?'}")
            continue
        result = json.loads(line.removeprefix("RESULT "))
        base = base or result["tokens_per_s"]
        print(f"{name:<24} {result['tokens_per_s']:>10.1f} {result['tokens_per_s'] / base:>10.2f}x "
              f"{result['peak_rss_mb']:>12.0f} {result['loss']:>17.4f}", flush=True)


def _run(variant: str, method: str, data: str) -> dict:
    import honed.training

    trained = honed.training.fit({
        "method": method, "data": {"train": data}, "output": tempfile.mkdtemp(prefix="honed-opt-") + "/run",
        "training": {"epochs": 1, "batch_size": 8, "logging_steps": 1000, **VARIANTS[variant]},
    })
    return {"tokens_per_s": trained.summary["tokens_per_s"], "peak_rss_mb": peak_rss_mb(),
            "loss": trained.summary["final_train_loss"]}


if __name__ == "__main__":
    main()
