"""`honed eval` of the demo end to end, side by side with honed before the engine (a git revision): the wall time
of the command (loading both models, generating, scoring, perplexity, writing), and the scores it reports.

    python benchmarks/eval_speed.py [--run runs/support-lora] [--limit 16] [--max-new-tokens 64] [--before 44ebd53]

Each version runs `honed eval RUN --baseline base --limit N --max-new-tokens M` (make demo's command) twice in a row in its own process (the first warms
the page cache and any converted model); the second is reported.
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", default=str(ROOT / "runs/support-lora"))
    parser.add_argument("--limit", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--before", default="44ebd53")
    parser.add_argument("--precision", default=None, help="generation.precision for the engine (default: auto)")
    args = parser.parse_args()
    results = {"now": timed_eval(args, None), "before": timed_eval(args, args.before)}
    print("| version | seconds | ROUGE-L tuned | ROUGE-L base |")
    print("|---|---:|---:|---:|")
    for version, (seconds, summary) in results.items():
        print(f"| {version} | {seconds:.1f} | {summary['tuned']:.2f} | {summary['base']:.2f} |")
    print(f"now is {results['before'][0] / results['now'][0]:.2f}x faster end to end")


def timed_eval(args, revision: str | None) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as tmp, environment_of(revision) as env:
        command = [sys.executable, "-m", "honed", "eval", args.run, "--baseline", "base", "--limit", str(args.limit),
                   "--max-new-tokens", str(args.max_new_tokens), "--output", f"{tmp}/eval"]
        if args.precision and not revision:
            command += ["--precision", args.precision]
        for _ in range(2):
            started = time.perf_counter()
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            seconds = time.perf_counter() - started
            if done.returncode != 0:
                raise SystemExit(f"eval ({revision or 'now'}) failed:\n{done.stderr[-3000:]}")
        summary = json.loads(Path(f"{tmp}/eval/eval.json").read_text())
    return seconds, {"tuned": summary["metrics"]["rougeL"], "base": summary["baseline"]["metrics"]["rougeL"]}


if __name__ == "__main__":
    main()
