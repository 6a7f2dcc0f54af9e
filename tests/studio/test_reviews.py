"""Reviews from the studio: started from two sides and a test file, served behind a token of their own (a reviewer's
link opens the review and nothing else), rated, and exported as training rows."""

from __future__ import annotations

import json
import re

from honed.review import Store
from honed.review.preferences import export_rows
from honed.training import fit
from tiny import MEMORISE, write_jsonl


def test_a_review_started_in_the_studio_is_rated_through_its_own_link(workspace, tiny_model):
    from fastapi.testclient import TestClient

    from honed.studio import create_app

    data = write_jsonl(workspace / "data" / "memorise.jsonl", MEMORISE * 2)
    fit({"model": str(tiny_model), "data": {"train": str(data), "test": str(data)}, "training": {"max_steps": 1},
         "eval": {"generation": {"max_new_tokens": 4}}, "output": str(workspace / "runs" / "tiny")})
    app = create_app(workspace, token="team-secret", start_queue=False)
    team = TestClient(app, headers={"X-CSRF-Token": app.state.studio.guard.csrf})
    team.cookies.set("honed_studio", "team-secret")
    review = team.post("/api/reviews", json={"a": "runs/tiny", "b": "base", "data": "data/memorise.jsonl"}).json()
    assert review["items"] == len(MEMORISE) * 2 and review["labels"][1].startswith("base")
    assert "runs/tiny" in team.get("/reviews").text

    reviewer = TestClient(app)  # only the link: no studio token
    start = reviewer.get(review["link"])
    assert start.status_code == 200 and "Your name" in start.text
    assert reviewer.get("/").status_code == 401 and reviewer.get("/api/runs").status_code == 401
    assert reviewer.post("/api/launch", json={}).status_code in (401, 403)
    page = reviewer.get(f"/reviews/{review['id']}/review", params={"reviewer": "ann"}).text
    fields = dict(re.findall(r'<input type=hidden name=(\w+) value="([^"]*)"', page))
    rated = reviewer.post(f"/reviews/{review['id']}/rate", data={**fields, "choice": "left"},
                          headers={"Origin": "http://testserver"}, follow_redirects=False)
    assert rated.status_code == 303 and rated.headers["location"].startswith(f"/reviews/{review['id']}/review")
    assert "1 of" in reviewer.get(rated.headers["location"]).text
    assert reviewer.get(f"/api/reviews/{review['id']}/export").status_code == 401  # training data is the team's

    exported = team.get(f"/api/reviews/{review['id']}/export", params={"kind": "kto"})
    store = Store(workspace / ".honed-studio" / "reviews" / f"{review['id']}.sqlite")
    assert [r["choice"] for r in store.ratings()] == [("a" if store.a_on_left(1, "ann") else "b")]
    assert [json.loads(line) for line in exported.text.splitlines()] == export_rows(store, "kto")[0]
    assert "attachment" in exported.headers["content-disposition"]
    restarted = TestClient(create_app(workspace, token="team-secret", start_queue=False))
    assert restarted.get(review["link"]).status_code == 200  # mounted again after a restart
