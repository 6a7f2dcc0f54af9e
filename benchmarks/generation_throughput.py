"""Generation speed side by side: honed's engine, honed before it (a git revision), and llama.cpp on honed's own f16
GGUF of the same run; greedy, batch 1 (one answer at a time) and batch 16 (`honed eval`'s default).

    python benchmarks/generation_throughput.py [--run runs/support-lora] [--examples 16] [--new-tokens 40]
                                               [--before 44ebd53] [--no-llama-cpp]

Each variant runs in its own process, one after the other (run it on an otherwise idle machine). tokens/s counts
the answers' tokens over the wall time of prompts and generation together; prompts are the bundled support test
set's, rendered with the run's chat template. The exactness lines compare greedy answers' first 32 tokens with
transformers' fp32 `generate` (the plain path).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import ROOT, environment_of  # noqa: E402

TEST_DATA = ROOT / "examples/data/support/test.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", default=str(ROOT / "runs/support-lora"))
    parser.add_argument("--examples", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=40)
    parser.add_argument("--batch-sizes", default="1,16")
    parser.add_argument("--before", default="44ebd53", help="git revision measured as 'before' ('' to skip)")
    parser.add_argument("--no-llama-cpp", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args)))
        return
    from honed.hardware import cpu_name

    print(f"CPU: {cpu_name()}, {args.threads} threads; run {args.run}; {args.examples} prompts, "
          f"{args.new_tokens} greedy tokens each")
    results = {}
    variants = ["engine", "engine-fp32"] + (["before"] if args.before else []) + \
        ([] if args.no_llama_cpp else ["llama.cpp"])
    for variant in variants:
        results[variant] = run_worker(variant, args)
        print(f"  {variant}: " + ", ".join(f"batch {b}: {r:.1f} tok/s" for b, r in results[variant]["rates"].items()),
              flush=True)
    report(results, args)


def run_worker(variant: str, args) -> dict:
    command = [sys.executable, __file__, "--worker", variant, "--run", args.run, "--examples", str(args.examples),
               "--new-tokens", str(args.new_tokens), "--batch-sizes", args.batch_sizes,
               "--threads", str(args.threads)]
    with environment_of(args.before if variant == "before" else None, args.threads) as env:
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{variant} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(results: dict, args) -> None:
    batches = list(results["engine"]["rates"])
    print("\n| variant | " + " | ".join(f"batch {b} tok/s" for b in batches) + " |")
    print("|---|" + "---:|" * len(batches))
    for variant, result in results.items():
        print(f"| {variant} | " + " | ".join(f"{result['rates'].get(b, float('nan')):.1f}" for b in batches) + " |")
    engine = results["engine"]["rates"]
    for other in ("before", "llama.cpp", "engine-fp32"):
        if other in results:
            print(f"engine against {other}: " + ", ".join(
                f"batch {b} {engine[b] / results[other]['rates'][b]:.2f}x" for b in batches
                if b in results[other]["rates"]))
    plain = results["engine-fp32"]["plain"]
    for variant, result in results.items():
        if "first32" in result:
            same = sum(a == b for a, b in zip(result["first32"], plain, strict=True))
            print(f"{variant}: first 32 greedy tokens identical to transformers fp32 on {same} of {len(plain)} prompts")
    print(f"engine path: {results['engine']['path']}")


# Workers (one per process)


def _prompts(args, tokenizer):
    from honed.data import load_rows, prompt_ids, split_prompt_reference
    from honed.config import DataConfig

    rows = load_rows(str(TEST_DATA), DataConfig()).rows[: args.examples]
    return [prompt_ids(tokenizer, split_prompt_reference(row)[0]) for row in rows]


def _settings(new_tokens: int, batch: int, precision: str | None = None):
    from honed.config import GenerationConfig

    fields = {"max_new_tokens": new_tokens, "batch_size": batch}
    if precision and "precision" in GenerationConfig.model_fields:
        fields["precision"] = precision
    return GenerationConfig(**fields)


def _honed_worker(args, precision: str | None) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    from honed.evaluation.subjects import load_subject

    subject = load_subject(args.run)
    prompts = _prompts(args, subject.tokenizer)
    tokens = lambda answers: sum(len(subject.tokenizer(a, add_special_tokens=False)["input_ids"])  # noqa: E731
                                 for a in answers)
    answer, path = _answerer(subject, precision)
    rates = {}
    for batch in [int(b) for b in args.batch_sizes.split(",")]:
        answer(prompts[:2], _settings(args.new_tokens, batch, precision))  # warm-up
        started = time.perf_counter()
        answers = answer(prompts, _settings(args.new_tokens, batch, precision))
        rates[str(batch)] = tokens(answers) / (time.perf_counter() - started)
    result = {"rates": rates, "path": path}
    first32 = answer(prompts, _settings(32, 16, precision))
    result["first32"] = first32
    if precision == "fp32":
        from honed.generation.plain import generate as plain

        result["plain"] = plain(subject.model, subject.tokenizer, prompts, _settings(32, 16))
    return result


def _answerer(subject, precision):
    """The engine, made once (as `honed eval` makes it per model), or the old `generate` where there is none."""
    import honed.generation as generation

    if not hasattr(generation, "Engine"):
        return (lambda prompts, settings: generation.generate(subject.model, subject.tokenizer, prompts, settings),
                "transformers generate (before)")
    engine = generation.Engine(subject.model, subject.tokenizer, max_batch=16, precision=precision or "auto")
    return (lambda prompts, settings: engine.generate(prompts, settings)), engine.path


def _llama_cpp_worker(args) -> dict:
    """llama.cpp answers the very token ids honed's engine gets (the run's own template, rendered by transformers)."""
    from honed.export import llama_cpp
    from honed.generation import stop_token_ids
    from honed.rundir import load_run_tokenizer

    tokenizer = load_run_tokenizer(args.run)
    prompts = _prompts(args, tokenizer)
    stops = set(stop_token_ids(tokenizer))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run-f16.gguf"
        subprocess.run([sys.executable, "-m", "honed", "export", args.run, "--gguf", str(path), "--quant", "f16"],
                       check=True, capture_output=True)
        llm = llama_cpp.load(path, args.threads)
        llama_cpp.greedy_tokens(llm, prompts[:2], stops, args.new_tokens)
        rate = llama_cpp.greedy_tokens(llm, prompts, stops, args.new_tokens).tokens_per_s
        first32 = [tokenizer.decode(a, skip_special_tokens=True).strip()
                   for a in llama_cpp.greedy_tokens(llm, prompts, stops, 32).tokens]
    return {"rates": {"1": rate}, "first32": first32, "path": "llama.cpp"}


WORKERS = {"engine": lambda args: _honed_worker(args, None), "engine-fp32": lambda args: _honed_worker(args, "fp32"),
           "before": lambda args: _honed_worker(args, None), "llama.cpp": _llama_cpp_worker}


if __name__ == "__main__":
    main()
