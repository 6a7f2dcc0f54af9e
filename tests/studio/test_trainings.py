"""The studio's queue: one training at a time, each `honed train` in a process of its own that outlives the studio."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from workspaces import ROWS
from honed import rundir
from honed.config import load_config, to_yaml
from honed.studio.trainings import Trainings
from honed.studio.workspace import Workspace
from tiny import write_jsonl


def _config(workspace, tiny_model, name: str, steps: int):
    data = write_jsonl(workspace / "data" / "rows.jsonl", ROWS)
    path = workspace / f"{name}.yaml"
    path.write_text(to_yaml(load_config(values={"model": str(tiny_model), "data.train": str(data),
                                                "training.max_steps": steps})))
    return path


def _wait(condition, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_one_at_a_time_and_a_restarted_studio_carries_on(workspace, tiny_model):
    first = Trainings(Workspace(workspace))
    long_run, short_run = workspace / "runs" / "long", workspace / "runs" / "short"
    first.add(_config(workspace, tiny_model, "long", 120), long_run)
    first.add(_config(workspace, tiny_model, "short", 2), short_run)
    _wait(lambda: rundir.read_status(long_run).get("state") == "running")
    assert [e["state"] for e in first.entries()] == ["started", "queued"]  # the second waits its turn
    assert not short_run.exists()

    restarted = Trainings(Workspace(workspace))  # the studio restarts: a new queue object reads the same file
    del first
    _wait(lambda: (restarted.tick(), rundir.read_status(short_run).get("state") == "finished")[1])
    assert rundir.read_status(long_run)["state"] == "finished"  # it ran on, unattended, to its end
    assert [e["state"] for e in restarted.entries()] == ["ended", "started"]
    _wait(lambda: (restarted.tick(), restarted.entries()[1]["state"] == "ended")[1])
    assert restarted.entries()[1]["exit_code"] == 0 and restarted.waiting() == []


@pytest.mark.slow
def test_the_studio_trains_the_demo_as_honed_train_does(tmp_path):
    """examples/support.yaml at 4 steps, launched from the studio and from the CLI with the same seed: the same files
    in the run directory and the same losses."""
    import json
    import shutil
    import subprocess
    import sys

    import yaml
    from fastapi.testclient import TestClient

    from honed.studio import create_app

    root = Path(__file__).parents[2]
    workspace = tmp_path / "workspace"
    shutil.copytree(root / "examples" / "data" / "support", workspace / "examples" / "data" / "support")
    shutil.copy(root / "examples" / "support.yaml", workspace / "examples" / "support.yaml")
    app = create_app(workspace, poll_s=0.25)
    with TestClient(app, headers={"X-CSRF-Token": app.state.studio.guard.csrf}) as studio:
        text = studio.get("/api/text", params={"file": "examples/support.yaml"}).json()["text"]
        edited = yaml.safe_load(text)
        edited["training"]["max_steps"] = 4
        launched = studio.post("/api/launch", json={"name": "demo", "yaml": yaml.safe_dump(edited),
                                                    "source": "examples/support.yaml"})
        assert launched.status_code == 200, launched.text
        studio_run = workspace / "runs" / "demo"
        _wait(lambda: rundir.read_status(studio_run).get("state") in ("finished", "failed"), timeout=900)
    cli_run = tmp_path / "cli"
    subprocess.run([sys.executable, "-m", "honed", "train", str(workspace / "examples" / "support.yaml"),
                    "--max-steps", "4", "--output", str(cli_run)], check=True, capture_output=True, timeout=900)

    def files(run: Path) -> list[str]:
        return sorted(str(p.relative_to(run)) for p in run.rglob("*") if p.is_file())

    def losses(run: Path) -> list[tuple[int, float]]:
        rows = map(json.loads, (run / rundir.METRICS_FILE).read_text().splitlines())
        return [(row["step"], row["loss"]) for row in rows if "loss" in row]

    assert rundir.read_status(studio_run)["state"] == "finished"
    assert files(studio_run) == files(cli_run)
    assert losses(studio_run) == losses(cli_run) and losses(cli_run)
