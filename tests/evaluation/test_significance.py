"""Paired bootstrap intervals: BLEU's are sacrebleu's own paired bootstrap; the others resample the same prompts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from honed.evaluation.perplexity import perplexity
from honed.evaluation.significance import SEED, Side, paired_intervals, resample_indices, resampler

REFERENCES = [f"Order {i} ships in {i % 4 + 2} days from the north warehouse." for i in range(40)]
GOOD = [f"Order {i} ships in {i % 4 + 2} days from our warehouse." for i in range(40)]
POOR = [f"Your order {i} is on its way soon." for i in range(40)]


def _side(predictions, losses=None) -> Side:
    from honed.metrics import example_scores

    per_example = [example_scores(p, r, ["rouge", "exact_match"]) for p, r in zip(predictions, REFERENCES)]
    return Side(predictions, per_example, losses or [])


def test_bleu_intervals_are_sacrebleus_own_paired_bootstrap():
    """The same resamples, per-system scores and p-value as `sacrebleu --paired-bs` on the same data and seed."""
    from sacrebleu.metrics import BLEU
    from sacrebleu.significance import PairedTest, estimate_ci

    mixed = [good if i % 3 else poor for i, (good, poor) in enumerate(zip(GOOD, POOR))]
    _, results = PairedTest([("base", POOR), ("tuned", mixed)], {"BLEU": BLEU()}, [REFERENCES], test_type="bs",
                            n_samples=1000)()
    theirs = results["BLEU"][1]
    indices = resample_indices(len(REFERENCES), 1000, SEED)
    whole, samples = resampler("bleu", REFERENCES)(_side(mixed))(indices)
    mean, ci = estimate_ci(samples)
    assert whole == pytest.approx(theirs.score) and mean == pytest.approx(theirs.mean) and ci == pytest.approx(theirs.ci)
    interval = paired_intervals(_side(mixed), _side(POOR), REFERENCES, ["bleu"], 1000)["bleu"]
    assert interval.p_value == pytest.approx(theirs.p_value)
    assert interval.verdict(True) == "better" and interval.low > 0


def test_a_model_against_itself_differs_by_exactly_zero_and_is_not_marked():
    same = paired_intervals(_side(GOOD), _side(GOOD), REFERENCES, ["bleu", "chrf", "rougeL", "exact_match"], 200)
    for interval in same.values():
        assert (interval.delta, interval.low, interval.high) == (0.0, 0.0, 0.0)
        assert interval.verdict(True) == "same"


def test_a_clear_gain_is_marked_and_a_coin_flip_is_not():
    clear = paired_intervals(_side(GOOD), _side(POOR), REFERENCES, ["rougeL", "chrf"], 1000)
    assert all(interval.verdict(True) == "better" for interval in clear.values())
    assert clear["rougeL"].verdict(False) == "worse"  # read the other way round, as perplexity is
    one_apart = [GOOD[0]] + POOR[1:]  # one prompt of forty answered better
    noise = paired_intervals(_side(one_apart), _side(POOR), REFERENCES, ["rougeL"], 1000)["rougeL"]
    assert noise.delta > 0 and noise.low <= 0 < noise.high and noise.verdict(True) == "same"


def test_perplexity_is_resampled_as_a_corpus_perplexity():
    """exp(summed nll / summed tokens) over each resample's rows, rows without a token adding nothing."""
    rng = np.random.default_rng(0)
    losses = [(float(rng.uniform(5, 30)), int(rng.integers(5, 15))) for _ in REFERENCES]
    losses[3] = None
    whole, samples = resampler("perplexity", REFERENCES)(_side(GOOD, losses))(resample_indices(40, 5, SEED))
    assert whole == pytest.approx(perplexity(losses))
    first = resample_indices(40, 5, SEED)[0]
    assert samples[0] == pytest.approx(perplexity([losses[i] for i in first]))
    better = [(nll * 0.8, n) for nll, n in (loss or (0.0, 0) for loss in losses)]
    interval = paired_intervals(_side(GOOD, [b if b[1] else None for b in better]), _side(GOOD, losses), REFERENCES,
                                ["perplexity"], 500)["perplexity"]
    assert interval.delta < 0 and interval.verdict(False) == "better" and math.isfinite(interval.p_value)
