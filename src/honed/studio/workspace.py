"""The studio's view of a workspace folder: its run directories and files, never a path outside it.

Everything here reads what training writes through honed.rundir; the studio keeps no state of its own about a run.
"""

from __future__ import annotations

import json
import os
import statistics
from dataclasses import dataclass
from pathlib import Path

import yaml

from honed import rundir
from honed.errors import UserError

STUDIO_DIR = ".honed-studio"  # the studio's own files in the workspace: the queue, launch logs
TRASH_DIR = ".honed-trash"  # archived runs, moved here, never deleted
_SKIPPED = {STUDIO_DIR, TRASH_DIR, "checkpoints", "node_modules", "__pycache__", rundir.TOKENIZER_DIR}
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: the runs page reads every run's config


@dataclass
class Workspace:
    root: Path

    def __post_init__(self):
        self.root = self.root.resolve()

    def inside(self, relative: str) -> Path:
        """The workspace path a user named, refused if it leaves the workspace (`..`, an absolute path, a symlink
        pointing out)."""
        if not relative or Path(relative).is_absolute() or "\x00" in relative:
            raise UserError(f"{relative!r}: give a path inside the workspace")
        path = (self.root / relative).resolve()
        if path != self.root and self.root not in path.parents:
            raise UserError(f"{relative}: outside the workspace {self.root}")
        return path

    def model(self, reference: str) -> str:
        """A model as the user picked it: a folder or GGUF of the workspace by its path, else as given (a name,
        an alias or an absolute path)."""
        if reference and not Path(reference).is_absolute() and (self.root / reference).exists():
            return str(self.inside(reference))
        return reference

    def relative(self, path: Path) -> str:
        return path.resolve().relative_to(self.root).as_posix()

    def run_dirs(self) -> list[Path]:
        """Every run directory under the workspace (a folder with config.yaml and a status or summary)."""
        found = []
        for folder, subfolders, files in os.walk(self.root):
            if rundir.CONFIG_FILE in files and (rundir.STATUS_FILE in files or rundir.SUMMARY_FILE in files):
                found.append(Path(folder))
                subfolders[:] = []
                continue
            subfolders[:] = sorted(d for d in subfolders if d not in _SKIPPED and not d.startswith("."))
        return found

    def run_names(self) -> list[str]:
        """The run directories as the pages name them (relative to the workspace), for pickers."""
        return [self.relative(path) for path in self.run_dirs()]

    def run(self, relative: str) -> Path:
        path = self.inside(relative)
        if not (path / rundir.CONFIG_FILE).is_file():
            raise UserError(f"{relative}: not a run directory of this workspace")
        return path

    def files(self, suffixes: tuple[str, ...] = (".jsonl", ".json", ".csv", ".txt", ".parquet")) -> list[str]:
        """Data files a run could train on, for the pickers."""
        found = []
        for folder, subfolders, names in os.walk(self.root):
            subfolders[:] = sorted(d for d in subfolders if d not in _SKIPPED and not d.startswith("."))
            if rundir.CONFIG_FILE in names:
                subfolders[:] = []
                continue
            found += [self.relative(Path(folder) / n) for n in sorted(names) if n.endswith(suffixes)]
        return found


def model_choices(workspace: Workspace) -> list[str]:
    """What the model pickers offer: the default model, model folders and GGUF files in the workspace, and the models
    honed has converted into $HONED_HOME."""
    from honed.config.schema import DEFAULT_MODEL
    from honed.models.cache import honed_home

    choices = [DEFAULT_MODEL]
    for folder, subfolders, files in os.walk(workspace.root):
        subfolders[:] = sorted(d for d in subfolders if d not in _SKIPPED and not d.startswith("."))
        if "config.json" in files and any(f.endswith(".safetensors") for f in files):
            choices.append(workspace.relative(Path(folder)))
            subfolders[:] = []
        choices += [workspace.relative(Path(folder) / f) for f in sorted(files) if f.endswith(".gguf")]
    home = honed_home() / "models"
    if home.is_dir():
        choices += sorted(str(path) for path in home.iterdir() if (path / "config.json").is_file())
    return choices


def run_colours(workspace: Workspace) -> dict[str, str]:
    """Each run's colour on every page (honed.studio.charts.colours)."""
    from honed.studio.charts import colours

    started = []
    for path in workspace.run_dirs():
        status = rundir.read_status(path)
        started.append((status.get("started") or _mtime(path / rundir.CONFIG_FILE), workspace.relative(path)))
    return colours([name for _, name in sorted(started)])


def run_row(workspace: Workspace, path: Path) -> dict:
    """One line of the runs table."""
    summary = _json(path / rundir.SUMMARY_FILE) or {}
    status = rundir.read_status(path)
    config = yaml.load((path / rundir.CONFIG_FILE).read_text(), Loader=_LOADER) or {}
    metrics = read_metrics(path)
    losses = [row["loss"] for row in metrics if "loss" in row]
    speeds = [row["tokens_per_s"] for row in metrics if "tokens_per_s" in row]
    evaluation = _json(rundir.eval_dir(path) / rundir.EVAL_FILE) or {}
    started = status.get("started") or _mtime(path / rundir.CONFIG_FILE)
    return {
        "name": workspace.relative(path),
        "technique": (config.get("method") or {}).get("name", "?"),
        "model": config.get("model", "?"),
        "data": Path(str((config.get("data") or {}).get("train") or "")).name,
        "state": status.get("state", "unknown"),
        "error": status.get("error"),
        "step": status.get("step", summary.get("steps", metrics[-1]["step"] if metrics else 0)),
        "max_steps": status.get("max_steps", summary.get("steps")),
        "final_loss": summary.get("final_train_loss", losses[-1] if losses else None),
        "rougeL": (evaluation.get("metrics") or {}).get("rougeL"),
        "tokens_per_s": summary.get("tokens_per_s", speeds[-1] if speeds else None),
        "tokens_per_s_usual": statistics.median(speeds) if speeds else None,  # what a slowdown is measured against
        "started": started,
        "duration_s": summary.get("wall_time_s", (status.get("updated") or started) - started),
        "peak_rss_mb": summary.get("peak_rss_mb", status.get("peak_rss_mb")),
        "trainable": (summary.get("parameters") or {}).get("trainable", status.get("trainable")),
        "precision": summary.get("precision") or status.get("precision"),
        "precision_reason": summary.get("precision_reason") or status.get("precision_reason"),
    }


def read_metrics(path: Path) -> list[dict]:
    """metrics.jsonl as written so far (a line being written is left for the next read)."""
    try:
        text = (path / rundir.METRICS_FILE).read_text()
    except OSError:
        return []
    rows = []
    for line in text.splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            break
    return rows


def _json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
