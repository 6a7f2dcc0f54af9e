"""The comparison's plots as PNG files. matplotlib's Figure API, not pyplot: no global figure state, no GUI backend."""

from __future__ import annotations

import json
from pathlib import Path

from honed.compare.results import ContestantResult
from honed.metrics import HEADLINE, score
from honed.rundir import METRICS_FILE

LOSS_PLOT = "loss_curves.png"
QUALITY_PLOT = "quality_vs_params.png"
COST_PLOT = "time_memory.png"


def draw_plots(out: Path, results: list[ContestantResult]) -> list[Path]:
    trained = [r for r in results if r.ok and r.method]
    if not trained:
        return []
    base = next((r for r in results if r.ok and r.method is None), None)
    return [_loss_curves(out / LOSS_PLOT, trained), _quality_vs_params(out / QUALITY_PLOT, trained, base),
            _time_and_memory(out / COST_PLOT, trained)]


def training_losses(result: ContestantResult) -> tuple[list[int], list[float]]:
    path = Path(result.run_dir or "") / METRICS_FILE
    steps, losses = [], []
    if not path.is_file():
        return steps, losses
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if "loss" in row:
            steps.append(row["step"])
            losses.append(row["loss"])
    return steps, losses


def _figure(width: float = 7.0, height: float = 4.5):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def _loss_curves(path: Path, trained: list[ContestantResult]) -> Path:
    figure = _figure()
    axes = figure.add_subplot()
    for result in trained:
        steps, losses = training_losses(result)
        if steps:
            axes.plot(steps, losses, marker="o", markersize=3, label=result.label)
    axes.set(xlabel="optimizer step", ylabel="training loss", title="Training loss by technique")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    figure.savefig(path)
    return path


def _quality_vs_params(path: Path, trained: list[ContestantResult], base: ContestantResult | None) -> Path:
    figure = _figure()
    axes = figure.add_subplot()
    points = [r for r in trained if r.trainable_params and HEADLINE in r.metrics]
    axes.scatter([r.trainable_params for r in points], [r.metrics[HEADLINE] for r in points], s=40, zorder=3)
    spread = [r for r in points if r.own_interval]
    if spread:  # each technique's own 95% interval over resamples of the test prompts
        axes.errorbar([r.trainable_params for r in spread], [r.metrics[HEADLINE] for r in spread],
                      yerr=[[max(r.metrics[HEADLINE] - r.own_interval[0], 0) for r in spread],
                            [max(r.own_interval[1] - r.metrics[HEADLINE], 0) for r in spread]],
                      fmt="none", ecolor="tab:blue", alpha=0.6, capsize=4, zorder=2, label="95% interval")
    for r in points:
        axes.annotate(r.label, (r.trainable_params, r.metrics[HEADLINE]), textcoords="offset points", xytext=(5, 4),
                      fontsize="small")
    if base is not None and HEADLINE in base.metrics:
        axes.axhline(base.metrics[HEADLINE], color="grey", linestyle="--", label="base model (untrained)")
    if spread or (base is not None and HEADLINE in base.metrics):
        axes.legend(fontsize="small")
    axes.set_xscale("log")
    axes.set(xlabel="trainable parameters (log scale)", ylabel=f"{score(HEADLINE).label} on test prompts",
             title="Quality against trainable parameters")
    axes.grid(alpha=0.3, which="both")
    figure.savefig(path)
    return path


def _time_and_memory(path: Path, trained: list[ContestantResult]) -> Path:
    figure = _figure(9.0, 4.0)
    time_axes, memory_axes = figure.subplots(1, 2)
    labels = [r.label for r in trained]
    time_axes.barh(labels, [r.train_time_s or 0 for r in trained], color="tab:blue")
    time_axes.set(xlabel="seconds", title="Training wall time")
    memory_axes.barh(labels, [r.peak_gpu_mb or r.peak_rss_mb or 0 for r in trained], color="tab:orange")
    unit = "peak GPU MB" if any(r.peak_gpu_mb for r in trained) else "peak RAM MB"
    memory_axes.set(xlabel=unit, title="Peak memory")
    for axes in (time_axes, memory_axes):
        axes.invert_yaxis()
        axes.grid(alpha=0.3, axis="x")
    figure.savefig(path)
    return path
