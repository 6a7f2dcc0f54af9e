"""`honed serve`'s OpenAI-compatible API inside the studio, for the runs the user picks: the same app (limits, Bearer
key, streaming, n/seed/top_k), mounted at /openai, so a team points its own OpenAI client at the studio while it
runs. Its routes keep serve's key rule, not the studio's token: a studio reachable from other machines (it has a
token) serves the API only with an --api-key of its own."""

from __future__ import annotations

import threading

from fastapi import APIRouter, Request
from starlette.routing import Mount

from honed.errors import UserError

PREFIX = "/openai"


class Mounted:
    """The served runs and their pool, one set at a time."""

    def __init__(self, limits=None, precision: str = "auto"):
        self.limits, self.precision = limits, precision  # honed serve's --max-batch, --max-queue, ... and --precision
        self.runs: list[str] = []
        self.pool = None
        self.lock = threading.Lock()

    def replace(self, app, runs: list[str], pool, api_key: str | None) -> None:
        from honed.serve.server import make_app

        served = make_app(pool, api_key, self.limits, self.precision) if pool is not None else None
        with self.lock:
            app.router.routes[:] = [r for r in app.router.routes if not (isinstance(r, Mount) and r.path == PREFIX)]
            if served is not None:
                app.mount(PREFIX, served)
            old, self.pool, self.runs = self.pool, pool, runs
        if old is not None:
            old.close()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()


def router(studio, app) -> APIRouter:
    routes = APIRouter()
    workspace = studio.workspace

    @routes.get("/serve")
    def serve_page(request: Request):
        runs = workspace.run_names()
        return studio.page(request, "serve.html", runs=runs, state=state(request))

    @routes.get("/api/serve")
    def state(request: Request) -> dict:
        names = sorted(studio.served.pool.models) if studio.served.pool is not None else []
        base = str(request.base_url).rstrip("/") + PREFIX + "/v1"
        return {"runs": studio.served.runs, "models": names, "base_url": base if names else None}

    @routes.post("/api/serve")
    async def start(request: Request):
        from starlette.concurrency import run_in_threadpool

        from honed.serve.pool import load_pool

        body = await request.json()
        runs = [str(r) for r in body.get("runs") or []]
        api_key = str(body.get("api_key") or "") or None
        if studio.guard.token is not None and api_key is None:
            raise UserError("api_key: this studio is reachable from other machines; give the API a key of its own "
                            "(clients send it as a Bearer token)")
        if not runs:
            studio.served.replace(app, [], None, None)
            return state(request)
        pool = await run_in_threadpool(load_pool, [str(workspace.run(r)) for r in runs])
        await run_in_threadpool(studio.served.replace, app, runs, pool, api_key)
        return state(request)

    return routes
