"""The metrics, in one table: each metric's name (as `eval.metrics` and `--metrics` list it), the scores it reports
(their keys in eval.json, their labels, which way is better) and its scorers. The schema validates metric names
against it, and reports, early stopping, `honed compare` and `--help` read it.

Text metrics go through the libraries that define them (sacrebleu, rouge-score), on a 0-100 scale. Empty
predictions or references score 0, never NaN: an empty answer is a bad answer, and reports must stay comparable.
This module imports those libraries only when it scores, so the config schema can read the table cheaply.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
_NO_PUNCTUATION = str.maketrans("", "", string.punctuation)


def bleu(predictions: list[str], references: list[str]) -> float:
    import sacrebleu

    if not predictions:
        return 0.0
    return _finite(sacrebleu.corpus_bleu(predictions, [references]).score)


def chrf(predictions: list[str], references: list[str]) -> float:
    import sacrebleu

    if not predictions:
        return 0.0
    return _finite(sacrebleu.corpus_chrf(predictions, [references]).score)


def sentence_bleu(prediction: str, reference: str) -> float:
    import sacrebleu

    return _finite(sacrebleu.sentence_bleu(prediction, [reference]).score)


def sentence_chrf(prediction: str, reference: str) -> float:
    import sacrebleu

    return _finite(sacrebleu.sentence_chrf(prediction, [reference]).score)


@lru_cache(maxsize=1)
def _rouge_scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)


def rouge_one(prediction: str, reference: str) -> dict[str, float]:
    """ROUGE F1 of one pair; rougeLsum splits sentences on newlines, as rouge-score expects."""
    scores = _rouge_scorer().score(_lsum_lines(reference), _lsum_lines(prediction))
    return {name: _finite(100 * scores[name].fmeasure) for name in ROUGE_TYPES}


def _lsum_lines(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if line.strip())


def rouge(predictions: list[str], references: list[str]) -> dict[str, float]:
    """Mean of per-example F1 (what rouge-score and the datasets 'rouge' metric report)."""
    if not predictions:
        return {name: 0.0 for name in ROUGE_TYPES}
    per_example = [rouge_one(p, r) for p, r in zip(predictions, references, strict=True)]
    return {name: sum(s[name] for s in per_example) / len(per_example) for name in ROUGE_TYPES}


def normalise_answer(text: str) -> str:
    """SQuAD-style normalisation: lowercase, drop punctuation and articles, squeeze whitespace."""
    text = text.lower().translate(_NO_PUNCTUATION)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match_one(prediction: str, reference: str) -> float:
    return 100.0 if normalise_answer(prediction) == normalise_answer(reference) else 0.0


def exact_match(predictions: list[str], references: list[str]) -> float:
    if not predictions:
        return 0.0
    return sum(exact_match_one(p, r) for p, r in zip(predictions, references, strict=True)) / len(predictions)


def word_count(text: str) -> int:
    return len(text.split())


def _finite(value: float) -> float:
    return float(value) if math.isfinite(value) else 0.0


def mean_words(predictions: list[str]) -> float:
    return sum(map(word_count, predictions)) / len(predictions) if predictions else 0.0


@dataclass(frozen=True)
class Score:
    """One number a metric reports, under its key in eval.json."""

    key: str
    label: str  # column header in `honed compare`'s table
    higher_is_better: bool | None  # None: neither way is better (answer length), so nothing can stop on it
    in_comparison: bool = True  # a column of `honed compare`'s table


Scorer = Callable[[list[str], list[str]], dict[str, float]]  # predictions, references -> {key: value}
ExampleScorer = Callable[[str, str], dict[str, float]]  # prediction, reference -> {key: value}


@dataclass(frozen=True)
class Metric:
    name: str
    description: str
    scores: tuple[Score, ...]
    corpus: Scorer | None  # None: scored on the model itself, not on its answers (perplexity, in evaluation/)
    example: ExampleScorer | None

    @property
    def on_answers(self) -> bool:
        """Scored on generated answers, so it can also be measured on a validation sample during training."""
        return self.corpus is not None


METRICS: tuple[Metric, ...] = (
    Metric("perplexity", "perplexity of the references, teacher-forced (lower is better)",
           (Score("perplexity", "perplexity", False),), None, None),
    Metric("bleu", "BLEU (sacrebleu)", (Score("bleu", "BLEU", True),),
           lambda p, r: {"bleu": bleu(p, r)}, lambda p, r: {"bleu": sentence_bleu(p, r)}),
    Metric("chrf", "chrF (sacrebleu)", (Score("chrf", "chrF", True),),
           lambda p, r: {"chrf": chrf(p, r)}, lambda p, r: {"chrf": sentence_chrf(p, r)}),
    Metric("rouge", "ROUGE-1/2/L/Lsum F1 with stemming (rouge-score)",
           (Score("rouge1", "ROUGE-1", True, False), Score("rouge2", "ROUGE-2", True, False),
            Score("rougeL", "ROUGE-L", True), Score("rougeLsum", "ROUGE-Lsum", True, False)), rouge, rouge_one),
    Metric("exact_match", "exact match after SQuAD-style normalisation", (Score("exact_match", "exact match", True),),
           lambda p, r: {"exact_match": exact_match(p, r)}, lambda p, r: {"exact_match": exact_match_one(p, r)}),
    Metric("length", "mean answer length in words", (Score("mean_words", "mean words", None, False),),
           lambda p, r: {"mean_words": mean_words(p)}, lambda p, r: {"words": word_count(p)}),
)
HEADLINE = "rougeL"  # the score reports sort examples by and plot against size: format and wording in one number
HEADLINE_SCORES = ("bleu", "chrf", "rougeL", "perplexity")  # the deltas a team reads first, tested together


def metric_names() -> list[str]:
    return [metric.name for metric in METRICS]


def describe_metrics() -> str:
    """One line for help texts: every metric by name, with what it measures."""
    return "; ".join(f"{metric.name}: {metric.description}" for metric in METRICS)


def all_scores() -> list[Score]:
    return [score for metric in METRICS for score in metric.scores]


def score(key: str) -> Score:
    return next(item for item in all_scores() if item.key == key)


def stopping_scores(metrics: list[str]) -> list[str]:
    """The validation metrics training can stop on, as the Trainer logs them: scores of the chosen metrics that are
    measured on answers during training and have a better direction."""
    return [f"eval_{item.key}" for metric in METRICS if metric.name in metrics and metric.on_answers
            for item in metric.scores if item.higher_is_better is not None]


def corpus_scores(predictions: list[str], references: list[str], metrics: list[str]) -> dict[str, float]:
    """The chosen metrics that score answers, over the whole set."""
    scores: dict[str, float] = {}
    for metric in METRICS:
        if metric.name in metrics and metric.corpus is not None:
            scores.update(metric.corpus(predictions, references))
    return scores


def example_scores(prediction: str, reference: str, metrics: list[str]) -> dict[str, float]:
    """The same for one answer, for predictions.jsonl and the examples a report shows."""
    scores: dict[str, float] = {}
    for metric in METRICS:
        if metric.name in metrics and metric.example is not None:
            scores.update(metric.example(prediction, reference))
    return scores
