"""Charts of runs as SVG, drawn by matplotlib on the server (no chart library is shipped for the browser): loss per
step, train solid and validation dashed, and real tokens/s. A run's colour is the same on every page: runs take the
palette's colours in the order they started, so runs started one after another never share one."""

from __future__ import annotations

import io
import math
import zlib

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf"]  # matplotlib's tab10


def colours(names_by_start: list[str]) -> dict[str, str]:
    """Run name -> colour, from the workspace's runs in the order they started."""
    return {name: PALETTE[index % len(PALETTE)] for index, name in enumerate(names_by_start)}


def colour_of(name: str) -> str:
    """A colour for a run the workspace does not list yet (queued): stable, from its name."""
    return PALETTE[zlib.crc32(name.encode()) % len(PALETTE)]


def metric_chart(series: list[tuple[str, str, list[dict]]], kind: str = "loss") -> str:
    """`series`: (run name, its colour, its metrics.jsonl rows). kind 'loss' (train and validation) or 'speed'
    (tokens/s)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.2, 3.2), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    values = []
    for name, colour, rows in series:
        lines = [("tokens_per_s", "-", "")] if kind == "speed" else [("loss", "-", "train"),
                                                                     ("eval_loss", "--", "validation")]
        for key, style, what in lines:
            points = [(row["step"], row[key]) for row in rows if isinstance(row.get(key), (int, float))
                      and math.isfinite(row[key])]
            if not points:
                continue
            steps, ys = zip(*points, strict=True)
            values += ys
            label = name if not what else f"{name} ({what})"
            axes.plot(steps, ys, style, color=colour, label=label, marker="o" if len(points) < 30 else None,
                      markersize=3)
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("loss (nats per token)" if kind == "loss" else "real tokens / s")
    if kind == "loss" and values and min(values) > 0 and max(values) / min(values) > 10:
        axes.set_yscale("log")
    axes.grid(alpha=0.3)
    if values:
        axes.legend(fontsize=8, loc="best")
    else:
        axes.text(0.5, 0.5, "no points yet", transform=axes.transAxes, ha="center", va="center", color="#777")
    out = io.StringIO()
    figure.savefig(out, format="svg")
    return out.getvalue()
