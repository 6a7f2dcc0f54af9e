"""Load on `honed serve` over loopback: requests/s, p50/p95 latency and tokens/s at concurrency 1, 4 and 8, for one
adapter and for two adapters of one base model alternating (what one base with many adapters costs).

    python benchmarks/serve_load.py RUN_A RUN_B [--requests 16] [--max-tokens 32]

RUN_A and RUN_B are LoRA run directories of the same base model (e.g. two `honed compare` LoRA runs). The server
runs in this process on a free port; clients are threads speaking plain HTTP, as any OpenAI client would.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from honed.serve import Limits, load_pool, make_server

PROMPTS = [
    "My router shows a red light since this morning. What should I do?",
    "How do I change the billing date on my account?",
    "Can I pause my plan while I travel for two months?",
    "The app says my password is wrong but I just reset it.",
]


def post(port: int, model: str, prompt: str, max_tokens: int) -> tuple[float, int]:
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens,
                       "temperature": 0}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", data=body,
                                     headers={"Content-Type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=600) as response:
        payload = json.loads(response.read())
    return time.perf_counter() - started, payload["usage"]["completion_tokens"]


def measure(port: int, models: list[str], concurrency: int, requests: int, max_tokens: int) -> dict:
    jobs = [(models[i % len(models)], PROMPTS[i % len(PROMPTS)]) for i in range(requests)]
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(lambda job: post(port, job[0], job[1], max_tokens), jobs))
    wall = time.perf_counter() - started
    latencies = sorted(r[0] for r in results)
    tokens = sum(r[1] for r in results)
    return {"concurrency": concurrency, "requests_per_s": requests / wall,
            "p50_s": statistics.median(latencies), "p95_s": latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))],
            "tokens_per_s": tokens / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs=2, type=Path)
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=32)
    args = parser.parse_args()
    names = [run.name for run in args.runs]
    if names[0] == names[1]:
        parser.error("the two runs need distinct folder names (they are the served model names)")
    server = make_server(load_pool([str(r) for r in args.runs]), "127.0.0.1", 0,
                         limits=Limits(max_queue=64, timeout_s=3600))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    post(port, names[0], PROMPTS[0], 4)  # warm-up
    print(f"{'adapters':>9} {'conc':>5} {'req/s':>7} {'p50 s':>7} {'p95 s':>7} {'tok/s':>7}")
    rows = {}
    for label, models in (("one", names[:1]), ("two", names)):
        for concurrency in (1, 4, 8):
            row = measure(port, models, concurrency, args.requests, args.max_tokens)
            rows[(label, concurrency)] = row
            print(f"{label:>9} {concurrency:>5} {row['requests_per_s']:>7.2f} {row['p50_s']:>7.2f} "
                  f"{row['p95_s']:>7.2f} {row['tokens_per_s']:>7.1f}", flush=True)
    for concurrency in (1, 4, 8):
        ratio = rows[("two", concurrency)]["tokens_per_s"] / rows[("one", concurrency)]["tokens_per_s"]
        print(f"concurrency {concurrency}: two alternating adapters run at {ratio:.2f}x the tokens/s of one")
    server.shutdown()


if __name__ == "__main__":
    main()
