"""honed serve's API as honed studio mounts it, behind the interface the serve tests start servers with, so that
every one of them runs against both."""

from __future__ import annotations

from pathlib import Path

from honed.serve import Limits


def _path(server, path: str) -> str:
    """A route as the server's clients address it (the studio serves the API under /openai)."""
    return getattr(server, "prefix", "") + path


class InTheStudio:
    """The same API mounted in honed studio for the same runs (its /openai prefix), behind serve's interface."""

    prefix = "/openai"

    def __init__(self, runs: list[Path], limits: Limits):
        from fastapi.testclient import TestClient

        from honed.serve.server import Server
        from honed.studio import create_app

        app = create_app(runs[0].parent, start_queue=False, serve_limits=limits, serve_precision="fp32")
        studio = TestClient(app, headers={"X-CSRF-Token": app.state.studio.guard.csrf})
        assert studio.post("/api/serve", json={"runs": [p.name for p in runs]}).status_code == 200
        self.studio, self.httpd = app.state.studio, Server(app, "127.0.0.1", 0)
        self.server_address = self.httpd.server_address

    @property
    def service(self):
        return next(r.app for r in self.httpd.app.router.routes if getattr(r, "path", "") == self.prefix).state.service

    def serve_forever(self):
        self.httpd.serve_forever()

    def shutdown(self):
        self.httpd.shutdown()

    def server_close(self):
        self.httpd.server_close()
        self.studio.served.close()
