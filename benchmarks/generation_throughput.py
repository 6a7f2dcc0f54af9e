"""Generation speed of `honed eval`'s batched, left-padded greedy decoding, at batch sizes 1, 8 and 16.

    python benchmarks/generation_throughput.py [--model smollm2-135m] [--run RUN_DIR] [--examples 32] [--new-tokens 40]

Prints examples/s and generated tokens/s per batch size, and the speed-up over batch size 1. Prompts are the
bundled support test set's, rendered with the chat template exactly as `honed eval` renders them.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--run", help="a run directory to benchmark instead of the base model")
    parser.add_argument("--data", default=str(ROOT / "examples/data/support/test.jsonl"))
    parser.add_argument("--examples", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=40)
    parser.add_argument("--batch-sizes", default="1,8,16")
    args = parser.parse_args()

    from honed.config import DataConfig, GenerationConfig
    from honed.data import load_rows, prompt_ids, split_prompt_reference
    from honed.evaluation.subjects import load_subject
    from honed.generation import generate

    subject = load_subject(args.run or args.model)
    rows = load_rows(args.data, DataConfig()).rows[: args.examples]
    prompts = [prompt_ids(subject.tokenizer, split_prompt_reference(row)[0]) for row in rows]
    print(f"model {subject.label}; {len(prompts)} prompts, mean {sum(map(len, prompts)) / len(prompts):.0f} tokens; "
          f"{args.new_tokens} new tokens each (greedy)")
    print(f"{'batch':>5} {'examples/s':>11} {'tokens/s':>9} {'vs batch 1':>10}")
    baseline = None
    for batch in [int(b) for b in args.batch_sizes.split(",")]:
        settings = GenerationConfig(max_new_tokens=args.new_tokens, batch_size=batch)
        generate(subject.model, subject.tokenizer, prompts[:batch], settings)  # warm-up
        started = time.perf_counter()
        answers = generate(subject.model, subject.tokenizer, prompts, settings)
        elapsed = time.perf_counter() - started
        tokens = sum(len(subject.tokenizer(a, add_special_tokens=False)["input_ids"]) for a in answers)
        rate = len(prompts) / elapsed
        baseline = baseline or rate
        print(f"{batch:>5} {rate:>11.2f} {tokens / elapsed:>9.1f} {rate / baseline:>9.2f}x")


if __name__ == "__main__":
    main()
