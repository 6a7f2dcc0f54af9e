"""Text metrics through the libraries that define them (sacrebleu, rouge-score), on a 0-100 scale.

Empty predictions or references score 0, never NaN: an empty answer is a bad answer, and reports must stay
comparable.
"""

from __future__ import annotations

import math
import re
import string
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


def corpus_scores(predictions: list[str], references: list[str], metrics: list[str]) -> dict[str, float]:
    scores: dict[str, float] = {}
    if "bleu" in metrics:
        scores["bleu"] = bleu(predictions, references)
    if "chrf" in metrics:
        scores["chrf"] = chrf(predictions, references)
    if "rouge" in metrics:
        scores.update(rouge(predictions, references))
    if "exact_match" in metrics:
        scores["exact_match"] = exact_match(predictions, references)
    if "length" in metrics:
        scores["mean_words"] = sum(map(word_count, predictions)) / len(predictions) if predictions else 0.0
    return scores


def example_scores(prediction: str, reference: str, metrics: list[str]) -> dict[str, float]:
    scores: dict[str, float] = {}
    if "bleu" in metrics:
        scores["bleu"] = sentence_bleu(prediction, reference)
    if "chrf" in metrics:
        scores["chrf"] = sentence_chrf(prediction, reference)
    if "rouge" in metrics:
        scores.update(rouge_one(prediction, reference))
    if "exact_match" in metrics:
        scores["exact_match"] = exact_match_one(prediction, reference)
    if "length" in metrics:
        scores["words"] = word_count(prediction)
    return scores
