"""Review statistics against values computed by hand (and Fleiss' worked example)."""

from __future__ import annotations

import pytest

from honed.review.stats import cohen_kappa, fleiss_kappa, summarise, wilson


def test_wilson_interval_by_hand():
    low, high = wilson(8, 10)  # p = 0.8: centre 0.71676, half-width 0.22657
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    assert wilson(0, 10)[0] == 0.0 and wilson(0, 10)[1] == pytest.approx(0.2775, abs=1e-4)
    assert wilson(0, 0) == (0.0, 1.0)


def test_cohen_kappa_by_hand():
    # observed agreement 4/5; chance (3*2 + 2*3)/25 = 0.48; kappa = 0.32 / 0.52
    assert cohen_kappa(list("aabba"), list("abbba")) == pytest.approx(0.32 / 0.52)
    assert cohen_kappa(list("ab"), list("ab")) == 1.0
    assert cohen_kappa([], []) is None


def test_fleiss_kappa_on_the_textbook_example():
    # Fleiss (1971) as worked on Wikipedia: 10 subjects, 14 raters, 5 categories -> kappa 0.210
    table = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
             [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    assert fleiss_kappa(table) == pytest.approx(0.210, abs=1e-3)
    assert fleiss_kappa([[1, 1], [3, 0]]) is None  # unequal raters per item


def test_summary_counts_rates_criteria_agreement_and_disagreements():
    ratings = [
        {"item_id": 1, "reviewer": "ann", "choice": "a", "a_tone": 5, "b_tone": 2},
        {"item_id": 1, "reviewer": "bob", "choice": "a", "a_tone": 4},
        {"item_id": 2, "reviewer": "ann", "choice": "b"},
        {"item_id": 2, "reviewer": "bob", "choice": "tie"},
        {"item_id": 3, "reviewer": "ann", "choice": "both_bad"},
    ]
    summary = summarise(ratings)
    assert summary["counts"] == {"a": 2, "b": 1, "tie": 1, "both_bad": 1}
    assert summary["win_rate"]["a"]["rate"] == pytest.approx(0.4)
    assert summary["win_rate"]["a"]["of_decisive"] == pytest.approx(2 / 3)
    assert summary["criteria"]["a_tone"] == {"mean": 4.5, "n": 2}
    assert summary["criteria"]["b_tone"] == {"mean": 2.0, "n": 1}
    agreement = summary["agreement"]
    # shared items 1 and 2: ann [a, b], bob [a, tie]; observed 1/2, chance (1*1)/4 -> kappa 1/3
    assert agreement["method"] == "cohen" and agreement["overlap"] == 2
    assert agreement["kappa"] == pytest.approx((0.5 - 0.25) / 0.75)
    assert [d["item_id"] for d in summary["disagreements"]] == [2]
    three = ratings + [{"item_id": i, "reviewer": "cy", "choice": "a"} for i in (1, 2)]
    assert summarise(three)["agreement"]["method"] == "fleiss"
