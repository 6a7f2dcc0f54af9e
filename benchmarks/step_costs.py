"""Where a training step's time goes: precision, weight dtype, logits, attention, side by side in one process.

    python benchmarks/step_costs.py [--method lora|full] [--tokens 1024] [--steps 6] [--profile VARIANT]

One packed micro-batch of the bundled support data (honed's own collator), the default model, and a full training
step (forward, backward, fused AdamW) timed for each variant below; the median of --steps steps after two warm-up
steps. Ratios are against the first row, the fp32 path honed trained with before bf16 paid. --profile prints the
operators that take the most time in one variant.

- weights: the dtype the frozen weights are held in (full fine-tuning keeps fp32 master weights in every row)
- autocast: matmuls in bf16 under torch.autocast
- logits: 'all' projects every position onto the vocabulary; 'labelled' only positions that carry a label
- attention: transformers' sdpa (the default) or eager
- dropout: LoRA's dropout as torch draws it (bernoulli_) or honed's MaskDropout (honed.methods.dropout)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT  # noqa: E402

VARIANTS = {  # name: (frozen weights dtype, autocast, logits, attention, LoRA dropout)
    "fp32": ("fp32", False, "all", "sdpa", "torch"),
    "fp32-labelled": ("fp32", False, "labelled", "sdpa", "torch"),
    "autocast": ("fp32", True, "all", "sdpa", "torch"),
    "bf16-weights": ("bf16", True, "all", "sdpa", "torch"),
    "bf16-labelled": ("bf16", True, "labelled", "sdpa", "torch"),
    "bf16-labelled-eager": ("bf16", True, "labelled", "eager", "torch"),
    "bf16-labelled-mask": ("bf16", True, "labelled", "sdpa", "mask"),
    "bf16-labelled-eager-mask": ("bf16", True, "labelled", "eager", "mask"),
    "fp32-labelled-eager": ("fp32", False, "labelled", "eager", "torch"),
    "fp32-labelled-mask": ("fp32", False, "labelled", "sdpa", "mask"),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--method", default="lora", choices=["lora", "full"])
    parser.add_argument("--tokens", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--profile", default=None, help="a variant to profile")
    parser.add_argument("--model", default="smollm2-135m")
    args = parser.parse_args()

    import torch

    from honed.hardware import cpu_name, set_threads

    threads = set_threads(None)
    batch, real, labelled = _batch(args.model, args.tokens)
    print(f"{cpu_name()}, {threads} threads, torch {torch.__version__}; {args.method}; one micro-batch of "
          f"{batch['input_ids'].shape[0]} lines x {batch['input_ids'].shape[1]} positions, {real} real tokens, "
          f"{labelled} labelled ({100 * labelled / real:.0f}%)")
    print(f"{'variant':<26} {'weights':<8} {'autocast':<9} {'logits':<9} {'attention':<9} {'dropout':<8} "
          f"{'step s':>7} {'tokens/s':>9} {'vs first':>8}")
    first = None
    for name in args.variants.split(","):
        seconds = _time_variant(args, name, batch)
        first = first or seconds
        weights, autocast, logits, attention, dropout = VARIANTS[name]
        print(f"{name:<26} {weights:<8} {str(autocast):<9} {logits:<9} {attention:<9} {dropout:<8} {seconds:>7.3f} "
              f"{real / seconds:>9.0f} {first / seconds:>7.2f}x", flush=True)
    if args.profile:
        _profile(args, args.profile, batch)


def _batch(model_name: str, tokens: int):
    from honed.config import validate
    from honed.data import IGNORE_INDEX, ensure_chat_template, prepare_data
    from honed.models import load_tokenizer
    from honed.training.batching import PackedLinesCollator

    tokenizer = load_tokenizer(model_name)
    ensure_chat_template(tokenizer)
    config = validate({"data": {"train": str(ROOT / "examples/data/support/train.jsonl")}})
    rows = prepare_data(config.data, tokenizer, seed=0).train
    chosen, used = [], 0
    for row in rows:
        if used + len(row["input_ids"]) > tokens:
            break
        chosen.append({"input_ids": row["input_ids"], "labels": row["labels"]})
        used += len(row["input_ids"])
    batch = PackedLinesCollator(tokenizer.pad_token_id, IGNORE_INDEX)(chosen)
    labelled = int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())
    return batch, used, labelled


def _setup(args, name: str):
    import peft
    import torch

    from honed.methods.dropout import use_mask_dropout
    from honed.models import load_model
    from honed.training.runner import keep_trainable_in_fp32

    weights, autocast, logits, attention, dropout = VARIANTS[name]
    dtype = torch.bfloat16 if weights == "bf16" and args.method == "lora" else torch.float32
    model = load_model(args.model, dtype=dtype)
    model.config._attn_implementation = attention
    model.config.use_cache = False
    if args.method == "lora":
        model = peft.get_peft_model(model, peft.LoraConfig(
            task_type=peft.TaskType.CAUSAL_LM, r=8, lora_alpha=32, lora_dropout=0.1, target_modules="all-linear"))
        if dropout == "mask":
            use_mask_dropout(model)
    keep_trainable_in_fp32(model)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, fused=True)
    return model, optimizer, autocast, logits


def _step(model, optimizer, batch, autocast: bool, logits: str) -> None:
    import contextlib

    import torch

    from honed.models.loss import labelled_nll, token_nll

    context = torch.autocast("cpu", dtype=torch.bfloat16) if autocast else contextlib.nullcontext()
    features = {"input_ids": batch["input_ids"], "position_ids": batch["position_ids"]}
    with context:
        if logits == "labelled":
            nll, count, _ = labelled_nll(model, features, batch["labels"])
        else:
            nll, count = token_nll(model(**features).logits, batch["labels"])
    (nll / count).backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def _time_variant(args, name: str, batch) -> float:
    model, optimizer, autocast, logits = _setup(args, name)
    times = []
    for step in range(args.steps + 2):
        started = time.perf_counter()
        _step(model, optimizer, batch, autocast, logits)
        if step >= 2:
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def _profile(args, name: str, batch) -> None:
    from torch.profiler import ProfilerActivity, profile

    model, optimizer, autocast, logits = _setup(args, name)
    for _ in range(2):
        _step(model, optimizer, batch, autocast, logits)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(2):
            _step(model, optimizer, batch, autocast, logits)
    print(f"\nprofile of {name} (2 steps):")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=18, max_name_column_width=48))


if __name__ == "__main__":
    main()
