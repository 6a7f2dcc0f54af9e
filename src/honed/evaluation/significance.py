"""Paired bootstrap intervals on the difference between two systems answering the same prompts.

Resampling the prompts with replacement, both systems' scores are recomputed on each resample from per-prompt
statistics, so that a corpus metric stays a corpus metric: BLEU and chrF from sacrebleu's own sufficient statistics
(the paired bootstrap sacrebleu runs for `--paired-bs`, with its default seed), ROUGE and exact match as means of the
per-prompt scores, perplexity as exp(summed negative log-likelihood / summed tokens). A delta counts as better or worse
only where its 95% interval excludes zero.

sacrebleu's PairedTest reports each system's score interval and a p-value, not the interval of the difference; the
difference needs its per-resample scores, hence its statistics and scoring functions are called here (their names are
private: tests/evaluation/test_significance.py checks the results against PairedTest's on the same data and seed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

SEED = 12345  # sacrebleu's default SACREBLEU_SEED: BLEU's and chrF's resamples are the ones `sacrebleu --paired-bs` draws
LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    delta: float  # target minus baseline, on all prompts
    low: float  # 2.5th percentile of the resampled differences
    high: float  # 97.5th
    p_value: float  # sacrebleu's paired bootstrap p-value for "no difference"

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def verdict(self, higher_is_better: bool | None) -> str:
        """'better', 'worse', or 'same' (no significant difference, or a score with no better direction)."""
        if higher_is_better is None or not self.excludes_zero():
            return "same"
        return "better" if (self.low > 0) == higher_is_better else "worse"

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Side:
    """What one system's scores on the prompts are recomputed from."""

    predictions: list[str]
    per_example: list[dict[str, float]]
    losses: list[tuple[float, int] | None]  # each prompt's (summed nll, tokens) for perplexity; None: no token


def resample_indices(prompts: int, samples: int, seed: int = SEED) -> np.ndarray:
    """The same draws sacrebleu makes: one row of prompt indices per resample."""
    return np.random.default_rng(seed).choice(prompts, size=(samples, prompts), replace=True)


def paired_intervals(target: Side, baseline: Side, references: list[str], keys: list[str], samples: int,
                     seed: int = SEED) -> dict[str, Interval]:
    """An interval for each score key both systems have, over the same resamples of the prompts."""
    if samples <= 0 or len(references) < 2:
        return {}
    indices = resample_indices(len(references), samples, seed)
    intervals = {}
    for key in keys:
        scorer_of = resampler(key, references)
        both = [scorer_of(side) for side in (target, baseline)]
        if None in both:
            continue
        (target_all, target_samples), (base_all, base_samples) = (scorer(indices) for scorer in both)
        intervals[key] = interval(target_all - base_all, target_samples - base_samples)
    return intervals


def score_interval(side: Side, references: list[str], key: str, samples: int, seed: int = SEED
                   ) -> tuple[float, float] | None:
    """The 95% interval of one system's own score over resamples of the prompts (a plot's error bar)."""
    scorer = resampler(key, references)(side)
    if scorer is None or samples <= 0 or len(references) < 2:
        return None
    _, resampled = scorer(resample_indices(len(references), samples, seed))
    low, high = np.percentile(resampled, [100 * (1 - LEVEL) / 2, 100 * (1 + LEVEL) / 2])
    return float(low), float(high)


def read_side(predictions_file) -> tuple[Side, list[str]]:
    """A system's answers, per-prompt scores and losses as `honed eval` wrote them, and the references."""
    import json
    from pathlib import Path

    rows = [json.loads(line) for line in Path(predictions_file).read_text(encoding="utf-8").splitlines() if line]
    losses = [(row["loss"]["nll"], row["loss"]["tokens"]) if row.get("loss") else None for row in rows]
    side = Side([row["prediction"] for row in rows], [row["scores"] for row in rows],
                losses if any("loss" in row for row in rows) else [])
    return side, [row["reference"] for row in rows]


def interval(delta: float, differences: np.ndarray) -> Interval:
    low, high = np.percentile(differences, [100 * (1 - LEVEL) / 2, 100 * (1 + LEVEL) / 2])
    return Interval(float(delta), float(low), float(high), p_value(differences, delta))


def p_value(differences: np.ndarray, delta: float) -> float:
    """sacrebleu's: how often a resample's |difference|, centred, exceeds the observed one (+1 smoothed)."""
    spread = np.abs(differences)
    centred = spread - spread.mean()
    return float((np.sum(centred > abs(delta)) + 1) / (len(differences) + 1))


Scorer = Callable[[np.ndarray], tuple[float, np.ndarray]]  # resample indices -> (score on all, score per resample)


def resampler(key: str, references: list[str]) -> Callable[[Side], Scorer | None]:
    if key in ("bleu", "chrf"):
        return lambda side: _sacrebleu_scorer(key, side.predictions, references)
    if key == "perplexity":
        return _perplexity_scorer
    if key == "mean_words":  # the mean of each answer's length, which per_example keeps as "words"
        return lambda side: _mean_scorer("words", side.per_example)
    return lambda side: _mean_scorer(key, side.per_example)


def _sacrebleu_scorer(key: str, predictions: list[str], references: list[str]) -> Scorer:
    from sacrebleu.metrics import BLEU, CHRF

    metric = BLEU() if key == "bleu" else CHRF()  # the settings sacrebleu.corpus_bleu / corpus_chrf score with
    raw = metric._extract_corpus_statistics(predictions, [references])
    stats = np.array(raw, dtype="float32")  # as sacrebleu resamples them

    def score(indices: np.ndarray) -> tuple[float, np.ndarray]:
        whole = metric._aggregate_and_compute(raw).score
        return whole, np.array([metric._compute_score_from_stats(stats[row].sum(0)).score for row in indices])

    return score


def _mean_scorer(key: str, per_example: list[dict[str, float]]) -> Scorer | None:
    if not per_example or any(key not in scores for scores in per_example):
        return None
    values = np.array([scores[key] for scores in per_example], dtype="float64")
    return lambda indices: (float(values.mean()), values[indices].mean(axis=1))


def _perplexity_scorer(side: Side) -> Scorer | None:
    """Rows without a scored token add nothing to either sum, as in the perplexity eval reports."""
    if not side.losses or all(loss is None for loss in side.losses):
        return None
    nll = np.array([loss[0] if loss else 0.0 for loss in side.losses])
    tokens = np.array([loss[1] if loss else 0 for loss in side.losses], dtype="float64")

    def corpus(total: np.ndarray, count: np.ndarray) -> np.ndarray:
        return np.exp(np.minimum(total / np.maximum(count, 1), 50.0))  # capped as perplexity() caps it

    def score(indices: np.ndarray) -> tuple[float, np.ndarray]:
        whole = float(corpus(nll.sum(), tokens.sum()))
        return whole, corpus(nll[indices].sum(axis=1), tokens[indices].sum(axis=1))

    return score
