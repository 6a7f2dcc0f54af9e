"""honed.compare(config): every technique on the same data and budget, each in its own process, then the report."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from honed.compare.budget import Budget, get_budget
from honed.compare.contestants import Contestant, plan_contestants
from honed.compare.results import ContestantResult, read_result, write_result
from honed.config import RunConfig
from honed.errors import UserError
from honed.metrics import HEADLINE, score
from honed.rundir import METRICS_FILE

log = logging.getLogger("honed")
MARKER = "compare.json"
SPEC_FILE = "spec.json"
LOG_FILE = "log.txt"


@dataclass
class Comparison:
    output_dir: Path
    budget: Budget
    results: list[ContestantResult]
    reports: list[Path]


def compare(
    config: RunConfig,
    output: str | Path | None = None,
    budget: str | None = None,
    only: list[str] | None = None,
    force: bool = False,
    source: str | None = None,
) -> Comparison:
    """Train and evaluate each technique (skipping those already measured with the same settings unless `force`),
    then write the table, plots, report.md and report.html into `output`, else the config's `output`, else
    runs/compare-<config>-<budget>."""
    budget_ = get_budget(budget or config.compare.budget)
    out = Path(output or config.output or default_output(source, budget_.name))
    contestants = plan_contestants(config, budget_, out, only)
    _claim(out)
    _write_marker(out, config, budget_, source)
    results = []
    for position, contestant in enumerate(contestants, start=1):
        # --force with --methods re-measures those techniques; the base row only if named or nothing was named
        again = force and (contestant.trains or not only or contestant.label in only)
        results.append(_measure(contestant, out / contestant.label, again, config.compare.timeout_minutes,
                                f"[{position}/{len(contestants)}]"))
    from honed.compare.report import write_reports

    reports = write_reports(out, _with_earlier_rows(results, config, budget_, out, only), budget_, config, source)
    return Comparison(out, budget_, results, reports)


def _with_earlier_rows(results: list[ContestantResult], config: RunConfig, budget: Budget, out: Path,
                       only: list[str] | None) -> list[ContestantResult]:
    """A run with --methods still reports every technique of the comparison measured earlier with the same
    settings, in the comparison's order: the report is of the comparison, not of the last command."""
    if not only:
        return results
    fresh = {r.label: r for r in results}
    rows = []
    for contestant in plan_contestants(config, budget, out):
        earlier = fresh.get(contestant.label) or read_result(out / contestant.label)
        if earlier is not None and earlier.fingerprint == contestant.fingerprint():
            rows.append(earlier)
    return rows


def default_output(source: str | None, budget: str) -> Path:
    stem = Path(source).stem if source else "config"
    return Path("runs") / f"compare-{stem}-{budget}"


def _claim(out: Path) -> None:
    """A comparison folder is reused (that is how re-runs skip finished techniques); any other folder is the user's."""
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder; choose another --output")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise UserError(f"{out}: folder exists and is not a honed comparison; choose another --output")
    out.mkdir(parents=True, exist_ok=True)


def _write_marker(out: Path, config: RunConfig, budget: Budget, source: str | None) -> None:
    marker = {"config": source, "budget": budget.__dict__, "model": config.model,
              "train": config.data.train, "test": config.data.test}
    (out / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")


def _measure(contestant: Contestant, folder: Path, force: bool, timeout_minutes: float | None,
             position: str) -> ContestantResult:
    previous = read_result(folder)
    if previous and previous.ok and previous.fingerprint == contestant.fingerprint() and not force:
        log.info("%s %s: already measured (%s); --force to measure again", position, contestant.label,
                 _headline(previous))
        return previous
    log.info("%s %s: %s ...", position, contestant.label,
             "training and evaluating" if contestant.trains else "evaluating the untrained base model")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "result.json").unlink(missing_ok=True)
    result = _run_worker(contestant, folder, timeout_minutes)
    if result.ok:
        log.info("%s %s: done in %s (%s)", position, contestant.label, _duration(result.elapsed_s), _headline(result))
    else:
        log.warning("%s %s: FAILED: %s (log: %s)", position, contestant.label, result.error, folder / LOG_FILE)
    return result


def _run_worker(contestant: Contestant, folder: Path, timeout_minutes: float | None) -> ContestantResult:
    spec_path = folder / SPEC_FILE
    spec_path.write_text(json.dumps(contestant.spec(), indent=2) + "\n", encoding="utf-8")
    command = [sys.executable, "-m", "honed.compare.worker", str(spec_path)]
    started = time.perf_counter()
    timeout = timeout_minutes * 60 if timeout_minutes else None
    with (folder / LOG_FILE).open("w", encoding="utf-8") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=_worker_env())
        try:
            code = _wait_with_progress(process, contestant, timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            return _failed(contestant, folder, f"timed out after {timeout_minutes:g} minutes", started)
        except KeyboardInterrupt:
            process.kill()
            process.wait()
            raise
    result = read_result(folder)
    if result is None:
        return _failed(contestant, folder, f"worker exited with code {code}: {_last_line(folder / LOG_FILE)}", started)
    return result


def _wait_with_progress(process: subprocess.Popen, contestant: Contestant, timeout: float | None) -> int:
    """Wait for the worker, showing its training step from the metrics.jsonl it appends to."""
    from tqdm.auto import tqdm

    metrics = Path(contestant.config.output) / METRICS_FILE
    deadline = time.monotonic() + timeout if timeout else None
    total = contestant.config.training.max_steps
    with tqdm(total=total, desc=contestant.label, unit="step", dynamic_ncols=True, leave=False,
              disable=not contestant.trains) as bar:
        while True:
            try:
                return process.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                if deadline and time.monotonic() > deadline:
                    raise
                step = _latest_step(metrics)
                if step is not None and step > bar.n:
                    bar.update(step - bar.n)


def _latest_step(metrics: Path) -> int | None:
    try:
        lines = metrics.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            return int(json.loads(line)["step"])
        except (ValueError, KeyError, TypeError):
            continue
    return None


def _worker_env() -> dict:
    env = dict(os.environ)
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _failed(contestant: Contestant, folder: Path, error: str, started: float) -> ContestantResult:
    result = ContestantResult(label=contestant.label, method=contestant.method, status="failed", error=error,
                              fingerprint=contestant.fingerprint(), elapsed_s=round(time.perf_counter() - started, 1))
    write_result(folder, result)
    return result


def _last_line(path: Path) -> str:
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines()]
    except OSError:
        return "no log"
    meaningful = [line for line in lines if line and not line.startswith(("Traceback", "File "))]
    return meaningful[-1][:300] if meaningful else "no output"


def _headline(result: ContestantResult) -> str:
    value = result.metrics.get(HEADLINE)
    parts = [f"{score(HEADLINE).label} {value:.2f}" if value is not None else None,
             f"val loss {result.final_val_loss:.3f}" if result.final_val_loss is not None else None]
    return ", ".join(part for part in parts if part) or "measured"


def _duration(seconds: float | None) -> str:
    seconds = int(seconds or 0)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"
