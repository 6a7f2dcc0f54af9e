"""The comparison table: one row per contestant, the same cells for markdown, HTML and CSV."""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable

from honed.compare.results import ContestantResult
from honed.methods import get_method
from honed.metrics import HEADLINE, Score, all_scores, score


@dataclass(frozen=True)
class Column:
    header: str
    value: Callable[[ContestantResult], float | int | str | None]
    fmt: str = "{}"
    better: str | None = None  # "high" or "low": the best value of the column is marked


def base_val_loss(results: list[ContestantResult]) -> float | None:
    """The base model's validation loss is the starting loss of any technique that begins as the base model
    (LoRA, full, adapters...): same model, same validation rows, same loss code."""
    for result in results:
        if result.ok and result.method and get_method(result.method).starts_as_base and result.initial_val_loss:
            return result.initial_val_loss
    return None


def columns(results: list[ContestantResult]) -> list[Column]:
    base_loss = base_val_loss(results)

    def val_loss(result: ContestantResult):
        return base_loss if result.method is None else result.final_val_loss

    return [
        Column("technique", lambda r: r.label),
        Column("status", lambda r: "ok" if r.ok else "failed"),
        Column("trainable params", lambda r: r.trainable_params, "{:,}"),
        Column("% trainable", lambda r: r.trainable_pct, "{:.3f}"),
        Column("saved MB", lambda r: r.saved_bytes / 2**20 if r.saved_bytes is not None else None, "{:.2f}",
               "low"),
        Column("peak RAM MB", lambda r: r.peak_rss_mb, "{:,.0f}", "low"),
        Column("train time s", lambda r: r.train_time_s, "{:.1f}", "low"),
        Column("tokens/s", lambda r: r.tokens_per_s, "{:.1f}", "high"),
        Column("train loss", lambda r: r.final_train_loss, "{:.3f}", "low"),
        Column("val loss", val_loss, "{:.3f}", "low"),
        *[_score_column(item) for item in all_scores() if item.in_comparison],
        *_structured_columns(results),
        Column(f"{score(HEADLINE).label} vs base", lambda r: _difference(r.vs_base.get(HEADLINE))),
        Column(f"{score(HEADLINE).label} vs best", lambda r: _difference(r.vs_best.get(HEADLINE), "best", r)),
    ]


def _structured_columns(results: list[ContestantResult]) -> list[Column]:
    """Rewards (eval.rewards) and, for JSON answers, validity and field accuracy: the columns a structured-output
    comparison is read by, present when any contestant was scored on them."""
    from honed.evaluation.structured import SUMMARY_KEYS

    keys = dict.fromkeys(key for r in results for key in r.metrics if key.startswith("reward_"))
    keys.update(dict.fromkeys(key for key in SUMMARY_KEYS if any(key in r.metrics for r in results)))
    return [Column(_structured_header(key), lambda r, key=key: r.metrics.get(key), "{:.2f}" if key in SUMMARY_KEYS
                   else "{:.3f}", "high") for key in keys]


def _structured_header(key: str) -> str:
    return {"json_valid": "JSON valid %", "field_accuracy": "field accuracy %"}.get(
        key, key.replace("reward_", "reward: ", 1))


def _difference(interval: dict | None, absent: str | None = None, result: ContestantResult | None = None):
    """The delta with its paired 95% interval, marked only where the interval excludes zero."""
    if interval is None:
        return absent if result is not None and result.method and result.ok and result.vs_base else None
    mark = " ✓" if interval["low"] > 0 else " ✗" if interval["high"] < 0 else ""
    return f"{interval['delta']:+.2f} [{interval['low']:+.2f}, {interval['high']:+.2f}]{mark}"


def _score_column(item: Score) -> Column:
    better = None if item.higher_is_better is None else "high" if item.higher_is_better else "low"
    return Column(item.label, lambda r: r.metrics.get(item.key), "{:.2f}", better)


def table(results: list[ContestantResult]) -> tuple[list[str], list[list[str]], list[list[bool]]]:
    """Headers, formatted cells, and which cells hold their column's best value among trained techniques."""
    cols = columns(results)
    values = [[col.value(r) if r.ok or col.header in ("technique", "status") else None for col in cols]
              for r in results]
    best = [[False] * len(cols) for _ in results]
    for j, col in enumerate(cols):
        if not col.better:
            continue
        candidates = [(values[i][j], i) for i, r in enumerate(results) if r.method and values[i][j] is not None]
        if len(candidates) < 2 or len({v for v, _ in candidates}) == 1:
            continue  # nothing to single out
        target = (max if col.better == "high" else min)(v for v, _ in candidates)
        for value, i in candidates:
            best[i][j] = value == target
    cells = [[_format(values[i][j], col.fmt) for j, col in enumerate(cols)] for i in range(len(results))]
    return [col.header for col in cols], cells, best


def _format(value, fmt: str) -> str:
    if value is None:
        return "—"
    try:
        return fmt.format(value)
    except (ValueError, TypeError):
        return str(value)
