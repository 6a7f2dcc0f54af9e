"""The run directory is the contract: every later command (eval, compare, review, serve) reads only from it.

    config.yaml      resolved config            summary.json   technique, params, time, tokens, memory, losses
    adapter/ | model/  the trained weights      metrics.jsonl  one line per log event
    tokenizer/       tokenizer + chat template
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from honed.config import RunConfig, to_yaml, validate
from honed.errors import UserError

CONFIG_FILE = "config.yaml"
SUMMARY_FILE = "summary.json"
METRICS_FILE = "metrics.jsonl"
TOKENIZER_DIR = "tokenizer"


def check_free(run_dir: Path, overwrite: bool) -> None:
    """Refuse before any work starts, so a typo in --output never costs a previous run."""
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"{run_dir}: exists and is not a folder; choose another --output")
    if run_dir.is_dir() and any(run_dir.iterdir()) and not overwrite:
        raise UserError(f"{run_dir}: already holds files; pass --overwrite to replace them or choose another --output")


def claim(run_dir: Path, overwrite: bool) -> None:
    check_free(run_dir, overwrite)
    if run_dir.is_dir() and overwrite:
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)


def write_config(run_dir: Path, config: RunConfig) -> None:
    (run_dir / CONFIG_FILE).write_text(to_yaml(config))


def write_summary(run_dir: Path, summary: dict) -> None:
    (run_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")


def keep_metrics_until(run_dir: Path, step: int) -> None:
    """On resume, drop the log lines of steps after the checkpoint: those steps are trained again."""
    path = run_dir / METRICS_FILE
    if not path.is_file():
        return
    kept = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line).get("step", 0) <= step]
    path.write_text("".join(line + "\n" for line in kept))


def is_run_dir(path: str | Path) -> bool:
    return (Path(path) / CONFIG_FILE).is_file() and (Path(path) / SUMMARY_FILE).is_file()


def read_config(run_dir: Path) -> RunConfig:
    if not is_run_dir(run_dir):
        raise UserError(f"{run_dir}: not a honed run directory (no {CONFIG_FILE} and {SUMMARY_FILE})")
    return validate(yaml.safe_load((run_dir / CONFIG_FILE).read_text()), str(run_dir / CONFIG_FILE))


def read_summary(run_dir: Path) -> dict:
    return json.loads((Path(run_dir) / SUMMARY_FILE).read_text())


@dataclass
class LoadedRun:
    model: object
    tokenizer: object
    config: RunConfig
    run_dir: Path


def load_run(run_dir: str | Path) -> LoadedRun:
    """The trained model (base + adapter, or the full model) and its tokenizer, ready for inference."""
    from transformers import AutoTokenizer

    from honed.methods import get_method
    from honed.models import load_model

    run_dir = Path(run_dir)
    config = read_config(run_dir)
    method = get_method(config.method.name)
    artifact = run_dir / method.artifact_dir
    base = None if method.standalone else load_model(config.model, trust_remote_code=config.trust_remote_code)
    model = method.load(base, artifact)
    tokenizer = AutoTokenizer.from_pretrained(str(run_dir / TOKENIZER_DIR))
    model.eval()
    return LoadedRun(model, tokenizer, config, run_dir)

