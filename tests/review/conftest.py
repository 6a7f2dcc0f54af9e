from __future__ import annotations

import threading

import pytest

from honed.review import Store, make_review_server

ITEMS = [
    ("Where is my order <b>123</b>?", "It ships Monday.", "A says: <script>alert('x')</script> ships Monday",
     "B says: soon"),
    ("How do I reset my password?", "Open settings.", "A: open settings", "B: call us"),
    ("Can I pause my plan?", "Yes, for 3 months.", "A: yes", "B: no"),
]


@pytest.fixture
def store(tmp_path) -> Store:
    store = Store(tmp_path / "review.sqlite")
    store.setup("support-lora", "base", ITEMS)
    return store


@pytest.fixture
def review_server(store):
    servers = []

    def start(token: str | None = None):
        server = make_review_server(store, "127.0.0.1", 0, token)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
