"""Results of a review: the statistics with the compared sides' names, and a CSV of every rating."""

from __future__ import annotations

import csv
import io

from honed.review.stats import summarise
from honed.review.store import Store


def results(store: Store) -> dict:
    meta = store.meta()
    summary = summarise(store.ratings())
    summary["labels"] = {"a": meta.get("label_a", "A"), "b": meta.get("label_b", "B")}
    summary["items"] = store.item_count()
    return summary


def csv_export(store: Store) -> str:
    meta = store.meta()
    out = io.StringIO()
    rows = store.ratings()
    columns = ["item_id", "reviewer", "choice", "winner", "a_left", "a_relevance", "a_tone", "a_accuracy",
               "b_relevance", "b_tone", "b_accuracy", "comment"]
    writer = csv.DictWriter(out, columns, extrasaction="ignore")
    writer.writeheader()
    names = {"a": meta.get("label_a"), "b": meta.get("label_b"), "tie": "tie", "both_bad": "both bad"}
    for row in rows:
        writer.writerow({**row, "winner": names[row["choice"]]})
    return out.getvalue()


def text_report(summary: dict) -> str:
    """For `honed review --results` in a terminal."""
    labels = summary["labels"]
    lines = [f"{summary['ratings']} ratings of {summary['items_rated']}/{summary['items']} items by "
             f"{len(summary['reviewers'])} reviewer(s): {', '.join(summary['reviewers']) or '-'}"]
    for side in ("a", "b"):
        win = summary["win_rate"][side]
        lines.append(f"  {labels[side]} better: {win['wins']} ({100 * win['rate']:.1f}%, 95% CI "
                     f"{100 * win['ci95'][0]:.1f}-{100 * win['ci95'][1]:.1f}%)")
    counts = summary["counts"]
    lines.append(f"  ties: {counts['tie']}, both bad: {counts['both_bad']}")
    for key, value in summary["criteria"].items():
        if value["mean"] is not None:
            side, criterion = key.split("_", 1)
            lines.append(f"  {labels[side]} {criterion}: {value['mean']:.2f} (n={value['n']})")
    agreement = summary["agreement"]
    if agreement["method"]:
        kappa = "n/a" if agreement["kappa"] is None else f"{agreement['kappa']:.3f}"
        lines.append(f"  agreement ({agreement['method']}'s kappa over {agreement['overlap']} shared items): {kappa}")
    return "\n".join(lines)
