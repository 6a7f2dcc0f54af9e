"""The run directory is the contract: training writes it through this module, and evaluate, compare, review, serve
and export read it only through it, by these names and loaders. It sits below all of them (it imports config,
methods and models, never training), so reading a run never loads the training stack.

    config.yaml      resolved config            summary.json   technique, params, time, tokens, memory, losses
    adapter/ | model/  the trained weights      metrics.jsonl  one line per log event
    tokenizer/       tokenizer + chat template  eval/          eval.json, predictions.jsonl, report.md
    status.json      state, pid, step, updated  eval-preferences/  eval.json, rewards.jsonl, report.md (preference data)
    train.log        what training logged, and how it ended
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from honed.config import RunConfig, to_yaml, validate
from honed.errors import UserError

CONFIG_FILE = "config.yaml"
SUMMARY_FILE = "summary.json"
METRICS_FILE = "metrics.jsonl"
TOKENIZER_DIR = "tokenizer"
EVAL_DIR = "eval"  # what `honed eval` writes into a run: the three files below
EVAL_FILE = "eval.json"
PREDICTIONS_FILE = "predictions.jsonl"
REPORT_FILE = "report.md"
PREFERENCE_EVAL_DIR = "eval-preferences"  # what `honed eval` writes for preference data: eval.json, report.md and
REWARDS_FILE = "rewards.jsonl"  # each pair's implicit rewards
STATUS_FILE = "status.json"
LOG_FILE = "train.log"
STATES = ("running", "finished", "stopped", "failed", "interrupted")  # interrupted: running, but its process is gone


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


def write_status(run_dir: Path, state: str, **fields) -> None:
    """What a run is doing, for whoever looks (the studio, a script); fields of the previous status are kept unless
    given again (an error only with the state it explains). Written whole and renamed into place, so a reader never
    sees half a file."""
    try:
        previous = json.loads((run_dir / STATUS_FILE).read_text())
    except (OSError, ValueError):
        previous = {}
    previous.pop("error", None)
    status = {**previous, "state": state, "pid": os.getpid(), "host": socket.gethostname(), "updated": time.time(),
              **fields}
    partial = run_dir / f".{STATUS_FILE}.{os.getpid()}"
    partial.write_text(json.dumps(status) + "\n")
    os.replace(partial, run_dir / STATUS_FILE)


def read_status(run_dir: str | Path) -> dict:
    """The run's state. A run that says it is running but whose process is gone (killed, the machine restarted) is
    `interrupted`; a run from before status files were written is `finished` when its summary exists."""
    run_dir = Path(run_dir)
    try:
        status = json.loads((run_dir / STATUS_FILE).read_text())
    except (OSError, ValueError):
        status = {"state": "finished" if (run_dir / SUMMARY_FILE).is_file() else "unknown"}
    if status.get("state") == "running" and not _alive(status):
        status["state"] = "interrupted"
    return status


def _alive(status: dict) -> bool:
    if status.get("host") not in (None, socket.gethostname()):
        return True  # another machine's process: it cannot be checked from here
    try:
        os.kill(int(status["pid"]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, KeyError, TypeError, ValueError):
        return True
    return True


@contextlib.contextmanager
def recording(run_dir: Path, stopped: tuple[type[BaseException], ...] = (KeyboardInterrupt,), **fields):
    """Keeps status.json and train.log while a training runs: `running` now (with `fields`), then `finished`,
    `stopped` (one of `stopped`, e.g. a signal that saved a checkpoint) or `failed` with the error's first line."""
    handler = logging.FileHandler(run_dir / LOG_FILE, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger = logging.getLogger("honed")
    logger.addHandler(handler)
    started = read_status(run_dir).get("started") if (run_dir / STATUS_FILE).is_file() else None
    write_status(run_dir, "running", started=started or time.time(), **fields)  # a resumed run keeps its start
    try:
        yield
    except BaseException as error:
        state = "stopped" if isinstance(error, stopped) else "failed"
        line = (str(error).splitlines() or [type(error).__name__])[0]
        handler.handle(logger.makeRecord(logger.name, logging.ERROR, __file__, 0, "%s: %s", (state, line), None))
        write_status(run_dir, state, error=line)
        raise
    else:
        write_status(run_dir, "finished")
    finally:
        logger.removeHandler(handler)
        handler.close()


def is_run_dir(path: str | Path) -> bool:
    return (Path(path) / CONFIG_FILE).is_file() and (Path(path) / SUMMARY_FILE).is_file()


def read_config(run_dir: str | Path) -> RunConfig:
    run_dir = Path(run_dir)
    if not is_run_dir(run_dir):
        raise UserError(f"{run_dir}: not a honed run directory (no {CONFIG_FILE} and {SUMMARY_FILE})")
    return validate(yaml.safe_load((run_dir / CONFIG_FILE).read_text()), str(run_dir / CONFIG_FILE))


def read_summary(run_dir: str | Path) -> dict:
    return json.loads((Path(run_dir) / SUMMARY_FILE).read_text())


def eval_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / EVAL_DIR


@dataclass
class LoadedRun:
    model: object
    tokenizer: object
    config: RunConfig
    run_dir: Path


def load_run(run_dir: str | Path) -> LoadedRun:
    """The trained model (base + adapter, or the full model) and its tokenizer, ready for inference."""
    from honed.methods import get_method

    run_dir = Path(run_dir)
    config = read_config(run_dir)
    method = get_method(config.method.name)
    base = None if method.standalone else _base_model(config)
    model = method.load(base, run_dir / method.artifact_dir)
    model.eval()
    return LoadedRun(model, load_run_tokenizer(run_dir), config, run_dir)


def load_runs_on_one_base(run_dirs: list[Path]) -> list[LoadedRun]:
    """Runs of one technique whose adapters can sit side by side (the registry's `shares_base`) on one base model:
    the base is loaded once and each run's adapter is added under its folder's name, to be switched per request
    (`set_adapter`). What `honed serve` loads for several LoRA or IA3 runs of the same base."""
    from honed.methods import get_method

    configs = [read_config(path) for path in run_dirs]
    method = get_method(configs[0].method.name)
    if method.load_shared is None:
        raise UserError(f"{run_dirs[0]}: {method.name} runs cannot share a base model; load them one by one")
    if any((c.model, c.method.name) != (configs[0].model, method.name) for c in configs):
        raise UserError("runs that share a base model must be of one technique and one base model: "
                        + ", ".join(f"{p} ({c.method.name} on {c.model})" for p, c in zip(run_dirs, configs)))
    model = method.load_shared(_base_model(configs[0]), [(p.name, p / method.artifact_dir) for p in run_dirs])
    model.eval()
    return [LoadedRun(model, load_run_tokenizer(path), config, Path(path))
            for path, config in zip(run_dirs, configs, strict=True)]


def load_run_tokenizer(run_dir: str | Path):
    """The tokenizer saved with the run: its chat template is the one training rendered rows with."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(Path(run_dir) / TOKENIZER_DIR))


def _base_model(config: RunConfig):
    from honed.models import load_model

    return load_model(config.model, trust_remote_code=config.trust_remote_code)
