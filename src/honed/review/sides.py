"""The two sides of a review as answers to the same prompts: predictions files, run directories or 'base'.

Missing predictions are generated with honed's own evaluation (the same prompts, template and settings as
`honed eval`), so a review always shows what `honed eval` scored.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from honed.errors import UserError
from honed.rundir import EVAL_FILE, PREDICTIONS_FILE, eval_dir, is_run_dir, read_config

log = logging.getLogger("honed")


def load_answers(side_a: str, side_b: str, data: str | None) -> tuple[str, str, list[tuple[str, str | None, str, str]]]:
    """(label A, label B, items as (prompt, reference, answer A, answer B))."""
    if side_a == "base" and side_b == "base":
        raise UserError("review: both sides are 'base'; compare a run with its base model or with another run")
    if side_a == "base":
        label_b, label_a, items = load_answers(side_b, side_a, data)
        return label_a, label_b, [(p, r, b, a) for p, r, a, b in items]
    rows_a = _predictions(side_a, data, with_base=side_b == "base")
    if side_b == "base":
        answers_b = [row["baseline_prediction"] for row in rows_a]
        label_b = f"base ({_base_name(side_a)})"
    else:
        rows_b = _predictions(side_b, data, with_base=False)
        if [r["prompt"] for r in rows_a] != [r["prompt"] for r in rows_b]:
            raise UserError(f"review: {side_a} and {side_b} answered different prompts; give both the same --data")
        answers_b = [row["prediction"] for row in rows_b]
        label_b = _label(side_b)
    items = [(row["prompt"], row.get("reference"), row["prediction"], answer)
             for row, answer in zip(rows_a, answers_b, strict=True)]
    if not items:
        raise UserError("review: no prompts to review")
    return _label(side_a), label_b, items


def _predictions(side: str, data: str | None, with_base: bool) -> list[dict]:
    path = Path(side)
    if path.is_file():
        if with_base:
            raise UserError(f"review: 'base' needs a run directory on the other side, not the file {side}")
        return _read_predictions(path)
    if not is_run_dir(path):
        raise UserError(f"review: {side} is neither a predictions .jsonl file nor a honed run directory")
    existing = eval_dir(path) / PREDICTIONS_FILE
    if existing.is_file() and _matches(eval_dir(path) / EVAL_FILE, data) and (
            not with_base or _has_baseline(existing)):
        return _read_predictions(existing)
    if data is None:
        raise UserError(f"review: {side} has no predictions yet; pass --data test.jsonl to generate them")
    from honed import evaluate

    log.info("generating %s's answers with honed eval%s", side, " (and its base model's)" if with_base else "")
    evaluate(str(path), data=data, baseline="base" if with_base else None)
    return _read_predictions(existing)


def load_conversations(side_a: str, side_b: str) -> list[list[dict]] | None:
    """Each prompt as the chat messages it was sent as (system message and earlier turns included), read from the
    predictions load_answers used; None where they do not record them (files written by an older honed)."""
    side = side_b if side_a == "base" else side_a
    path = Path(side) if Path(side).is_file() else eval_dir(side) / PREDICTIONS_FILE
    conversations = [row.get("messages") for row in _read_predictions(path)]
    return conversations if all(isinstance(c, list) and c for c in conversations) else None


def _read_predictions(path: Path) -> list[dict]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as error:
            raise UserError(f"{path}:{number}: invalid JSON ({error})") from None
        if not isinstance(row, dict) or not isinstance(row.get("prompt"), str) or \
                not isinstance(row.get("prediction"), str):
            raise UserError(f"{path}:{number}: a predictions row needs text fields 'prompt' and 'prediction' "
                            "(as honed eval writes them)")
        rows.append(row)
    return rows


def _matches(eval_json: Path, data: str | None) -> bool:
    if data is None:
        return True
    try:
        recorded = json.loads(eval_json.read_text()).get("data_sha256")
    except (OSError, ValueError):
        return False
    return Path(data).is_file() and recorded == hashlib.sha256(Path(data).read_bytes()).hexdigest()


def _has_baseline(path: Path) -> bool:
    first = path.read_text(encoding="utf-8").splitlines()[:1]
    return bool(first) and "baseline_prediction" in json.loads(first[0])


def _label(side: str) -> str:
    """A run's folder name; for a predictions file, the label honed eval recorded beside it, else the file name."""
    path = Path(side)
    if path.is_file():
        try:
            return json.loads((path.parent / EVAL_FILE).read_text())["label"]
        except (OSError, ValueError, KeyError):
            return path.stem
    return path.name


def _base_name(run: str) -> str:
    return read_config(Path(run)).model


def side_labels(side_a: str, side_b: str) -> tuple[str, str]:
    """The labels load_answers gives, without generating anything."""
    def one(side: str, other: str) -> str:
        return f"base ({_base_name(other)})" if side == "base" else _label(side)

    return one(side_a, side_b), one(side_b, side_a)
