"""Comparisons from the studio: what a start is refused for, and a comparison's folder read back as its page shows
it (a whole comparison runs from the page in test_studio_browser.py)."""

from __future__ import annotations

import json

from honed.compare.results import ContestantResult


def test_a_comparison_is_refused_before_anything_runs(workspace, studio):
    for body, field in [({"name": "../x", "methods": ["lora"]}, "name"), ({"name": "x", "methods": ["lora", "nope"]},
                                                                         "methods"),
                        ({"name": "x", "methods": []}, "methods"), ({"name": "x", "methods": ["lora"],
                                                                     "budget": "huge"}, "budget")]:
        refused = studio.post("/api/comparisons", json=body)
        assert refused.status_code == 400 and refused.json()["error"].startswith(field), refused.text
    assert not (workspace / ".honed-studio" / "queue.json").exists()


def test_a_comparisons_table_is_the_reports_table_of_the_results_so_far(workspace, studio):
    from honed.compare.table import table

    out = workspace / "comparisons" / "two"
    results = []
    for label, method, rouge in (("base", None, 10.0), ("lora", "lora", 30.0)):
        (out / label).mkdir(parents=True)
        result = ContestantResult(label=label, method=method, status="ok", fingerprint="f", trainable_params=8,
                                  metrics={"rougeL": rouge})
        (out / label / "result.json").write_text(json.dumps(result.model_dump(mode="json")))
        results.append(result)
    (out / "compare.json").write_text("{}")
    state = studio.get("/api/comparison/comparisons/two").json()
    headers, cells, best = table(results)
    assert (state["headers"], state["rows"], state["best"]) == (headers, cells, best)
    assert state["plots"] == [] and state["report"] is None and state["job"] is None
    assert "comparisons/two" in studio.get("/comparisons").text
    assert studio.get("/comparison/comparisons/two").status_code == 200
    assert studio.get("/comparison-file", params={"file": "data/train.jsonl"}).status_code == 400
