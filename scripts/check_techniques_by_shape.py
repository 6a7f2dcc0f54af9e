"""Acceptance check: every technique trains the default model on a user's JSONL in each of the four record shapes,
through the CLI, and the run directory reloads. Prints one line per pair; exits 1 if any failed.

    python scripts/check_techniques_by_shape.py [--steps 2] [--out /tmp/honed-shapes]

About 20 s a pair on a 2-core CPU (28 pairs). Not part of `make test`, which trains tiny models instead.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TECHNIQUES = ["full", "lora", "prefix", "prompt", "adalora", "adapter", "ia3"]


def shaped_rows(shape: str, rows: list[dict]) -> list[dict]:
    out = []
    for row in rows:
        question = next(m["content"] for m in row["messages"] if m["role"] == "user")
        answer = next(m["content"] for m in row["messages"] if m["role"] == "assistant")
        out.append({
            "text": {"text": f"Q: {question}\nA: {answer}"},
            "prompt_completion": {"prompt": question, "completion": answer},
            "alpaca": {"instruction": "Answer as Brightwave Support.", "input": question, "output": answer},
            "messages": row,
        }[shape])
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--out", default="/tmp/honed-shapes")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    source = [json.loads(line) for line in (ROOT / "examples/data/support/train.jsonl").read_text().splitlines()[:8]]
    failures = 0
    for shape in ("text", "prompt_completion", "alpaca", "messages"):
        data = out / f"{shape}.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in shaped_rows(shape, source)))
        for technique in TECHNIQUES:
            run = out / f"{shape}-{technique}"
            started = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "honed", "train", "--method", technique, "--data", str(data),
                 "--max-steps", str(args.steps), "--batch-size", "2", "--output", str(run), "--overwrite"],
                capture_output=True, text=True,
            )
            ok = done.returncode == 0 and _reloads(run)
            failures += not ok
            summary = json.loads((run / "summary.json").read_text()) if ok else {}
            print(f"{shape:<18} {technique:<8} {'ok' if ok else 'FAILED'} "
                  f"shape={summary.get('data', {}).get('shape')} loss={summary.get('final_train_loss')} "
                  f"{time.perf_counter() - started:.0f}s", flush=True)
            if not ok:
                print(done.stderr[-1500:], flush=True)
    return 1 if failures else 0


def _reloads(run: Path) -> bool:
    code = (
        "import sys, torch; from honed.training import load_run; r = load_run(sys.argv[1]); "
        "ids = r.tokenizer('Hello', return_tensors='pt')['input_ids']; "
        "assert torch.isfinite(r.model(input_ids=ids).logits).all()"
    )
    return subprocess.run([sys.executable, "-c", code, str(run)], capture_output=True).returncode == 0


if __name__ == "__main__":
    raise SystemExit(main())
