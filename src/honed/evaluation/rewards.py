"""Reward accuracy on preference pairs: does the tuned model prefer what people preferred?

DPO's implicit reward of an answer y to a prompt x is beta * (log pi(y|x) - log pi_ref(y|x)): how much more likely
the tuned model makes the answer than the reference does. On held-out pairs, reward accuracy is the share of pairs
whose chosen answer gets the higher reward, and the margin is the mean reward difference (TRL logs both on its
training batches as rewards/accuracies and rewards/margins). The reference is the run's starting point: its --from
run, else its base model; `baseline` names another. Log-probabilities are of the answer tokens only (the
end-of-turn token included), the prompt rendered with the run's chat template as in training.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from honed import rundir
from honed.data import IGNORE_INDEX, load_rows, prompt_ids
from honed.data.encoding import encode_row
from honed.data.preference import is_tie
from honed.errors import UserError
from honed.evaluation.perplexity import sequence_losses
from honed.evaluation.subjects import Subject, load_baseline, load_subject


@dataclass
class RewardResult:
    output_dir: Path
    label: str
    reference_label: str
    beta: float
    metrics: dict[str, float]
    pairs: list[dict] = field(default_factory=list)  # per pair: its rewards and log-probabilities
    summary: dict = field(default_factory=dict)


def holds_preferences(data: str | None, target: str) -> bool:
    """Whether `data` (or the run's data.test) is preference pairs, read as the run reads data."""
    from honed.config import DataConfig
    from honed.data.readers import read_records
    from honed.data.shapes import PREFERENCE_SHAPES, detect_format

    config = rundir.read_config(target).data if rundir.is_run_dir(target) else DataConfig()
    source = data or config.test
    if not source:
        return False
    if config.format != "auto":
        return config.format in PREFERENCE_SHAPES
    try:
        return detect_format(read_records(source, config.split)[0], config.fields) in PREFERENCE_SHAPES
    except UserError:  # unreadable or of no known shape: the evaluation itself says so
        return False


def evaluate_preferences(target: str | Path, data: str | Path | None = None, baseline: str | Path | None = None,
                         output: str | Path | None = None, limit: int | None = None) -> RewardResult:
    """Reward accuracy and margin of a run on preference pairs; writes eval.json, rewards.jsonl and report.md into
    the run's eval-preferences/ (or `output`)."""
    subject = load_subject(str(target))
    if subject.run_dir is None:
        raise UserError(f"{target}: reward accuracy needs a run directory (the implicit reward compares it with its "
                        "starting point)")
    config = rundir.read_config(subject.run_dir)
    source = str(data or subject.data.test or "")
    if not source:
        raise UserError("no test data: pass --data FILE (or set data.test in the run's config)")
    rows = load_rows(source, subject.data, objective="dpo").rows
    pairs = [row for row in rows if not is_tie(row)]
    reference = load_baseline(str(baseline or config.from_run or "base"), subject)
    result = _score(subject, reference, pairs[:limit], config.training.beta_value, len(rows) - len(pairs))
    result.output_dir = Path(output) if output else subject.run_dir / rundir.PREFERENCE_EVAL_DIR
    result.summary = _write(result, source, subject)
    return result


def _score(subject: Subject, reference: Subject, pairs: list[dict], beta: float, ties: int) -> RewardResult:
    max_length = subject.data.max_length
    policy = {side: answer_logps(subject, pairs, side, max_length) for side in ("chosen", "rejected")}
    ref = {side: answer_logps(reference, pairs, side, max_length) for side in ("chosen", "rejected")}
    scored = []
    for index in range(len(pairs)):
        logps = [policy["chosen"][index], policy["rejected"][index], ref["chosen"][index], ref["rejected"][index]]
        if None in logps:
            continue
        chosen, rejected = beta * (logps[0] - logps[2]), beta * (logps[1] - logps[3])
        scored.append({"index": index, "chosen_reward": chosen, "rejected_reward": rejected,
                       "margin": chosen - rejected, "logps": dict(zip(("chosen", "rejected", "ref_chosen",
                                                                        "ref_rejected"), logps, strict=True))})
    if not scored:
        raise UserError("no pair left to score: every answer was truncated away at data.max_length")
    metrics = _metrics(scored)
    metrics.update(pairs=len(scored), truncated_pairs=len(pairs) - len(scored), ties_dropped=ties)
    return RewardResult(Path("."), subject.label, reference.label, beta, metrics, scored)


def _metrics(scored: list[dict]) -> dict[str, float]:
    count = len(scored)
    return {
        "reward_accuracy": 100.0 * sum(p["margin"] > 0 for p in scored) / count,
        "reward_margin": sum(p["margin"] for p in scored) / count,
        "chosen_reward": sum(p["chosen_reward"] for p in scored) / count,
        "rejected_reward": sum(p["rejected_reward"] for p in scored) / count,
        # without the reference: how often each model alone gives the chosen answer the higher log-probability
        "logp_accuracy": 100.0 * sum(p["logps"]["chosen"] > p["logps"]["rejected"] for p in scored) / count,
        "reference_logp_accuracy": 100.0 * sum(p["logps"]["ref_chosen"] > p["logps"]["ref_rejected"]
                                                for p in scored) / count,
    }


def answer_logps(subject: Subject, pairs: list[dict], side: str, max_length: int) -> list[float | None]:
    """log pi(answer | prompt) of each pair's `side` answer: the answer's tokens only (None when truncated away)."""
    tokenizer = subject.tokenizer
    sequences = []
    for pair in pairs:
        messages = [*pair["prompt"], *pair[side]]
        ids = encode_row(tokenizer, {"messages": messages}, "all", max_length).input_ids
        prompt_length = len(prompt_ids(tokenizer, messages))
        sequences.append((ids, ([IGNORE_INDEX] * prompt_length + ids[prompt_length:])[: len(ids)]))
    return [None if loss is None else -loss[0] for loss in sequence_losses(subject.model, sequences)]


def _write(result: RewardResult, source: str, subject: Subject) -> dict:
    from honed.evaluation.report import reward_report

    result.output_dir.mkdir(parents=True, exist_ok=True)
    path = Path(source)
    summary = {
        "model": subject.model_id, "label": result.label, "reference": result.reference_label, "beta": result.beta,
        "data": source, "data_sha256": hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None,
        "metrics": result.metrics,
    }
    (result.output_dir / rundir.EVAL_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    with (result.output_dir / rundir.REWARDS_FILE).open("w", encoding="utf-8") as out:
        for pair in result.pairs:
            out.write(json.dumps(pair) + "\n")
    (result.output_dir / rundir.REPORT_FILE).write_text(reward_report(result), encoding="utf-8")
    return summary
