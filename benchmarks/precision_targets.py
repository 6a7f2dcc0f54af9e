"""The speed and memory targets of mixed-precision training, measured side by side in one run, as ratios.

    python benchmarks/precision_targets.py [--quick] [--only NAME,...] [--json results.json]

Each row trains the same data with two recipes, each in its own process (benchmarks/train_throughput.py), on an
otherwise idle machine, and compares them:

| name           | data                               | compared                                   | target                |
|----------------|------------------------------------|--------------------------------------------|-----------------------|
| lora-support   | support conversations              | honed vs honed before bf16 (fp32), LoRA    | >= 2.0x tokens/s, loss within 2%, peak RSS >= 30% lower |
| lora-long      | long-tailed texts                  | same                                       | >= 2.0x, loss within 2% |
| full-support   | support conversations              | same, full fine-tuning                     | >= 1.6x               |
| full-long      | long-tailed texts                  | same, full fine-tuning                     | >= 1.6x               |
| chapter-even   | 200 texts of 60-400 tokens         | honed vs the chapter's recipe, its LoRA (q,v; r8; lr 2e-4; batch 8) | >= 3x |
| trl-long       | long-tailed texts                  | honed vs TRL SFTTrainer defaults, LoRA     | >= 3x                 |
| qwen-lora      | 96 support conversations, 4 steps  | honed vs before, LoRA, Qwen2.5-0.5B shape  | >= 2x tokens/s, peak RSS >= 25% lower |

"honed before bf16" is the commit benchmarks/train_throughput.py names BEFORE, run from a git worktree: what honed
was before this work, fp32 on a CPU. The same script runs on a GPU (benchmarks/gpu_check.sh).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_throughput  # noqa: E402


@dataclass
class Target:
    name: str
    settings: dict
    against: str
    speedup: float
    memory_cut: float | None = None  # peak RSS at least this share below the other recipe's
    loss_within: float | None = None  # final loss within this relative difference
    quick: dict = field(default_factory=dict)  # smaller settings for --quick


TARGETS = [
    Target("lora-support", {"data": "support", "rows": 96, "methods": "lora"}, "before", 2.0, 0.30, 0.02,
           {"rows": 48}),
    Target("lora-long", {"data": "long", "rows": 64, "methods": "lora"}, "before", 2.0, None, 0.02, {"rows": 32}),
    Target("full-support", {"data": "support", "rows": 96, "methods": "full"}, "before", 1.6, None, None,
           {"rows": 48}),
    Target("full-long", {"data": "long", "rows": 64, "methods": "full"}, "before", 1.6, None, None, {"rows": 32}),
    Target("chapter-even", {"data": "even", "rows": 200, "methods": "lora", "lora": "chapter", "lr": 2e-4},
           "chapter", 3.0, None, None, {"rows": 64}),
    Target("trl-long", {"data": "long", "rows": 64, "methods": "lora"}, "trl", 3.0, None, None, {"rows": 32}),
    Target("qwen-lora", {"data": "support", "rows": 96, "methods": "lora", "steps": 4,
                         "model": "qwen2.5-0.5b-shape"}, "before", 2.0, 0.25, None, {"rows": 48, "steps": 2}),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default=None, help="comma-separated target names")
    parser.add_argument("--quick", action="store_true", help="fewer rows: a smoke run, not the figures")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    chosen = [t for t in TARGETS if not args.only or t.name in args.only.split(",")]
    verdicts = []
    for target in chosen:
        print(f"\n== {target.name}", flush=True)
        results = train_throughput.run_all(_arguments(target, args.quick))
        honed = next(r for r in results if r["recipe"] == "honed")
        other = next(r for r in results if r["recipe"] == target.against)
        verdicts.append(_verdict(target, honed, other))
    print("\n| target | compared with | tokens/s ratio | needed | peak RSS change | loss change | met |")
    print("|---|---|---:|---:|---:|---:|---|")
    for v in verdicts:
        print(f"| {v['name']} | {v['against']} | {v['speedup']:.2f}x | {v['needed']} | {v['memory']} | {v['loss']} "
              f"| {'yes' if v['met'] else 'NO'} |")
    if args.json:
        Path(args.json).write_text(json.dumps(verdicts, indent=1))


def _arguments(target: Target, quick: bool) -> argparse.Namespace:
    settings = {"rows": 64, "methods": "lora", "lora": "all-linear", "lr": 1e-4, "batch_size": 8, "steps": None,
                "model": "smollm2-135m", "before": train_throughput.BEFORE, "json": None,
                **target.settings, **(target.quick if quick else {})}
    return argparse.Namespace(recipes=f"honed,{target.against}", **settings)


def _verdict(target: Target, honed: dict, other: dict) -> dict:
    speedup = honed["tokens_per_s"] / other["tokens_per_s"]
    memory = honed["peak_rss_mb"] / other["peak_rss_mb"] - 1
    loss = honed["final_loss"] / other["final_loss"] - 1
    met = speedup >= target.speedup
    needed = [f">= {target.speedup}x"]
    if target.memory_cut is not None:
        met = met and memory <= -target.memory_cut
        needed.append(f"RSS <= -{target.memory_cut:.0%}")
    if target.loss_within is not None:
        met = met and abs(loss) <= target.loss_within
        needed.append(f"loss within {target.loss_within:.0%}")
    return {"name": target.name, "against": target.against, "speedup": speedup, "needed": ", ".join(needed),
            "memory": f"{memory:+.0%}", "loss": f"{loss:+.2%}", "met": met, "honed": honed, "other": other}


if __name__ == "__main__":
    main()
