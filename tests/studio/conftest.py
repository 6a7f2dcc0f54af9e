"""A workspace with data, and the studio over it, in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

from tiny import write_jsonl
from workspaces import ROWS


@pytest.fixture
def workspace(tmp_path) -> Path:
    root = tmp_path / "workspace"
    (root / "data").mkdir(parents=True)
    write_jsonl(root / "data" / "train.jsonl", ROWS)
    write_jsonl(root / "data" / "test.jsonl", ROWS[:3] + [{"prompt": "New question?", "completion": "New answer."}])
    return root


@pytest.fixture
def studio(workspace):
    from fastapi.testclient import TestClient

    from honed.studio import create_app

    app = create_app(workspace, start_queue=False)
    client = TestClient(app)
    client.headers["X-CSRF-Token"] = app.state.studio.guard.csrf
    return client
