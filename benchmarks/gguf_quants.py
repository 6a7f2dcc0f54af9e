"""Every `--quant` of one run in llama.cpp: file size, what the file holds, ROUGE-L of its answers against `honed
eval`'s, and llama.cpp's speed.

    python benchmarks/gguf_quants.py [--run runs/support-lora] [--prompts 16] [--new-tokens 64] [--threads 2]

Run it after `make demo`, on an otherwise idle machine (it needs llama-cpp-python). Prompts are the first N of the
bundled support test set, rendered by each file's own chat template; answers are greedy, one prompt at a time.
tokens/s counts generated tokens over the wall time of prompts and generation together.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST_DATA = ROOT / "examples/data/support/test.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", default=str(ROOT / "runs/support-lora"))
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quants", default=None, help="comma-separated; default: all of them")
    args = parser.parse_args()

    from honed.export import llama_cpp
    from honed.export.gguf import QUANTS, tensor_types
    from honed.generation import stop_token_ids
    from honed.metrics import rouge
    from honed.rundir import load_run_tokenizer

    rows = [json.loads(line) for line in TEST_DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = rows[: args.prompts]
    conversations = [row["messages"][:-1] for row in rows]
    references = [row["messages"][-1]["content"] for row in rows]
    stops = set(stop_token_ids(load_run_tokenizer(Path(args.run))))
    print(f"CPU: {_cpu()}; run {args.run}; {len(rows)} prompts, {args.new_tokens} new tokens, "
          f"{args.threads} llama.cpp threads")
    with tempfile.TemporaryDirectory() as scratch:
        honed_rouge = _honed_eval(args.run, Path(scratch) / "eval", args.prompts, args.new_tokens)
        print(f"honed eval ROUGE-L {honed_rouge:.2f}\n")
        print("| quant | file MB | tensors | ROUGE-L in llama.cpp | vs honed eval | tokens/s |")
        print("|---|---:|---|---:|---:|---:|")
        for quant in (args.quants.split(",") if args.quants else QUANTS):
            path = Path(scratch) / f"{quant}.gguf"
            done = subprocess.run([sys.executable, "-m", "honed", "export", args.run, "--gguf", str(path),
                                   "--quant", quant], capture_output=True, text=True)
            if done.returncode != 0:
                print(f"| {quant} | export failed: {done.stderr.strip().splitlines()[-1]} |")
                continue
            llm = llama_cpp.load(path, args.threads)
            answers = llama_cpp.greedy_answers(llm, conversations, stops, args.new_tokens)
            score = rouge(llama_cpp.texts(llm, answers), references)["rougeL"]
            holds = ", ".join(f"{kind} {count}" for kind, count in tensor_types(path).items())
            print(f"| {quant} | {path.stat().st_size / 1e6:.1f} | {holds} | {score:.2f} | {score - honed_rouge:+.2f} "
                  f"| {answers.tokens_per_s:.1f} |", flush=True)
            del llm
            path.unlink()


def _honed_eval(run: str, out: Path, prompts: int, new_tokens: int) -> float:
    done = subprocess.run([sys.executable, "-m", "honed", "eval", run, "--data", str(TEST_DATA), "--limit",
                           str(prompts), "--max-new-tokens", str(new_tokens), "--metrics", "rouge", "--output",
                           str(out)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return json.loads((out / "eval.json").read_text())["metrics"]["rougeL"]


def _cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


if __name__ == "__main__":
    main()
