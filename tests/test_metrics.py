"""honed's metrics are the reference libraries' values, and never NaN."""

from __future__ import annotations

import math

import pytest
import sacrebleu
from rouge_score import rouge_scorer

from honed.metrics import corpus_scores, example_scores, exact_match, normalise_answer, rouge

CASES = {
    "plain": (["the cat sat on the mat", "hello world"], ["the cat is on the mat", "hello there world"]),
    "unicode": (["Grüße aus Köln 🙂, naïve café", "日本語のテキスト"], ["Grüße aus Köln, naive café", "日本語のテキストです"]),
    "empty prediction": (["", "some words here"], ["a reference", "some words here"]),
    "very long": ([" ".join(["token"] * 3000 + ["end"])], [" ".join(["token"] * 2990 + ["finish"])]),
}


@pytest.mark.parametrize("case", CASES)
def test_bleu_and_chrf_equal_sacrebleu(case):
    predictions, references = CASES[case]
    scores = corpus_scores(predictions, references, ["bleu", "chrf"])
    assert scores["bleu"] == pytest.approx(sacrebleu.corpus_bleu(predictions, [references]).score)
    assert scores["chrf"] == pytest.approx(sacrebleu.corpus_chrf(predictions, [references]).score)


@pytest.mark.parametrize("case", CASES)
def test_rouge_equals_rouge_score_with_stemming(case):
    predictions, references = CASES[case]
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    direct = [scorer.score(r, p) for p, r in zip(predictions, references)]
    ours = rouge(predictions, references)
    for name in ("rouge1", "rouge2", "rougeL"):
        expected = 100 * sum(d[name].fmeasure for d in direct) / len(direct)
        assert ours[name] == pytest.approx(expected)


def test_rouge_lsum_splits_on_newlines():
    scorer = rouge_scorer.RougeScorer(["rougeLsum"], use_stemmer=True)
    prediction, reference = "first line here\nsecond line", "first line\nsecond line there"
    assert rouge([prediction], [reference])["rougeLsum"] == pytest.approx(
        100 * scorer.score(reference, prediction)["rougeLsum"].fmeasure
    )


def test_exact_match_normalises_case_punctuation_and_articles():
    assert normalise_answer("The  Answer, is: A cat!") == "answer is cat"
    assert exact_match(["The cat."], ["cat"]) == 100.0
    assert exact_match(["a dog"], ["cat"]) == 0.0


@pytest.mark.parametrize("predictions, references", [([], []), ([""], [""]), (["", ""], ["x", "y"])])
def test_empty_inputs_score_zero_never_nan(predictions, references):
    scores = corpus_scores(predictions, references, ["bleu", "chrf", "rouge", "exact_match", "length"])
    assert all(math.isfinite(v) for v in scores.values())
    assert scores["bleu"] == 0.0 and scores["rougeL"] == 0.0
    for p, r in zip(predictions, references):
        assert all(math.isfinite(v) for v in example_scores(p, r, ["bleu", "chrf", "rouge", "exact_match"]).values())


def test_the_metrics_table_is_what_config_help_reports_and_early_stopping_read(capsys):
    """One table: its names are what the schema accepts and --help lists; its directions decide deltas, the best
    column of `honed compare` and early stopping; a score with no better direction is no stopping criterion."""
    from honed.cli.main import build_parser
    from honed.compare.table import columns
    from honed.config import EvalConfig, validate
    from honed.errors import UserError
    from honed.metrics import METRICS, all_scores, metric_names
    from honed.training.callbacks import EarlyStopping

    assert EvalConfig().metrics == metric_names() == [metric.name for metric in METRICS]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["eval", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert all(name in help_text for name in metric_names())
    better = {column.header: column.better for column in columns([])}
    for score in all_scores():
        if score.in_comparison:
            assert better[score.label] == {True: "high", False: "low", None: None}[score.higher_is_better]
    assert EarlyStopping("eval_perplexity", 1).lower_is_better and not EarlyStopping("eval_rougeL", 1).lower_is_better
    stopping = {"training": {"eval_steps": 5, "early_stopping_metric": "eval_mean_words"},
                "data": {"val_fraction": 0.1}, "eval": {"during_training": True}}
    with pytest.raises(UserError, match="eval_mean_words"):
        validate(stopping)  # answer length has no better direction: stopping on it would stop at random
    validate({**stopping, "training": {"eval_steps": 5, "early_stopping_metric": "eval_chrf"}})
