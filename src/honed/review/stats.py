"""The statistics of a blind pairwise review: win rates with Wilson intervals, agreement between reviewers."""

from __future__ import annotations

import math
from collections import Counter

CHOICES = ("a", "b", "tie", "both_bad")  # what a rating means once the left/right shuffle is undone


def wilson(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion: sound at small counts and at 0% or 100%, unlike p ± 1.96·se."""
    if trials == 0:
        return (0.0, 1.0)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def cohen_kappa(first: list[str], second: list[str]) -> float | None:
    """Agreement of two raters on the same items, corrected for the agreement their label rates give by chance."""
    n = len(first)
    if n == 0 or n != len(second):
        return None
    observed = sum(a == b for a, b in zip(first, second, strict=True)) / n
    counts_a, counts_b = Counter(first), Counter(second)
    expected = sum(counts_a[label] * counts_b[label] for label in set(first) | set(second)) / (n * n)
    if expected == 1:
        return 1.0 if observed == 1 else 0.0
    return (observed - expected) / (1 - expected)


def fleiss_kappa(table: list[list[int]]) -> float | None:
    """Agreement of several raters: `table[item][category]` counts, the same number of raters for every item."""
    if not table:
        return None
    raters = sum(table[0])
    if raters < 2 or any(sum(row) != raters for row in table):
        return None
    items = len(table)
    categories = len(table[0])
    p_j = [sum(row[j] for row in table) / (items * raters) for j in range(categories)]
    p_i = [(sum(c * c for c in row) - raters) / (raters * (raters - 1)) for row in table]
    p_bar = sum(p_i) / items
    p_e = sum(p * p for p in p_j)
    if p_e == 1:
        return 1.0 if p_bar == 1 else 0.0
    return (p_bar - p_e) / (1 - p_e)


def summarise(ratings: list[dict]) -> dict:
    """`ratings`: dicts with item_id, reviewer, choice (a/b/tie/both_bad) and optional a_/b_ criterion scores."""
    counts = Counter(r["choice"] for r in ratings)
    total = len(ratings)
    decisive = counts["a"] + counts["b"]
    summary = {
        "ratings": total,
        "reviewers": sorted({r["reviewer"] for r in ratings}),
        "items_rated": len({r["item_id"] for r in ratings}),
        "counts": {choice: counts[choice] for choice in CHOICES},
        "win_rate": {},
        "criteria": _criteria(ratings),
        "agreement": _agreement(ratings),
        "disagreements": _disagreements(ratings),
    }
    for side in ("a", "b"):
        low, high = wilson(counts[side], total)
        summary["win_rate"][side] = {"wins": counts[side], "rate": counts[side] / total if total else 0.0,
                                     "ci95": [low, high],
                                     "of_decisive": counts[side] / decisive if decisive else None}
    return summary


def _criteria(ratings: list[dict]) -> dict:
    means = {}
    for side in ("a", "b"):
        for criterion in ("relevance", "tone", "accuracy"):
            values = [r[f"{side}_{criterion}"] for r in ratings if r.get(f"{side}_{criterion}") is not None]
            means[f"{side}_{criterion}"] = {"mean": sum(values) / len(values) if values else None, "n": len(values)}
    return means


def _by_item(ratings: list[dict]) -> dict[int, dict[str, str]]:
    items: dict[int, dict[str, str]] = {}
    for r in ratings:
        items.setdefault(r["item_id"], {})[r["reviewer"]] = r["choice"]
    return items


def _agreement(ratings: list[dict]) -> dict:
    reviewers = sorted({r["reviewer"] for r in ratings})
    items = _by_item(ratings)
    if len(reviewers) < 2:
        return {"method": None, "kappa": None, "overlap": 0}
    if len(reviewers) == 2:
        shared = [item for item in items.values() if len(item) == 2]
        kappa = cohen_kappa([i[reviewers[0]] for i in shared], [i[reviewers[1]] for i in shared])
        return {"method": "cohen", "kappa": kappa, "overlap": len(shared)}
    complete = [item for item in items.values() if len(item) == len(reviewers)]
    table = [[list(item.values()).count(choice) for choice in CHOICES] for item in complete]
    return {"method": "fleiss", "kappa": fleiss_kappa(table), "overlap": len(complete)}


def _disagreements(ratings: list[dict], top: int = 5) -> list[dict]:
    """Items whose reviewers split the most: the share of ratings that differ from the item's most common choice."""
    scored = []
    for item_id, choices in _by_item(ratings).items():
        if len(choices) < 2:
            continue
        counts = Counter(choices.values())
        split = 1 - counts.most_common(1)[0][1] / len(choices)
        if split > 0:
            scored.append({"item_id": item_id, "split": split, "choices": dict(counts)})
    return sorted(scored, key=lambda s: (-s["split"], s["item_id"]))[:top]
