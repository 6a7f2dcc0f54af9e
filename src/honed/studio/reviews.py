"""Reviews started from the studio: two runs (or a run and its base) answer a test file, and people rate the pairs
blind. Each review is honed.review's own app mounted at /reviews/ID with a token of its own, so the link a reviewer
gets opens the review's pages and nothing else of the studio (no launching, exporting or chatting)."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response

from honed.errors import UserError
from honed.studio.workspace import STUDIO_DIR

REVIEWS_DIR = "reviews"


def folder(studio) -> Path:
    return studio.workspace.root / STUDIO_DIR / REVIEWS_DIR


def reviews(studio) -> list[dict]:
    found = []
    for meta in sorted(folder(studio).glob("*.json")):
        review = json.loads(meta.read_text())
        found.append({**review, "link": f"/reviews/{review['id']}/?token={review['token']}"})
    return found


def mount(app, studio, review: dict) -> None:
    """Serves the review's pages at /reviews/ID (also for reviews made before a studio restart)."""
    from honed.review import Store
    from honed.review.server import make_review_app

    base = f"/reviews/{review['id']}"
    store = Store(folder(studio) / f"{review['id']}.sqlite")
    app.mount(base, make_review_app(store, review["token"], base))


def router(studio, app) -> APIRouter:
    routes = APIRouter()
    workspace = studio.workspace

    @routes.get("/reviews")
    def reviews_page(request: Request):
        runs = workspace.run_names()
        return studio.page(request, "reviews.html", reviews=reviews(studio), runs=runs, files=workspace.files())

    @routes.post("/api/reviews")
    async def start(request: Request):
        """Answers both sides (generating what their runs have not answered yet), then opens the review."""
        from starlette.concurrency import run_in_threadpool

        body = await request.json()
        sides = [str(body.get(key) or "") for key in ("a", "b")]
        if not all(sides) or sides[0] == sides[1]:
            raise UserError("pick two different sides: two runs, or a run and 'base'")
        paths = ["base" if side == "base" else str(workspace.run(side)) for side in sides]
        data = str(workspace.inside(body["data"])) if body.get("data") else None
        review = await run_in_threadpool(_create, studio, paths, data, sides)
        mount(app, studio, review)
        return {**review, "link": f"/reviews/{review['id']}/?token={review['token']}"}

    @routes.get("/api/reviews/{review_id}/export")
    def export(review_id: str, kind: str = "preferences"):
        """The ratings as training rows (honed review --export): preference pairs or KTO rows, JSONL."""
        from honed.review import Store
        from honed.review.preferences import export_rows

        if kind not in ("preferences", "kto"):
            raise UserError("kind: preferences or kto")
        path = folder(studio) / f"{_safe_id(review_id)}.sqlite"
        if not path.is_file():
            raise UserError(f"no review {review_id}")
        rows, _ = export_rows(Store(path), kind)
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        return Response(text, media_type="application/jsonl", headers={
            "Content-Disposition": f'attachment; filename="review-{_safe_id(review_id)}-{kind}.jsonl"'})

    return routes


def _create(studio, paths: list[str], data: str | None, sides: list[str]) -> dict:
    from honed.review import Store, load_answers
    from honed.review.sides import load_conversations

    label_a, label_b, items = load_answers(paths[0], paths[1], data)
    folder(studio).mkdir(parents=True, exist_ok=True)
    review_id = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)
    store = Store(folder(studio) / f"{review_id}.sqlite")
    store.setup(label_a, label_b, items, load_conversations(paths[0], paths[1]))
    review = {"id": review_id, "a": sides[0], "b": sides[1], "labels": [label_a, label_b], "items": len(items),
              "data": data, "token": secrets.token_urlsafe(16), "created": time.time()}
    (folder(studio) / f"{review_id}.json").write_text(json.dumps(review, indent=1))
    return review


def _safe_id(review_id: str) -> str:
    if not review_id.replace("-", "").isalnum():
        raise UserError(f"no review {review_id}")
    return review_id
