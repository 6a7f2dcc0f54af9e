"""Evaluation (`honed.evaluate`): generate answers to held-out prompts, score them, and compare with a baseline."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from honed import rundir
from honed.config import EvalConfig
from honed.data import load_rows, prompt_ids, split_prompt_reference
from honed.errors import UserError
from honed.evaluation.perplexity import perplexity, reference_losses
from honed.evaluation.subjects import Subject, is_base_of, load_baseline, safe_name
from honed.generation import Engine
from honed.metrics import corpus_scores, example_scores

log = logging.getLogger("honed")


@dataclass
class Scored:
    label: str
    metrics: dict[str, float]
    predictions: list[str]
    per_example: list[dict[str, float]]
    perplexity_excluded: int = 0  # rows with no reference token left to score, so without a perplexity
    generation: str = ""  # how the answers were generated (the engine's path: decoder, dtypes)
    losses: list = field(default_factory=list)  # each row's (summed nll, tokens), None without a token; [] unmeasured

    def side(self):
        from honed.evaluation.significance import Side

        return Side(self.predictions, self.per_example, self.losses)


@dataclass
class EvalResult:
    output_dir: Path
    target: Scored
    baseline: Scored | None
    prompts: list[str]
    references: list[str]
    summary: dict = field(default_factory=dict)
    conversations: list[list[dict]] = field(default_factory=list)  # each prompt as the chat messages it was
    intervals: dict = field(default_factory=dict)  # score key -> significance.Interval of target minus baseline
    resamples: int = 0
    drift: object = None  # drift.Drift: how far the target moved on general prompts, when measured


def evaluate_subject(
    subject: Subject,
    data: str | Path | None = None,
    baseline: Subject | None = None,
    settings: EvalConfig | None = None,
    output: str | Path | None = None,
) -> EvalResult:
    """Score a model already loaded (`honed.evaluate` loads it from a reference; honed compare scores the base
    model it loaded itself) and write eval.json, predictions.jsonl and report.md."""
    settings = _with_the_runs_rewards(settings or EvalConfig(), subject)
    source = str(data or subject.data.test or "")
    if not source:
        raise UserError("no test data: pass --data FILE (or set data.test in the run's config)")
    rows = _test_rows(source, subject, settings.limit)
    drift = _drift_mode(subject, baseline, settings)  # bad drift settings are refused before any answer is generated
    rewards = build_rewards(settings)  # and so are rewards that cannot be built (a schema, an import)
    scored = [score(subject, rows, settings, rewards)]
    if baseline is not None:
        scored.append(score(baseline, rows, settings, rewards))
    out = Path(output) if output else _default_output(subject)
    conversations = [split_prompt_reference(row) for row in rows]
    result = EvalResult(
        out, scored[0], scored[1] if baseline is not None else None,
        [conv[-2]["content"] if len(conv) > 1 else "" for conv, _ in conversations],
        [reference for _, reference in conversations],
        conversations=[conv[:-1] for conv, _ in conversations],
    )
    if result.baseline is not None:
        result.intervals = _intervals(result, settings.bootstrap)
        result.resamples = settings.bootstrap
    if drift != "off":
        result.drift = _drift(subject, baseline, settings, full=drift == "full")
    result.summary = _write(result, source, subject, settings)
    return result


def _intervals(result: EvalResult, samples: int) -> dict:
    from honed.evaluation.significance import paired_intervals

    keys = [key for key in result.target.metrics if key in result.baseline.metrics]
    return paired_intervals(result.target.side(), result.baseline.side(), result.references, keys, samples)


def _drift_mode(subject: Subject, baseline: Subject | None, settings: EvalConfig) -> str:
    """'auto' measures a sample when the baseline is the run's own base model, and nothing otherwise."""
    from honed.evaluation.drift import load_general

    against_base = baseline is not None and is_base_of(baseline, subject)
    mode = ("sample" if against_base else "off") if settings.drift == "auto" else settings.drift
    if mode != "off" and subject.run_dir is None:
        raise UserError("drift compares a run with its base model: evaluate a run directory, or set drift off")
    if mode == "off" and settings.general:
        raise UserError("--general: used only when drift is measured (--drift sample|full, or --baseline base)")
    if mode != "off":
        load_general(settings.general)
    return mode


def _drift(subject: Subject, baseline: Subject | None, settings: EvalConfig, full: bool):
    """Against the run's own base model: the baseline when it is that, else loaded for it."""
    from honed.evaluation.drift import measure_drift

    base = baseline if baseline is not None and is_base_of(baseline, subject) else load_baseline("base", subject)
    return measure_drift(subject, base, settings, full=full, general=settings.general)


def _test_rows(data: str, subject: Subject, limit: int | None) -> list[dict]:
    from honed.data.shapes import PREFERENCE_SHAPES

    # A run tuned on preference pairs answers chat prompts: its test rows are any chat shape.
    trained_on = None if subject.shape in PREFERENCE_SHAPES else subject.shape
    rows = load_rows(data, subject.data, expected_shape=trained_on)
    if rows.shape in PREFERENCE_SHAPES:
        raise UserError(f"{data}: rows are {rows.shape} rows, which score rewards, not answers: `honed eval` "
                        "reports reward accuracy on them (from Python: honed.evaluate_preferences)")
    if rows.shape == "text":
        raise UserError(
            f"{data}: rows have only 'text', so there is no reference answer to compare with; "
            "evaluation needs prompt/completion, alpaca or messages rows"
        )
    return rows.rows[:limit] if limit else rows.rows


def _with_the_runs_rewards(settings: EvalConfig, subject: Subject) -> EvalConfig:
    """A run is judged by the rewards its config names (eval.rewards) unless the caller names its own."""
    if "rewards" in settings.model_fields_set or subject.run_dir is None:
        return settings
    from honed.rundir import read_config

    return settings.model_copy(update={"rewards": read_config(subject.run_dir).eval.rewards})


def build_rewards(settings: EvalConfig) -> Rewards:
    from honed.rewards import build_reward, load_schema

    schema = next((load_schema(spec.schema_file) for spec in settings.rewards if spec.schema_file), None)
    return Rewards([build_reward(spec.name, spec.weight, **spec.options()) for spec in settings.rewards], schema)


@dataclass
class Rewards:
    """The rewards eval.rewards names, built; and the schema whose closed fields structured answers are scored on."""

    rewards: list = field(default_factory=list)
    schema: dict | None = None

    def add(self, prompts: list[str], predictions: list[str], rows: list[dict], references: list[str],
            metrics: dict[str, float], per_example: list[dict[str, float]]) -> None:
        """Each reward's mean (and per-example value), and JSON validity and field accuracy for JSON references."""
        from honed.evaluation.structured import structured_scores
        from honed.rewards import total

        if self.rewards:
            reward_rows = [{**row, "reference": reference} for row, reference in zip(rows, references, strict=True)]
            _, each = total(self.rewards, prompts, predictions, reward_rows)
            for label, values in each.items():
                metrics[f"reward_{label}"] = sum(values) / len(values) if values else 0.0
                for scores, value in zip(per_example, values, strict=True):
                    scores[f"reward_{label}"] = value
        structured = structured_scores(predictions, references, self.schema)
        if structured is not None:
            metrics.update(structured[0])
            for scores, extra in zip(per_example, structured[1], strict=True):
                scores.update(extra)


def score(subject: Subject, rows: list[dict], settings: EvalConfig, rewards: Rewards | None = None) -> Scored:
    from tqdm.auto import tqdm

    tokenizer = subject.tokenizer
    conversations = [split_prompt_reference(row) for row in rows]
    prompts = [prompt_ids(tokenizer, messages) for messages, _ in conversations]
    references = [reference for _, reference in conversations]
    engine = Engine(subject.model, tokenizer, max_batch=settings.generation.batch_size)
    log.info("%s answers through the %s", subject.label, engine.path)
    with tqdm(total=len(prompts), desc=f"generate {subject.label}", unit="ex", dynamic_ncols=True) as bar:
        predictions = engine.generate(prompts, settings.generation, bar)
    metrics = corpus_scores(predictions, references, settings.metrics)
    per_example = [example_scores(p, r, settings.metrics) for p, r in zip(predictions, references, strict=True)]
    last_turns = [messages[-2]["content"] if len(messages) > 1 else "" for messages, _ in conversations]
    (rewards or Rewards()).add(last_turns, predictions, rows, references, metrics, per_example)
    excluded, losses = 0, []
    if "perplexity" in settings.metrics:
        losses = reference_losses(subject.model, tokenizer, rows, subject.data.train_on, subject.data.max_length,
                                  engine)
        excluded = losses.count(None)
        _put_perplexity(metrics, losses)
        for scores, loss in zip(per_example, losses, strict=True):
            _put_perplexity(scores, [loss])
    return Scored(subject.label, metrics, predictions, per_example, excluded, engine.path, losses)


def _put_perplexity(scores: dict[str, float], losses: list) -> None:
    """Only where there is one: a row (or a test set) without a reference token has none, not 0."""
    value = perplexity(losses)
    if value is not None:
        scores["perplexity"] = value


def _default_output(subject: Subject) -> Path:
    if subject.run_dir is not None:
        return rundir.eval_dir(subject.run_dir)
    return Path("runs") / f"eval-{safe_name(subject.model_id)}"


def _write(result: EvalResult, data: str, subject: Subject, settings: EvalConfig) -> dict:
    from honed.evaluation.report import markdown_report

    result.output_dir.mkdir(parents=True, exist_ok=True)
    summary = {
        "model": subject.model_id,
        "label": result.target.label,
        "data": str(data),
        "data_sha256": _sha256(data),
        "rows": len(result.references),
        "settings": settings.model_dump(mode="json"),
        "metrics": result.target.metrics,
        "perplexity_excluded_rows": result.target.perplexity_excluded,
        "generation": result.target.generation,
    }
    if result.baseline:
        summary["baseline"] = {"label": result.baseline.label, "metrics": result.baseline.metrics,
                               "perplexity_excluded_rows": result.baseline.perplexity_excluded,
                               "generation": result.baseline.generation}
        summary["delta"] = {k: value - result.baseline.metrics[k] for k, value in result.target.metrics.items()
                            if k in result.baseline.metrics}
        if result.intervals:
            from honed.evaluation.significance import LEVEL, SEED

            summary["intervals"] = {key: interval.as_dict() for key, interval in result.intervals.items()}
            summary["bootstrap"] = {"resamples": result.resamples, "seed": SEED, "level": LEVEL,
                                    "prompts": len(result.references), "paired": True}
    if result.drift is not None:
        summary["drift"] = result.drift.as_dict()
    (result.output_dir / rundir.EVAL_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    with (result.output_dir / rundir.PREDICTIONS_FILE).open("w", encoding="utf-8") as out:
        for row in _prediction_rows(result):
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    (result.output_dir / rundir.REPORT_FILE).write_text(markdown_report(result), encoding="utf-8")
    return summary


def _prediction_rows(result: EvalResult):
    for index, (prompt, reference) in enumerate(zip(result.prompts, result.references, strict=True)):
        row = {
            "index": index,
            "prompt": prompt,
            "reference": reference,
            "prediction": result.target.predictions[index],
            "scores": result.target.per_example[index],
        }
        if result.target.losses:  # corpus perplexity is resampled from these, not from each row's perplexity
            row["loss"] = _loss(result.target.losses[index])
        if result.conversations:  # the prompt with its system message and earlier turns (review exports need it)
            row["messages"] = result.conversations[index]
        if result.baseline:
            row["baseline_prediction"] = result.baseline.predictions[index]
            row["baseline_scores"] = result.baseline.per_example[index]
            if result.baseline.losses:
                row["baseline_loss"] = _loss(result.baseline.losses[index])
        yield row


def _loss(loss) -> dict | None:
    return None if loss is None else {"nll": loss[0], "tokens": loss[1]}


def _sha256(data: str) -> str | None:
    path = Path(data)
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
