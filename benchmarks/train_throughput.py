"""Training throughput: honed against the chapter's recipe and TRL's SFTTrainer defaults, on the same data.

    python benchmarks/train_throughput.py [--rows 64] [--methods lora,full] [--lr 1e-4]

The same long-tailed texts (16 to 512 tokens, generated from the bundled support data), the same model (the
default SmolLM2-135M), one epoch, batch size 8, the same learning rate and LoRA settings. Each run is a separate
process so peak memory is its own. Prints real (non-pad) tokens/s, the ratio to honed, the final loss (mean token
loss over the data after training, measured the same way for all) and peak RSS.

- honed: `honed.train` defaults (padding-free packing, fp32 on CPU, threads per physical core).
- chapter: the chapter's code made to run: Trainer + peft, labels added, padding to the longest row in each batch.
- trl: `SFTTrainer` with its defaults (gradient checkpointing, bf16, padding per batch); `use_cpu` where no GPU.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import long_tailed_texts, mean_token_loss, peak_rss_mb  # noqa: E402

RECIPES = ("honed", "chapter", "trl")
LORA = {"r": 8, "alpha": 32, "dropout": 0.1}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--methods", default="lora,full")
    parser.add_argument("--recipes", default=",".join(RECIPES))
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--method", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(run_worker(args)))
        return
    from honed.models import load_tokenizer

    tokenizer = load_tokenizer("smollm2-135m")
    texts = long_tailed_texts(tokenizer, args.rows)
    lengths = [len(tokenizer(t, add_special_tokens=False)["input_ids"]) + 1 for t in texts]
    folder = Path(tempfile.mkdtemp(prefix="honed-bench-"))
    data = folder / "texts.jsonl"
    data.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    print(f"{len(texts)} rows, {sum(lengths)} tokens, lengths {min(lengths)}-{max(lengths)} "
          f"(median {sorted(lengths)[len(lengths) // 2]}); 1 epoch, batch {args.batch_size}, lr {args.lr}")
    print(f"{'method':<6} {'recipe':<8} {'real tok/s':>10} {'vs honed':>9} {'final loss':>10} {'peak RSS MB':>12} "
          f"{'train s':>8}")
    for method in args.methods.split(","):
        results = {}
        for recipe in args.recipes.split(","):
            results[recipe] = _spawn(recipe, method, data, args)
            r, honed = results[recipe], results.get("honed")
            ratio = f"{honed['tokens_per_s'] / r['tokens_per_s']:.2f}x" if honed else "-"
            print(f"{method:<6} {recipe:<8} {r['tokens_per_s']:>10.1f} {ratio:>9} {r['final_loss']:>10.4f} "
                  f"{r['peak_rss_mb']:>12.0f} {r['train_s']:>8.1f}", flush=True)


def _spawn(recipe: str, method: str, data: Path, args) -> dict:
    command = [sys.executable, __file__, "--worker", recipe, "--method", method, "--data", str(data),
               "--lr", str(args.lr), "--batch-size", str(args.batch_size)]
    done = subprocess.run(command, capture_output=True, text=True)
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"{recipe}/{method} failed:\n{done.stderr[-3000:]}")
    return json.loads(line.removeprefix("RESULT "))


def run_worker(args) -> dict:
    texts = [json.loads(line)["text"] for line in Path(args.data).read_text().splitlines()]
    worker = {"honed": _honed, "chapter": _chapter, "trl": _trl}[args.worker]
    model, tokenizer, real_tokens, seconds = worker(args, texts)
    return {"tokens_per_s": real_tokens / seconds, "train_s": seconds, "real_tokens": real_tokens,
            "final_loss": mean_token_loss(model, tokenizer, texts), "peak_rss_mb": peak_rss_mb()}


def _honed(args, texts):
    import honed.train

    method = {"name": "lora", **LORA} if args.method == "lora" else "full"
    trained = honed.train.fit({
        "method": method, "data": {"train": args.data, "max_length": 1024},
        "training": {"epochs": 1, "batch_size": args.batch_size, "learning_rate": args.lr, "logging_steps": 1000,
                     "warmup": 0, "scheduler": "linear"},
        "output": tempfile.mkdtemp(prefix="honed-bench-run-") + "/run",
    })
    return trained.model, trained.tokenizer, trained.summary["real_tokens"], trained.summary["wall_time_s"]


def _base():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from honed.models import resolve_model_path

    path = resolve_model_path("smollm2-135m")
    return AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)


def _peft_lora():
    from peft import LoraConfig, TaskType

    return LoraConfig(task_type=TaskType.CAUSAL_LM, r=LORA["r"], lora_alpha=LORA["alpha"],
                      lora_dropout=LORA["dropout"], target_modules="all-linear")


def _chapter(args, texts):
    from datasets import Dataset
    from peft import get_peft_model
    from transformers import DataCollatorForLanguageModeling, Trainer, TrainingArguments

    model, tokenizer = _base()
    if args.method == "lora":
        model = get_peft_model(model, _peft_lora())
    encoded = [tokenizer(t, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id] for t in texts]
    dataset = Dataset.from_dict({"input_ids": encoded, "attention_mask": [[1] * len(e) for e in encoded]})
    trainer = Trainer(
        model=model,
        args=TrainingArguments(output_dir=tempfile.mkdtemp(), per_device_train_batch_size=args.batch_size,
                               num_train_epochs=1, learning_rate=args.lr, lr_scheduler_type="linear",
                               report_to=[], save_strategy="no", logging_steps=1000, use_cpu=True, seed=42,
                               disable_tqdm=True),
        train_dataset=dataset,
        data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False),  # pads to the batch's longest row
    )
    started = time.perf_counter()
    trainer.train()
    return model, tokenizer, sum(map(len, encoded)), time.perf_counter() - started


def _trl(args, texts):
    import torch
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    model, tokenizer = _base()
    config = SFTConfig(output_dir=tempfile.mkdtemp(), per_device_train_batch_size=args.batch_size,
                       num_train_epochs=1, learning_rate=args.lr, lr_scheduler_type="linear", report_to=[],
                       save_strategy="no", logging_steps=1000, seed=42, disable_tqdm=True,
                       use_cpu=not torch.cuda.is_available())
    trainer = SFTTrainer(model=model, args=config, train_dataset=Dataset.from_dict({"text": texts}),
                         processing_class=tokenizer, peft_config=_peft_lora() if args.method == "lora" else None)
    tokens = sum(len(ids) for ids in trainer.train_dataset["input_ids"])
    started = time.perf_counter()
    trainer.train()
    return trainer.model, tokenizer, tokens, time.perf_counter() - started


if __name__ == "__main__":
    main()
