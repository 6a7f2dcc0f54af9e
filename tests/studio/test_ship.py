"""Export from the studio: `honed export` queued like a training, its files listed and downloadable, never
overwritten, and the GGUF one runs in llama.cpp."""

from __future__ import annotations

import time

import pytest

from honed.training import fit
from tiny import MEMORISE, write_jsonl


def _wait_for_export(studio, name: str) -> dict:
    deadline = time.monotonic() + 180
    while (state := studio.get(f"/api/export/{name}").json())["job"]["state"] != "ended":
        assert time.monotonic() < deadline, state
        time.sleep(0.2)
    return state


def test_a_gguf_export_from_the_studio_downloads_and_runs_in_llama_cpp(workspace, tiny_model, tmp_path):
    from fastapi.testclient import TestClient

    from honed.studio import create_app

    data = write_jsonl(workspace / "data" / "memorise.jsonl", MEMORISE)
    fit({"model": str(tiny_model), "data": {"train": str(data)}, "training": {"max_steps": 2},
         "output": str(workspace / "runs" / "tiny")})
    app = create_app(workspace, poll_s=0.2)
    with TestClient(app, headers={"X-CSRF-Token": app.state.studio.guard.csrf}) as studio:
        assert studio.get("/export/runs/tiny").status_code == 200
        assert studio.post("/api/export/runs/tiny", json={"kind": "gguf", "quant": "nope"}).status_code == 400
        first = studio.post("/api/export/runs/tiny", json={"kind": "gguf", "quant": "f16"}).json()["target"]
        state = _wait_for_export(studio, "runs/tiny")
        assert state["job"]["exit_code"] == 0 and "llama-cli -m" in state["job"]["note"]
        assert "ollama create" in state["job"]["note"]
        second = studio.post("/api/export/runs/tiny", json={"kind": "gguf", "quant": "f16"}).json()["target"]
        assert second != first  # a second export never replaces the first
        _wait_for_export(studio, "runs/tiny")
        files = {f["file"]: f["bytes"] for f in studio.get("/api/export/runs/tiny").json()["files"]}
        assert {first, second} <= set(files) and files[first] > 0
        downloaded = studio.get("/download", params={"file": first})
        assert downloaded.status_code == 200 and len(downloaded.content) == files[first]
        assert studio.get("/download", params={"file": "data/memorise.jsonl"}).status_code == 400
    llama_cpp = pytest.importorskip("llama_cpp")
    (tmp_path / "model.gguf").write_bytes(downloaded.content)
    llm = llama_cpp.Llama(model_path=str(tmp_path / "model.gguf"), n_ctx=64, verbose=False)
    assert llm.n_vocab() > 0 and llm.eval(llm.tokenize(b"hello")) is None
