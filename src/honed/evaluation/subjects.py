"""What can be evaluated: a run directory, or a base model by name or path; and 'base' as a baseline."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from honed.config import DataConfig
from honed.errors import UserError


@dataclass
class Subject:
    label: str
    model_id: str
    model: object
    tokenizer: object
    data: DataConfig
    shape: str | None  # the training data's record shape, when known
    run_dir: Path | None = None


def load_subject(reference: str, trust_remote_code: bool = False) -> Subject:
    from honed.rundir import is_run_dir, load_run, read_summary

    if is_run_dir(reference):
        run = load_run(reference)
        shape = read_summary(run.run_dir).get("data", {}).get("shape")
        label = f"{run.config.method.name}:{run.run_dir.name}"
        return Subject(label, str(run.run_dir), run.model, run.tokenizer, run.config.data, shape, run.run_dir)
    if Path(reference).is_dir() and not (Path(reference) / "config.json").is_file():
        raise UserError(f"{reference}: neither a honed run directory nor a model folder")
    return load_base_subject(reference, trust_remote_code=trust_remote_code)


def load_base_subject(reference: str, tokenizer=None, data: DataConfig | None = None, shape=None, **kwargs) -> Subject:
    from honed.models import load_model, load_tokenizer

    if tokenizer is None:
        tokenizer = load_tokenizer(reference, kwargs.get("trust_remote_code", False))
    model = load_model(reference, trust_remote_code=kwargs.get("trust_remote_code", False))
    model.eval()
    return Subject(f"base:{reference}", reference, model, tokenizer, data or DataConfig(), shape)


def load_baseline(reference: str, target: Subject) -> Subject:
    """'base' means the target's own base model, prompted through the target's tokenizer and template."""
    if reference != "base":
        return load_subject(reference)
    if target.run_dir is None:
        raise UserError("--baseline base needs a run directory to evaluate (its base model is the baseline)")
    from honed.rundir import read_config

    config = read_config(target.run_dir)
    return load_base_subject(
        config.model, tokenizer=target.tokenizer, data=target.data, shape=target.shape,
        trust_remote_code=config.trust_remote_code,
    )


def is_base_of(baseline: Subject, target: Subject) -> bool:
    """Whether `baseline` is the untuned model `target` (a run) was trained from."""
    if baseline.run_dir is not None or target.run_dir is None:
        return False
    from honed.rundir import read_config

    return baseline.model_id == read_config(target.run_dir).model


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "model"
