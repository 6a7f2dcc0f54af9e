"""Each technique's paired intervals against the base model and against the best technique, from the answers its
evaluation kept, plus each one's own interval for the quality plot's error bars. Computed when the reports are
written: they depend on which contestants are in the table."""

from __future__ import annotations

from pathlib import Path

from honed.compare.results import ContestantResult
from honed.evaluation.significance import paired_intervals, read_side, score_interval
from honed.metrics import HEADLINE, HEADLINE_SCORES
from honed.rundir import PREDICTIONS_FILE


def with_intervals(results: list[ContestantResult], samples: int) -> list[ContestantResult]:
    sides = {r.label: _side(r) for r in results}
    base = next((r for r in results if r.ok and r.method is None and sides[r.label]), None)
    best = best_technique(results)
    updated = []
    for result in results:
        side = sides[result.label]
        if side is None or samples <= 0:
            updated.append(result)
            continue
        fields = {"own_interval": score_interval(*side, HEADLINE, samples)}
        if result.method is not None and base is not None:
            fields["vs_base"] = _against(side, sides[base.label], samples)
        if result.method is not None and best is not None and best.label != result.label:
            fields["vs_best"] = _against(side, sides[best.label], samples)
        updated.append(result.model_copy(update=fields))
    return updated


def best_technique(results: list[ContestantResult]) -> ContestantResult | None:
    """The trained technique with the highest headline score: the one the others are measured against."""
    trained = [r for r in results if r.ok and r.method and HEADLINE in r.metrics]
    return max(trained, key=lambda r: r.metrics[HEADLINE], default=None)


def _side(result: ContestantResult):
    path = Path(result.eval_dir or "") / PREDICTIONS_FILE
    return read_side(path) if result.ok and result.eval_dir and path.is_file() else None


def _against(side, other, samples: int) -> dict[str, dict]:
    """Paired only on the same prompts: answers to other test rows have no partner to pair with."""
    (target, references), (baseline, their_references) = side, other
    if references != their_references:
        return {}
    return {key: interval.as_dict() for key, interval in
            paired_intervals(target, baseline, references, list(HEADLINE_SCORES), samples).items()}
