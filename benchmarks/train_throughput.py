"""Training throughput: honed against honed before bf16 paid, the chapter's recipe and TRL, on the same data.

    python benchmarks/train_throughput.py [--data long|even|support] [--rows 64] [--methods lora,full]
        [--recipes honed,before,chapter,trl] [--lora all-linear|chapter] [--model smollm2-135m|qwen2.5-0.5b-shape]

The same rows, model, epoch (or --steps), batch size, learning rate and LoRA settings for every recipe. Each run is a
separate process, so peak memory is its own. Prints real (non-pad) tokens/s, the ratio to honed, the final loss
(mean token loss over the data after training, measured the same way for all) and peak RSS.

Data:
- long: long-tailed texts (16 to 512 tokens, log-normal, median ~80) from the bundled support answers
- even: texts of 60 to 400 tokens, uniformly spread (packing gains little here)
- support: the bundled support conversations (examples/data/support), loss on the assistant's answers only

Recipes:
- honed: `honed.train` defaults (packing, `precision: auto`, logits at labelled positions only)
- before: honed as of --before (a git ref; default the last commit before bf16 training), run from a git worktree
- chapter: the chapter's code made to run: Trainer + peft, labels added, padding to the longest row in each batch
- trl: `SFTTrainer` with its defaults (gradient checkpointing, bf16, padding per batch); `use_cpu` where no GPU

Models: the default SmolLM2-135M, or a randomly initialised model of Qwen2.5-0.5B's shape (494M parameters, 152k
vocabulary; config written here, no download; SmolLM2's tokenizer, whose ids all fall inside the larger vocabulary).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, even_texts, long_tailed_texts, mean_token_loss, peak_rss_mb  # noqa: E402

RECIPES = ("honed", "before", "chapter", "trl")
BEFORE = "1d37fbc"  # the last commit before bf16 training: fp32 everywhere on a CPU, logits at every position
LORA = {
    "all-linear": {"r": 8, "alpha": 32, "dropout": 0.1, "target_modules": "all-linear"},
    "chapter": {"r": 8, "alpha": 32, "dropout": 0.1, "target_modules": ["q_proj", "v_proj"]},
}
QWEN_SHAPE = {  # Qwen2.5-0.5B's config.json
    "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 896, "intermediate_size": 4864,
    "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2, "vocab_size": 151936,
    "max_position_embeddings": 32768, "rope_theta": 1000000.0, "rms_norm_eps": 1e-6, "tie_word_embeddings": True,
    "hidden_act": "silu", "initializer_range": 0.02,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="long", choices=["long", "even", "support"])
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--methods", default="lora,full")
    parser.add_argument("--recipes", default="honed,chapter,trl")
    parser.add_argument("--lora", default="all-linear", choices=list(LORA))
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps instead of one epoch (honed only)")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--before", default=BEFORE)
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--method", help=argparse.SUPPRESS)
    parser.add_argument("--data-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(run_worker(args)), flush=True)
        return
    results = run_all(args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


def run_all(args) -> list[dict]:
    from honed.hardware import cpu_name, physical_cores

    args.model = model_path(args.model)
    data_file, description = write_data(args)
    print(f"{cpu_name()}, {physical_cores()} cores; {description}; "
          f"{f'{args.steps} steps' if args.steps else '1 epoch'}, batch {args.batch_size}, lr {args.lr}, "
          f"LoRA {args.lora}", flush=True)
    print(f"{'method':<6} {'recipe':<8} {'precision':<9} {'real tok/s':>10} {'vs honed':>9} {'final loss':>10} "
          f"{'peak RSS MB':>12} {'train s':>8}", flush=True)
    results = []
    for method in args.methods.split(","):
        honed = None
        for recipe in args.recipes.split(","):
            r = {"method": method, "recipe": recipe, "data": args.data, **spawn(recipe, method, data_file, args)}
            honed = r if recipe == "honed" else honed
            ratio = f"{honed['tokens_per_s'] / r['tokens_per_s']:.2f}x" if honed else "-"
            print(f"{method:<6} {recipe:<8} {r['precision']:<9} {r['tokens_per_s']:>10.1f} {ratio:>9} "
                  f"{r['final_loss']:>10.4f} {r['peak_rss_mb']:>12.0f} {r['train_s']:>8.1f}", flush=True)
            results.append(r)
    return results


def model_path(name: str) -> str:
    if name != "qwen2.5-0.5b-shape":
        return name
    from honed.models import honed_home

    folder = honed_home() / "bench" / name
    if not (folder / "model.safetensors").is_file():
        _write_qwen_shape(folder)
    return str(folder)


def _write_qwen_shape(folder: Path) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from honed.data import ensure_chat_template
    from honed.models import load_tokenizer

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    config = AutoConfig.for_model(**QWEN_SHAPE)
    tokenizer = load_tokenizer("smollm2-135m")
    ensure_chat_template(tokenizer)
    config.eos_token_id, config.pad_token_id = tokenizer.eos_token_id, tokenizer.pad_token_id
    AutoModelForCausalLM.from_config(config).save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))


def write_data(args) -> tuple[Path, str]:
    from honed.models import load_tokenizer

    folder = Path(tempfile.mkdtemp(prefix="honed-bench-"))
    if args.data == "support":
        rows = (ROOT / "examples/data/support/train.jsonl").read_text(encoding="utf-8").splitlines()[: args.rows]
        path = folder / "support.jsonl"
        path.write_text("".join(row + "\n" for row in rows), encoding="utf-8")
        return path, f"{len(rows)} support conversations (loss on answers only)"
    tokenizer = load_tokenizer("smollm2-135m")
    texts = (long_tailed_texts if args.data == "long" else even_texts)(tokenizer, args.rows)
    lengths = [len(tokenizer(t, add_special_tokens=False)["input_ids"]) + 1 for t in texts]
    path = folder / "texts.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    return path, (f"{len(texts)} {args.data} texts, {sum(lengths)} tokens, lengths {min(lengths)}-{max(lengths)} "
                  f"(median {sorted(lengths)[len(lengths) // 2]})")


def spawn(recipe: str, method: str, data: Path, args) -> dict:
    command = [sys.executable, __file__, "--worker", recipe, "--method", method, "--data-file", str(data),
               "--data", args.data, "--lr", str(args.lr), "--batch-size", str(args.batch_size), "--lora", args.lora,
               "--model", args.model, *(["--steps", str(args.steps)] if args.steps else [])]
    env = dict(os.environ)
    if recipe == "before":
        env["PYTHONPATH"] = str(_worktree(args.before) / "src")
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"{recipe}/{method} failed:\n{done.stderr[-3000:]}")
    result = json.loads(line.removeprefix("RESULT "))
    if "run_dir" in result:  # a honed run: its loss is measured by this code, whichever honed trained it
        result["final_loss"] = honed_run_loss(Path(result.pop("run_dir")), data, args.data)
    return result


def _worktree(ref: str) -> Path:
    folder = Path(tempfile.gettempdir()) / f"honed-before-{ref}"
    if not (folder / "src" / "honed").is_dir():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--force", str(folder), ref],
                       check=True, capture_output=True)
    return folder


def run_worker(args) -> dict:
    import torch

    worker = {"honed": _honed, "before": _honed, "chapter": _chapter, "trl": _trl}[args.worker]
    result = worker(args)
    result["peak_rss_mb"] = peak_rss_mb()
    if torch.cuda.is_available():
        result["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return result


def _texts(path: str) -> list[str]:
    return [json.loads(line)["text"] for line in Path(path).read_text().splitlines()]


def _honed(args) -> dict:
    try:
        from honed.training import fit
    except ImportError:  # honed before the package was split into honed.training / honed.evaluation
        from honed.train import fit

    method = {"name": "lora", **LORA[args.lora]} if args.method == "lora" else "full"
    training = {"batch_size": args.batch_size, "learning_rate": args.lr, "logging_steps": 1000, "warmup": 0,
                "scheduler": "linear", **({"max_steps": args.steps} if args.steps else {"epochs": 1})}
    run_dir = tempfile.mkdtemp(prefix="honed-bench-run-") + "/run"
    trained = fit({"model": args.model, "method": method, "output": run_dir, "training": training,
                               "data": {"train": args.data_file, "max_length": 1024}})
    summary = trained.summary
    return {"tokens_per_s": summary["real_tokens"] / summary["wall_time_s"], "train_s": summary["wall_time_s"],
            "real_tokens": summary["real_tokens"], "precision": summary["precision"], "run_dir": run_dir}


def honed_run_loss(run_dir: Path, data: Path, kind: str) -> float:
    """Mean token loss of the saved run, loaded as every later command loads it (fp32 base plus the artifact)."""
    import torch

    from honed.data import prepare_data
    from honed.models.loss import token_nll
    from honed.training import load_run

    run = load_run(run_dir)
    if kind != "support":
        return mean_token_loss(run.model, run.tokenizer, _texts(str(data)))
    rows = prepare_data(run.config.data, run.tokenizer, run.config.training.seed).train
    total, count = 0.0, 0
    with torch.no_grad():
        for row in rows:
            nll, n = token_nll(run.model(input_ids=torch.tensor([row["input_ids"]])).logits,
                               torch.tensor([row["labels"]]))
            total, count = total + float(nll), count + n
    return total / count


def _base(model: str):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from honed.models import resolve_model_path

    path = resolve_model_path(model)
    return AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)


def _peft_lora(settings: dict):
    from peft import LoraConfig, TaskType

    return LoraConfig(task_type=TaskType.CAUSAL_LM, r=settings["r"], lora_alpha=settings["alpha"],
                      lora_dropout=settings["dropout"], target_modules=settings["target_modules"])


def _chapter(args) -> dict:
    from datasets import Dataset
    from peft import get_peft_model
    from transformers import DataCollatorForLanguageModeling, Trainer, TrainingArguments

    texts = _texts(args.data_file)
    model, tokenizer = _base(args.model)
    if args.method == "lora":
        model = get_peft_model(model, _peft_lora(LORA[args.lora]))
    encoded = [tokenizer(t, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id] for t in texts]
    dataset = Dataset.from_dict({"input_ids": encoded, "attention_mask": [[1] * len(e) for e in encoded]})
    trainer = Trainer(
        model=model,
        args=TrainingArguments(output_dir=tempfile.mkdtemp(), per_device_train_batch_size=args.batch_size,
                               learning_rate=args.lr, lr_scheduler_type="linear", report_to=[], save_strategy="no",
                               logging_steps=1000, use_cpu=True, seed=42, disable_tqdm=True, num_train_epochs=1),
        train_dataset=dataset,
        data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False),  # pads to the batch's longest row
    )
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    tokens = sum(map(len, encoded))
    return {"tokens_per_s": tokens / seconds, "train_s": seconds, "real_tokens": tokens, "precision": "fp32",
            "final_loss": mean_token_loss(model, tokenizer, texts)}


def _trl(args) -> dict:
    import torch
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    texts = _texts(args.data_file)
    model, tokenizer = _base(args.model)
    config = SFTConfig(output_dir=tempfile.mkdtemp(), per_device_train_batch_size=args.batch_size,
                       learning_rate=args.lr, lr_scheduler_type="linear", report_to=[], save_strategy="no",
                       logging_steps=1000, seed=42, disable_tqdm=True, use_cpu=not torch.cuda.is_available(),
                       num_train_epochs=1)
    trainer = SFTTrainer(model=model, args=config, train_dataset=Dataset.from_dict({"text": texts}),
                         processing_class=tokenizer,
                         peft_config=_peft_lora(LORA[args.lora]) if args.method == "lora" else None)
    tokens = sum(len(ids) for ids in trainer.train_dataset["input_ids"])
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    return {"tokens_per_s": tokens / seconds, "train_s": seconds, "real_tokens": tokens,
            "precision": "bf16" if config.bf16 else "fp32", "final_loss": mean_token_loss(trainer.model, tokenizer, texts)}


if __name__ == "__main__":
    main()
