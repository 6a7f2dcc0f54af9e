"""Preference pairs for the DPO measurement in docs/results.md: chosen = the reference answer, rejected = the
model's own answer, read from `honed eval` predictions of the base model (predictions.jsonl: each row's prompt
messages, reference and prediction).

    honed eval smollm2-135m --data examples/data/support/train.jsonl --max-new-tokens 96 --output runs/base-train
    python scripts/preference_pairs.py runs/base-train/predictions.jsonl runs/prefs-train.jsonl

Rows whose prediction equals the reference are skipped (no preference); the count is printed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def pairs(predictions: Path) -> tuple[list[dict], int]:
    rows = [json.loads(line) for line in predictions.read_text(encoding="utf-8").splitlines() if line.strip()]
    missing = [row["index"] for row in rows if "messages" not in row]
    if missing:
        raise SystemExit(f"{predictions}: rows {missing[:3]}... have no prompt messages; re-run honed eval")
    kept = [{"prompt": row["messages"], "chosen": [{"role": "assistant", "content": row["reference"]}],
             "rejected": [{"role": "assistant", "content": row["prediction"]}]}
            for row in rows if row["prediction"].strip() != row["reference"].strip()]
    return kept, len(rows) - len(kept)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("predictions", type=Path, help="predictions.jsonl written by honed eval")
    parser.add_argument("output", type=Path, help="JSONL of {prompt, chosen, rejected}")
    args = parser.parse_args()
    kept, skipped = pairs(args.predictions)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in kept), encoding="utf-8")
    print(f"{len(kept)} pairs written to {args.output} ({skipped} skipped: the answer equals the reference)")


if __name__ == "__main__":
    main()
