"""honed serve's API mounted in the studio: the runs picked, answered as honed serve answers them, behind serve's
Bearer key rather than the studio's token."""

from __future__ import annotations

from honed.training import fit
from tiny import MEMORISE, write_jsonl


def test_the_studio_serves_picked_runs_through_the_openai_api(workspace, tiny_model):
    from fastapi.testclient import TestClient

    from honed.serve.pool import load_pool
    from honed.serve.server import make_app
    from honed.studio import create_app

    data = write_jsonl(workspace / "data" / "memorise.jsonl", MEMORISE)
    run = fit({"model": str(tiny_model), "data": {"train": str(data)},
               "training": {"max_steps": 10, "learning_rate": 0.01, "warmup": 0},
               "output": str(workspace / "runs" / "taught")}).run_dir
    app = create_app(workspace, token="team", start_queue=False)
    with TestClient(app, headers={"X-CSRF-Token": app.state.studio.guard.csrf}) as studio:
        studio.cookies.set("honed_studio", "team")
        refused = studio.post("/api/serve", json={"runs": ["runs/taught"]})
        assert refused.status_code == 400 and "api_key" in refused.json()["error"]
        served = studio.post("/api/serve", json={"runs": ["runs/taught"], "api_key": "k3y"}).json()
        assert served["base_url"].endswith("/openai/v1") and "taught" in served["models"]
        client = TestClient(app)  # an OpenAI client: serve's key, no studio token
        ask = {"model": "taught", "messages": [{"role": "user", "content": MEMORISE[0]["prompt"]}], "max_tokens": 8}
        assert client.post("/openai/v1/chat/completions", json=ask).status_code == 401
        answer = client.post("/openai/v1/chat/completions", json=ask, headers={"Authorization": "Bearer k3y"})
        assert answer.status_code == 200
        assert client.get("/api/runs", headers={"Authorization": "Bearer k3y"}).status_code == 401  # not the studio
        alone = TestClient(make_app(load_pool([str(run)]), "k3y"))
        expected = alone.post("/v1/chat/completions", json=ask, headers={"Authorization": "Bearer k3y"}).json()
        assert answer.json()["choices"][0]["message"] == expected["choices"][0]["message"]
        stopped = studio.post("/api/serve", json={"runs": [], "api_key": "k3y"}).json()
        assert stopped["base_url"] is None
        assert client.post("/openai/v1/chat/completions", json=ask,
                           headers={"Authorization": "Bearer k3y"}).status_code in (401, 404)
