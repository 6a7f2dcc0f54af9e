"""A comparison from the studio: `honed compare` queued like a training; its table fills as techniques finish and
its plots appear once written."""

from __future__ import annotations

import time

from tiny import MEMORISE, write_jsonl


def test_a_two_technique_quick_comparison_fills_its_table_and_plots(workspace, tiny_model):
    from fastapi.testclient import TestClient

    from honed.studio import create_app

    write_jsonl(workspace / "data" / "memorise.jsonl", MEMORISE * 4)
    app = create_app(workspace, poll_s=0.2)
    with TestClient(app, headers={"X-CSRF-Token": app.state.studio.guard.csrf}) as studio:
        refused = studio.post("/api/comparisons", json={"name": "x", "methods": ["lora", "nope"]})
        assert refused.status_code == 400 and "methods" in refused.json()["error"]
        started = studio.post("/api/comparisons", json={
            "name": "two", "model": str(tiny_model), "train": "data/memorise.jsonl", "test": "data/memorise.jsonl",
            "methods": ["lora", "ia3"], "budget": "quick"})
        assert started.status_code == 200, started.text
        seen_rows = set()
        deadline = time.monotonic() + 400
        while (state := studio.get("/api/comparison/comparisons/two").json())["job"]["state"] != "ended":
            assert time.monotonic() < deadline, state
            seen_rows.add(len(state["rows"]))
            time.sleep(0.2)
        assert state["job"]["exit_code"] == 0, state
        assert len(state["rows"]) == 3 and "technique" in state["headers"]  # base, lora, ia3
        assert len(seen_rows) >= 2  # rows appeared while it ran
        assert {p.rsplit("/", 1)[-1] for p in state["plots"]} >= {"loss_curves.png", "quality_vs_params.png"}
        png = studio.get("/comparison-file", params={"file": state["plots"][0]})
        assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
        assert "comparisons/two" in studio.get("/comparisons").text
        assert studio.get("/comparison/comparisons/two").status_code == 200
