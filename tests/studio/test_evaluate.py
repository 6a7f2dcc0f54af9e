"""Evaluate from the studio: `honed eval` queued like a training, its report read back as the page shows it."""

from __future__ import annotations

import json
import time

from honed.training import fit
from tiny import MEMORISE, write_jsonl


def test_an_evaluation_from_the_studio_is_honed_evals_report(workspace, tiny_model):
    from fastapi.testclient import TestClient

    from honed.studio import create_app

    data = write_jsonl(workspace / "data" / "memorise.jsonl", MEMORISE * 2)
    fit({"model": str(tiny_model), "data": {"train": str(data), "test": str(data)},
         "training": {"max_steps": 10, "learning_rate": 0.01, "warmup": 0}, "output": str(workspace / "runs" / "tiny")})
    app = create_app(workspace, poll_s=0.2)
    with TestClient(app, headers={"X-CSRF-Token": app.state.studio.guard.csrf}) as studio:
        assert studio.get("/eval/runs/tiny").status_code == 200
        queued = studio.post("/api/eval/runs/tiny", json={"baseline": "base", "limit": 4, "max_new_tokens": 6})
        assert queued.status_code == 200
        again = studio.post("/api/eval/runs/tiny", json={"baseline": "base"})
        assert again.status_code == 400 and "already queued or running" in again.json()["error"]
        deadline = time.monotonic() + 180
        while (job := studio.get("/api/eval/runs/tiny").json()["job"])["state"] != "ended":
            assert time.monotonic() < deadline, job
            time.sleep(0.2)
        assert job["exit_code"] == 0 and job["error"] is None
        report = studio.get("/api/eval/runs/tiny").json()["report"]
    summary = json.loads((workspace / "runs" / "tiny" / "eval" / "eval.json").read_text())
    assert report["rows"] == 4 and len(report["examples"]) == 4
    rouge = next(m for m in report["metrics"] if m["name"] == "rougeL")
    assert (rouge["tuned"], rouge["baseline"], rouge["delta"]) == \
        (summary["metrics"]["rougeL"], summary["baseline"]["metrics"]["rougeL"], summary["delta"]["rougeL"])
    assert rouge["interval"] == summary["intervals"]["rougeL"] and rouge["verdict"] in ("better", "worse", "same")
    assert report["resamples"] == 1000
    assert report["drift"]["line"].startswith("general answers: log-likelihood")
    assert report["drift"]["flagged"] == summary["drift"]["flagged"]
    first = report["examples"][0]
    assert first["difference"] == first["score"] - first["baseline_score"]
