"""Answers that are JSON records: validity, each closed field's accuracy, and the free-text fields' ROUGE-L, scored
whenever every reference answer of the test set is a JSON object. BLEU or ROUGE over a whole record says little about
whether a ticketing system would file it right; these say it field by field."""

from __future__ import annotations

from honed.metrics import rouge_one
from honed.rewards import closed_fields, parse_json_object

SUMMARY_KEYS = ("json_valid", "field_accuracy")


def is_structured_key(key: str) -> bool:
    """Scores of this module and of rewards: all higher is better."""
    return key in SUMMARY_KEYS or key.startswith(("field_", "reward_")) or key.endswith("_rougeL")


def structured_scores(predictions: list[str], references: list[str], schema: dict | None = None
                      ) -> tuple[dict[str, float], list[dict[str, float]]] | None:
    """(means, per-example scores) in percent; None unless every reference is a JSON object. A field's accuracy is
    also given on the rows whose reference has a value (`field_<name>_given`) where some references are null, so
    copying an order number is not hidden among the rows that have none."""
    expected = [parse_json_object(reference) for reference in references]
    if not references or any(value is None for value in expected):
        return None
    nullable = {name for value in expected for name, field in value.items() if field is None}
    per_example = [_one(prediction, reference, schema, nullable)
                   for prediction, reference in zip(predictions, expected, strict=True)]
    keys = dict.fromkeys(key for scores in per_example for key in scores)
    means = {key: sum(s[key] for s in per_example if key in s) / sum(key in s for s in per_example) for key in keys}
    return means, per_example


def _one(prediction: str, reference: dict, schema: dict | None, nullable: set[str]) -> dict[str, float]:
    answer = parse_json_object(prediction)
    closed = closed_fields(schema, reference)
    scores = {"json_valid": 100.0 * (answer is not None)}
    right = {name: 100.0 * (answer is not None and name in answer and answer[name] == reference.get(name))
             for name in closed}
    scores["field_accuracy"] = sum(right.values()) / len(right) if right else 0.0
    for name, value in right.items():
        scores[f"field_{name}"] = value
        if name in nullable and reference.get(name) is not None:
            scores[f"field_{name}_given"] = value
    for name, value in reference.items():
        if name not in closed and isinstance(value, str):
            said = answer.get(name) if answer else None
            scores[f"{name}_rougeL"] = rouge_one(said if isinstance(said, str) else "", value)["rougeL"]
    return scores
