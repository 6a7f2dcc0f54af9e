"""honed: fine-tune LLMs for precision, with measured proof that the tuned model got better.

    import honed
    run_dir = honed.train("examples/support.yaml")      # or a dict, or a honed.config.RunConfig
    result = honed.evaluate(run_dir, data="test.jsonl", baseline="base")

`train` and `evaluate` are plain functions; the code behind them lives in `honed.training` and `honed.evaluation`
(packages named apart from the functions, so importing them never rebinds `honed.train`). Their heavy imports
(torch, transformers) wait until a function is called, so `import honed` and `honed --help` stay instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from honed.version import __version__

if TYPE_CHECKING:
    from honed.config import EvalConfig, RunConfig
    from honed.evaluation import EvalResult
    from honed.evaluation.rewards import RewardResult

__all__ = ["__version__", "evaluate", "evaluate_preferences", "load_config", "train"]


def train(config: RunConfig | dict | str | Path) -> Path:
    """Fine-tune as the config (a YAML path, a dict or a RunConfig) says and return the run directory."""
    from honed.training import fit

    return fit(config).run_dir


def evaluate(
    target: str | Path,
    data: str | Path | None = None,
    baseline: str | Path | None = None,
    settings: EvalConfig | None = None,
    output: str | Path | None = None,
) -> EvalResult:
    """Score a run directory (or a base model) on test data, optionally against a baseline ('base' or another run);
    writes eval.json, predictions.jsonl and report.md (into the run's eval/ unless `output` says otherwise)."""
    from honed.evaluation import evaluate_subject, load_baseline, load_subject

    subject = load_subject(str(target))
    other = load_baseline(str(baseline), subject) if baseline else None
    return evaluate_subject(subject, data, other, settings, output)


def evaluate_preferences(
    target: str | Path,
    data: str | Path | None = None,
    baseline: str | Path | None = None,
    output: str | Path | None = None,
) -> RewardResult:
    """Reward accuracy and mean reward margin of a run on preference pairs (prompt, chosen, rejected): DPO's
    implicit reward against the run's starting point (its --from run, else its base model; `baseline` names
    another); writes eval.json, rewards.jsonl and report.md into the run's eval-preferences/."""
    from honed.evaluation.rewards import evaluate_preferences as score

    return score(target, data, baseline, output)


def load_config(
    path: str | Path | None = None, overrides: list[str] | None = None, values: dict[str, Any] | None = None
) -> RunConfig:
    """A validated RunConfig from YAML (if any), flag values and `--set key=value` overrides."""
    from honed.config import load_config as load

    return load(path, overrides, values)
