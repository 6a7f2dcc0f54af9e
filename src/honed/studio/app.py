"""The studio: one FastAPI app over a workspace folder, a router per concern (runs, new runs), one guard for all.

`create_app(workspace)` is what `honed studio` serves and what the tests drive in-process; later concerns (review,
the OpenAI-compatible API) come in as routers of the same app.

Why FastAPI with Jinja2 templates rather than a UI framework, measured here (2026-12-06, fresh venv, Python 3.11):
Gradio 6.31 (LlamaBoard's choice) adds 83 MB plus pandas and pillow, takes 2.6 s to import, and builds its own app
(Blocks) rather than routers on ours; NiceGUI 3.18 adds 29 MB and imports in 0.55 s, but keeps each visitor's page
as server state over a websocket, where the studio is meant to hold none. FastAPI (already `honed serve`'s) and
Jinja2 (already transformers') add nothing; this module imports in 0.4 s; each page is plain HTTP that the tests
fetch in-process, with autoescaping on, and charts are matplotlib SVG (charts.py).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import jinja2
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.templating import Jinja2Templates

from honed.errors import UserError
from honed.studio.chat import Models
from honed.studio.guard import Guard
from honed.studio.openai import Mounted
from honed.studio.trainings import Trainings
from honed.studio.workspace import Workspace

TEMPLATES = Path(__file__).parent / "templates"


class Studio:
    """What every router of one studio shares."""

    def __init__(self, workspace: Path, token: str | None = None, upload_limit_mb: float = 100, poll_s: float = 0.5,
                 served: Mounted | None = None):
        self.workspace = Workspace(Path(workspace))
        self.guard = Guard(token)
        self.trainings = Trainings(self.workspace, poll_s)
        self.upload_limit = int(upload_limit_mb * 1024 * 1024)
        self.poll_s = poll_s
        self.models = Models()  # what the chat pages have loaded
        self.served = served or Mounted()  # the runs behind /openai
        environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
        self.templates = Jinja2Templates(env=environment)

    def page(self, request: Request, template: str, **context):
        response = self.templates.TemplateResponse(request, template, {"csrf": self.guard.csrf, **context})
        self.guard.remember(request, response)
        return response


def create_app(workspace: Path, token: str | None = None, upload_limit_mb: float = 100, poll_s: float = 0.5,
               start_queue: bool = True, serve_limits=None, serve_precision: str = "auto") -> FastAPI:
    """`serve_limits` and `serve_precision`: honed serve's Limits and --precision for the API the studio mounts."""
    from honed.studio import chat, comparisons, data, evaluate, launch, openai, reviews, runs, ship

    studio = Studio(workspace, token, upload_limit_mb, poll_s, Mounted(serve_limits, serve_precision))

    @contextlib.asynccontextmanager
    async def lifespan(app):
        if start_queue:
            studio.trainings.start_background()
        yield
        studio.trainings.close()
        studio.models.close()
        studio.served.close()

    app = FastAPI(title="honed studio", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.studio = studio
    for router in (runs.router(studio), launch.router(studio), data.router(studio), reviews.router(studio, app),
                   chat.router(studio), evaluate.router(studio), ship.router(studio), comparisons.router(studio),
                   openai.router(studio, app)):
        app.include_router(router, dependencies=[Depends(studio.guard)])
    for review in reviews.reviews(studio):  # each behind its own token, not the studio's (reviews.py)
        reviews.mount(app, studio, review)

    @app.exception_handler(UserError)
    async def user_error(request: Request, error: UserError):
        return JSONResponse({"error": str(error)}, status_code=400)

    return app
