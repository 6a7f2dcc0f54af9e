"""Run directories as training writes them, and rows to train on, for the studio's tests."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import yaml

ROWS = [{"prompt": f"Question {i}: where is parcel {i}?", "completion": f"Parcel {i} arrives in {i % 5 + 1} days."}
        for i in range(24)]


def fake_run(folder: Path, state: str = "finished", steps: int = 6, technique: str = "lora", **status) -> Path:
    """A run directory as honed.rundir lays it out (config, metrics, status, and a summary once finished)."""
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump({"model": "smollm2-135m", "method": {"name": technique},
                                                        "data": {"train": "/data/support.jsonl"}}))
    rows = [{"step": s, "loss": 3.0 / s, "tokens_per_s": 100.0 + s} for s in range(1, steps + 1)]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    started = time.time() - 60
    (folder / "status.json").write_text(json.dumps({"state": state, "pid": os.getpid(), "step": steps,
                                                    "max_steps": 10, "started": started, "updated": time.time(),
                                                    **status}))
    if state == "finished":
        (folder / "summary.json").write_text(json.dumps({"final_train_loss": 0.5, "tokens_per_s": 123.0,
                                                         "wall_time_s": 42.0, "steps": steps, "peak_rss_mb": 900}))
    return folder
