"""Chat in the studio: a run and its base answer the same conversation, streamed, as the engine answers alone."""

from __future__ import annotations

from honed.training import fit
from tiny import MEMORISE, write_jsonl


def test_a_run_and_its_base_stream_their_own_answers(workspace, tiny_model):
    from fastapi.testclient import TestClient

    from honed.config import GenerationConfig
    from honed.data.encoding import generation_prompt_ids
    from honed.generation import generate
    from honed.rundir import load_run
    from honed.studio import create_app

    data = write_jsonl(workspace / "data" / "memorise.jsonl", MEMORISE)
    run = fit({"model": str(tiny_model), "data": {"train": str(data)},
               "training": {"max_steps": 10, "learning_rate": 0.01, "warmup": 0},  # moved, not yet silent
               "output": str(workspace / "runs" / "taught")}).run_dir
    app = create_app(workspace, start_queue=False)
    with TestClient(app, headers={"X-CSRF-Token": app.state.studio.guard.csrf}) as client:
        conversation = {"messages": [{"role": "user", "content": MEMORISE[0]["prompt"]}], "max_new_tokens": 12}
        answers = {}
        for side in ("runs/taught", "runs/taught#base"):
            with client.stream("POST", "/api/chat", json={**conversation, "model": side}) as response:
                assert response.status_code == 200
                pieces = list(response.iter_text())
            answers[side] = "".join(pieces)
        assert answers["runs/taught"] != answers["runs/taught#base"] and all(answers.values())
        loaded = load_run(run)
        prompt = generation_prompt_ids(loaded.tokenizer, conversation["messages"])
        expected = generate(loaded.model, loaded.tokenizer, [prompt], GenerationConfig(max_new_tokens=12))[0]
        assert answers["runs/taught"].strip() == expected
        assert "base model of runs/taught" in client.get("/chat").text
        refused = client.post("/api/chat", json={"model": "runs/taught", "messages": []})
        assert refused.status_code == 400 and "user's turn" in refused.json()["error"]
        assert client.post("/api/chat", json={"model": "../x", "messages": conversation["messages"]}).status_code == 400
