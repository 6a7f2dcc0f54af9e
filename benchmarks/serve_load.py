"""Load on `honed serve`, side by side with honed before the engine (a git revision): clients over the base model
and two LoRA adapters of it, greedy, at concurrency 1, 4 and 8.

    python benchmarks/serve_load.py RUN_A RUN_B [--requests 16] [--max-tokens 32] [--before 44ebd53]

RUN_A and RUN_B are LoRA runs of one base model (e.g. make demo's runs/support-lora and a second one). Each version
serves in its own process, one after the other, on a free loopback port; clients are threads streaming chat
completions over plain HTTP, as any OpenAI client would. Reported per concurrency: total tokens/s, latency and time
to first token (p50, p95), and how many answers equal the same request's answer at concurrency 1 (alone). "first
answer" is the time from the process start (Python started, nothing imported) to the first answer of a served model.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import urllib.request  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from common import environment_of  # noqa: E402

PROMPTS = [
    "My router shows a red light since this morning. What should I do?",
    "How do I change the billing date on my account?",
    "Can I pause my plan while I travel for two months?",
    "The app says my password is wrong but I just reset it.",
]
CONCURRENCY = (1, 4, 8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs=2, type=Path)
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--before", default="44ebd53", help="git revision measured as 'before' ('' to skip)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.runs[0].name == args.runs[1].name:
        parser.error("the two runs need distinct folder names (they are the served model names)")
    if args.worker:
        print(json.dumps(serve_and_measure(args)))
        return
    results = {"now": run_worker(args, None)}
    if args.before:
        results["before"] = run_worker(args, args.before)
    report(results)


def run_worker(args, revision: str | None) -> dict:
    command = [sys.executable, __file__, *map(str, args.runs), "--worker", "--requests", str(args.requests),
               "--max-tokens", str(args.max_tokens), "--threads", str(args.threads)]
    with environment_of(revision, args.threads) as env:
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"serve ({revision or 'now'}) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(results: dict) -> None:
    from honed.hardware import cpu_name

    print(f"CPU: {cpu_name()}; {results['now']['requests']} requests of up to "
          f"{results['now']['max_tokens']} tokens over {', '.join(results['now']['models'])}")
    print("| version | clients | tokens/s | p50 s | p95 s | TTFT p50 s | TTFT p95 s | same as alone | first answer s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for version, result in results.items():
        for row in result["rows"]:
            print(f"| {version} | {row['concurrency']} | {row['tokens_per_s']:.1f} | {row['p50_s']:.2f} | "
                  f"{row['p95_s']:.2f} | {row['ttft_p50_s']:.2f} | {row['ttft_p95_s']:.2f} | "
                  f"{row['same_as_alone']}/{result['requests']} | {result['first_answer_s']:.1f} |")
    if "before" in results:
        for now, before in zip(results["now"]["rows"], results["before"]["rows"], strict=True):
            print(f"{now['concurrency']} clients: tokens/s {now['tokens_per_s'] / before['tokens_per_s']:.2f}x "
                  f"before; p95 latency {now['p95_s']:.2f} s (before {before['p95_s']:.2f} s)")


# The worker: serves in this process and measures


def serve_and_measure(args) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    from honed.serve import Limits, load_pool, make_server

    server = make_server(load_pool([str(r) for r in args.runs]), "127.0.0.1", 0,
                         limits=Limits(max_queue=64, timeout_s=3600))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    models = sorted(server.service.pool.models)
    post(port, models[0], PROMPTS[0], 4)
    first_answer = time.perf_counter() - STARTED
    jobs = [(models[i % len(models)], PROMPTS[i % len(PROMPTS)]) for i in range(args.requests)]
    rows, alone = [], None
    for concurrency in CONCURRENCY:
        row, answers = measure(port, jobs, concurrency, args.max_tokens)
        alone = alone or answers
        row["same_as_alone"] = sum(a == b for a, b in zip(answers, alone, strict=True))
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    server.shutdown()
    return {"rows": rows, "first_answer_s": first_answer, "models": models, "requests": args.requests,
            "max_tokens": args.max_tokens}


def post(port: int, model: str, prompt: str, max_tokens: int) -> tuple[float, float, str, int]:
    """(latency, time to first token, answer, tokens) of one streamed chat completion."""
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens,
                       "temperature": 0, "stream": True}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", data=body,
                                     headers={"Content-Type": "application/json"})
    started = time.perf_counter()
    first, text, tokens = None, "", 0
    with urllib.request.urlopen(request, timeout=3600) as response:
        for line in response:
            if not line.startswith(b"data: {"):
                continue
            chunk = json.loads(line[6:])
            piece = chunk["choices"][0].get("delta", {}).get("content") if chunk["choices"] else None
            if piece:
                first = first or time.perf_counter() - started
                text += piece
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
    latency = time.perf_counter() - started
    return latency, first or latency, text, tokens


def measure(port: int, jobs: list[tuple[str, str]], concurrency: int, max_tokens: int) -> tuple[dict, list[str]]:
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(lambda job: post(port, job[0], job[1], max_tokens), jobs))
    wall = time.perf_counter() - started
    latencies = sorted(r[0] for r in results)
    firsts = sorted(r[1] for r in results)
    row = {"concurrency": concurrency, "tokens_per_s": sum(r[3] for r in results) / wall,
           "p50_s": statistics.median(latencies), "p95_s": _p95(latencies),
           "ttft_p50_s": statistics.median(firsts), "ttft_p95_s": _p95(firsts)}
    return row, [r[2] for r in results]


def _p95(values: list[float]) -> float:
    return values[min(len(values) - 1, int(0.95 * len(values)))]


if __name__ == "__main__":
    main()
