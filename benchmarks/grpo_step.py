"""GRPO on the triage use case: step time split into generation and training, and honed's GRPO against TRL's
GRPOTrainer with its defaults (its own generation through model.generate) on the same prompts, model and sizes.

    python benchmarks/grpo_step.py [--steps 3] [--prompts 4] [--generations 4] [--tokens 96] [--recipes honed,trl]

Each recipe runs in its own process, one after the other (run it on an idle machine). Both are TRL's GRPOTrainer
with LoRA (honed's default settings: r 8, alpha 32, all linear layers) and the rewards json_valid + field_match;
tokens/s counts prompt and completion tokens as TRL logs them (`num_tokens`), over the wall time of training.
honed: `honed.train` with objective grpo (precision auto, answers from honed's engine, all groups of a step in one
batch). TRL: GRPOConfig defaults but for the sizes above (fp32 on a CPU: its bf16 default needs a GPU).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "examples" / "data" / "triage"


def honed_recipe(args) -> dict:
    from honed.config import load_config
    from honed.training.runner import build_trainer, claim_run_dir, finish, run, set_up

    out = Path(tempfile.mkdtemp()) / "run"
    rewards = ["json_valid", {"name": "field_match", "schema": str(DATA / "schema.json")}]
    config = load_config(ROOT / "examples" / "usecases" / "triage.yaml", [
        f"output={out}", "data.val_fraction=0", "training.objective=grpo", f"training.rewards={json.dumps(rewards)}",
        f"training.max_steps={args.steps}", f"training.batch_size={args.prompts}",
        f"training.generations={args.generations}", f"training.completion_tokens={args.tokens}",
        "training.logging_steps=1"])
    setup = set_up(config.for_training())
    claim_run_dir(setup)
    trainer = build_trainer(setup, [])
    outcome = run(trainer, setup)
    finish(trainer, setup, outcome)
    generation = trainer.rollout_func.seconds if trainer.rollout_func is not None else None
    return {"wall_s": outcome.wall_s, "generation_s": generation, "tokens": _tokens(trainer),
            "precision": setup.precision.name, "reward": _last(trainer, "reward")}


def trl_recipe(args) -> dict:
    import datasets
    from peft import LoraConfig
    from trl import GRPOConfig, GRPOTrainer

    from honed.models import load_model, load_tokenizer, resolve_model_path
    from honed.rewards import build_reward

    path = resolve_model_path("smollm2-135m")
    rows = [json.loads(line) for line in (DATA / "train.jsonl").read_text().splitlines()]
    dataset = datasets.Dataset.from_dict({"prompt": [r["messages"][:-1] for r in rows],
                                          "reference": [r["messages"][-1]["content"] for r in rows]})
    rewards = [build_reward("json_valid"), build_reward("field_match", schema=str(DATA / "schema.json"))]

    def as_trl(reward):
        def scored(prompts, completions, reference, **kwargs):
            texts = [c[-1]["content"] for c in completions]
            return reward(["" for _ in texts], texts, [{"reference": r} for r in reference])
        scored.__name__ = reward.label
        return scored

    config = GRPOConfig(output_dir=tempfile.mkdtemp(), max_steps=args.steps, num_generations=args.generations,
                        per_device_train_batch_size=args.prompts * args.generations,
                        max_completion_length=args.tokens, logging_steps=1, report_to=[], use_cpu=True, bf16=False,
                        save_strategy="no")
    trainer = GRPOTrainer(model=load_model(path), reward_funcs=[as_trl(r) for r in rewards], args=config,
                          train_dataset=dataset, processing_class=load_tokenizer(path),
                          peft_config=LoraConfig(r=8, lora_alpha=32, lora_dropout=0.1, target_modules="all-linear",
                                                 task_type="CAUSAL_LM"))
    started = time.perf_counter()
    trainer.train()
    return {"wall_s": time.perf_counter() - started, "generation_s": None, "tokens": _tokens(trainer),
            "precision": "fp32", "reward": _last(trainer, "reward")}


def _tokens(trainer) -> float:
    return max((row["num_tokens"] for row in trainer.state.log_history if "num_tokens" in row), default=0.0)


def _last(trainer, key: str):
    values = [row[key] for row in trainer.state.log_history if key in row]
    return values[-1] if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--prompts", type=int, default=4, help="prompts per step")
    parser.add_argument("--generations", type=int, default=4, help="answers per prompt")
    parser.add_argument("--tokens", type=int, default=96, help="most tokens per answer")
    parser.add_argument("--recipes", default="honed,trl")
    parser.add_argument("--recipe", help=argparse.SUPPRESS)  # one recipe, in this process
    args = parser.parse_args()
    if args.recipe:
        print(json.dumps((honed_recipe if args.recipe == "honed" else trl_recipe)(args)))
        return
    results = {}
    for recipe in args.recipes.split(","):
        done = subprocess.run([sys.executable, __file__, "--recipe", recipe, "--steps", str(args.steps), "--prompts",
                               str(args.prompts), "--generations", str(args.generations), "--tokens",
                               str(args.tokens)], capture_output=True, text=True, env={
                                   **__import__("os").environ, "TRL_EXPERIMENTAL_SILENCE": "1"})
        if done.returncode != 0:
            print(f"{recipe}: FAILED: {done.stderr.strip().splitlines()[-1:]}")
            continue
        results[recipe] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"GRPO, triage prompts, {args.steps} steps of {args.prompts} prompts x {args.generations} answers "
          f"(up to {args.tokens} tokens), LoRA on SmolLM2-135M")
    print("| recipe | precision | wall s | s/step | generation s/step | training s/step | tokens/s | ratio | last reward |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    base = results.get("honed")
    for name, r in results.items():
        per_step = r["wall_s"] / args.steps
        generation = r["generation_s"] / args.steps if r["generation_s"] is not None else None
        speed = r["tokens"] / r["wall_s"]
        ratio = speed / (base["tokens"] / base["wall_s"]) if base else float("nan")
        print(f"| {name} | {r['precision']} | {r['wall_s']:.1f} | {per_step:.1f} | "
              f"{'—' if generation is None else f'{generation:.1f}'} | "
              f"{'—' if generation is None else f'{per_step - generation:.1f}'} | {speed:.0f} | {ratio:.2f}x | "
              f"{r['reward']} |")


if __name__ == "__main__":
    main()
