"""Results of a review: the statistics with the compared sides' names, and a CSV of every rating."""

from __future__ import annotations

import csv
import io

from honed.review.stats import cohen_kappa, summarise
from honed.review.store import Store, is_judge


def results(store: Store, with_judge: bool = False) -> dict:
    """The reviewers' statistics; a judge's verdicts count in them only `with_judge`, and are summarised apart
    under "judges" either way, with each judge's agreement with each human reviewer."""
    meta = store.meta()
    every = store.ratings()
    summary = summarise([r for r in every if with_judge or not is_judge(r["reviewer"])])
    summary["labels"] = {"a": meta.get("label_a", "A"), "b": meta.get("label_b", "B")}
    summary["items"] = store.item_count()
    summary["judges"] = judge_summaries(every, store.judge_failures())
    return summary


def judge_summaries(ratings: list[dict], failures: dict[str, int]) -> dict:
    import json

    judges = sorted({r["reviewer"] for r in ratings if is_judge(r["reviewer"])} | set(failures))
    humans = sorted({r["reviewer"] for r in ratings if not is_judge(r["reviewer"])})
    by_reviewer: dict[str, dict[int, str]] = {}
    for rating in ratings:
        by_reviewer.setdefault(rating["reviewer"], {})[rating["item_id"]] = rating["choice"]
    summaries = {}
    for judge in judges:
        own = [r for r in ratings if r["reviewer"] == judge]
        agreed = sum(bool(json.loads(r["comment"] or "{}").get("agreed")) for r in own)
        verdicts = by_reviewer.get(judge, {})
        kappas = {}
        for human in humans:
            shared = sorted(set(verdicts) & set(by_reviewer[human]))
            kappas[human] = {"kappa": cohen_kappa([verdicts[i] for i in shared],
                                                  [by_reviewer[human][i] for i in shared]), "overlap": len(shared)}
        win = summarise(own)
        summaries[judge] = {"verdicts": len(own), "malformed": failures.get(judge, 0), "orders_agreed": agreed,
                            "counts": win["counts"], "win_rate": win["win_rate"], "agreement_with": kappas}
    return summaries


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
    for judge, facts in summary.get("judges", {}).items():
        wins = facts["win_rate"]
        lines.append(f"{judge} (not in the figures above): {facts['verdicts']} verdicts, {labels['a']} "
                     f"{wins['a']['wins']}, {labels['b']} {wins['b']['wins']}, ties {facts['counts']['tie']}, both "
                     f"bad {facts['counts']['both_bad']}; both orders agreed on {facts['orders_agreed']}; malformed "
                     f"{facts['malformed']}")
        for human, agreement in facts["agreement_with"].items():
            kappa = "n/a" if agreement["kappa"] is None else f"{agreement['kappa']:.3f}"
            lines.append(f"  agreement with {human} (Cohen's kappa over {agreement['overlap']} items): {kappa}")
    return "\n".join(lines)
