"""The review web app: one prompt at a time, two answers in a blind random order, keyboard shortcuts, results.

A FastAPI router over one review's store: `honed review` serves it alone (make_review_server), and the studio mounts
it under a prefix. Every dynamic value is HTML-escaped (pages.py); no request parameter names a file; posts must come
from this site and carry the reviewer's form token; with a token, every request needs it (query, form or cookie).
"""

from __future__ import annotations

import hmac
import html
import json
import logging
from urllib.parse import parse_qs, quote, urlparse

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response

from honed.errors import UserError
from honed.review.pages import results_page, review_page, start_page
from honed.review.results import csv_export, results
from honed.review.stats import CHOICES
from honed.review.store import CRITERIA, Store
from honed.serve.server import Server, is_loopback

log = logging.getLogger("honed")
MAX_FORM_BYTES = 64 * 1024
MAX_NAME = 64
COOKIE = "honed_review_token"
_HEADERS = {"X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
                                       "form-action 'self'"}


def make_review_server(store: Store, host: str = "127.0.0.1", port: int = 8765, token: str | None = None) -> Server:
    if not is_loopback(host) and not token:
        raise UserError(f"--host {host} reaches beyond this machine: pass --token SECRET (open the printed URL, "
                        "which carries it), or bind to 127.0.0.1")
    return Server(make_review_app(store, token), host, port)


def make_review_app(store: Store, token: str | None = None, base: str = "") -> FastAPI:
    """The review alone in an app of its own: what `honed review` serves at the root, and what the studio mounts
    at `base` (its pages link there)."""
    app = FastAPI(title="honed review", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(review_router(store, token, base, prefix=""))

    @app.exception_handler(HTTPException)
    async def plain(request: Request, error: HTTPException):
        return PlainTextResponse(str(error.detail), status_code=error.status_code, headers=_HEADERS)

    return app


def review_router(store: Store, token: str | None = None, base: str = "", prefix: str | None = None) -> APIRouter:
    """The review's pages, linking under `base` (e.g. '/reviews/3' in the studio) and routed under `prefix` (base,
    unless the app is mounted there). Its own token guards it, so a reviewer's link opens these pages and nothing
    else of the app around it."""

    async def guard(request: Request) -> None:
        if token is None:
            return
        sent = request.query_params.get("token") or request.cookies.get(COOKIE, "")
        if not sent and request.method == "POST":  # the form's hidden field (the body is kept for the route)
            sent = _one(await _form(request), "token")
        if not hmac.compare_digest(sent.encode(), token.encode()):
            raise HTTPException(401, "this review needs its token: open the URL printed by honed review")

    routes = APIRouter(prefix=base if prefix is None else prefix, dependencies=[Depends(guard)])
    token_query = f"?token={quote(token)}" if token else ""

    def page(text: str, status: int = 200, kind: str = "text/html; charset=utf-8") -> Response:
        response = Response(text, status_code=status, media_type=kind, headers=_HEADERS)
        if token:
            response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path=base or "/")
        return response

    @routes.get("/")
    def start():
        return page(start_page(store.meta(), store.item_count(), token_query, base))

    @routes.get("/review")
    def review(reviewer: str = ""):
        reviewer = _reviewer(reviewer)
        item = store.next_item(reviewer)
        done, total = store.rated_count(reviewer), store.item_count()
        if item is None:
            return page(review_page(None, reviewer, done, total, None, "", token_query, base))
        a_left = store.a_on_left(item.id, reviewer)
        answers = (item.answer_a, item.answer_b) if a_left else (item.answer_b, item.answer_a)
        return page(review_page(item, reviewer, done, total, answers, store.form_token(reviewer), token_query, base))

    @routes.get("/results")
    def results_html():
        return page(results_page(results(store), token_query, base))

    @routes.get("/results.json")
    def results_json():
        return page(json.dumps(results(store), indent=2), kind="application/json")

    @routes.get("/results.csv")
    def results_csv():
        return page(csv_export(store), kind="text/csv; charset=utf-8")

    @routes.post("/rate")
    async def rate(request: Request):
        _check_same_origin(request)
        form = await _form(request)
        reviewer = _reviewer(_one(form, "reviewer"))
        if not hmac.compare_digest(_one(form, "form_token"), store.form_token(reviewer)):
            raise HTTPException(403, "form token missing or wrong: reload the review page")
        item_id = _int(_one(form, "item_id"), "item_id")
        if store.item(item_id) is None:
            raise HTTPException(404, f"no item {item_id}")
        a_left = store.a_on_left(item_id, reviewer)
        choice = {"left": "a" if a_left else "b", "right": "b" if a_left else "a", "tie": "tie",
                  "both_bad": "both_bad"}.get(_one(form, "choice"))
        if choice is None:
            raise HTTPException(400, "choice must be left, right, tie or both_bad")
        scores = _scores(form, a_left)
        store.rate(item_id, reviewer, choice, a_left, scores, _one(form, "comment")[:2000] or None)
        joiner = "&" if token else ""
        return RedirectResponse(f"{base}/review?reviewer={quote(reviewer)}{joiner}{token_query.lstrip('?')}",
                                status_code=303, headers=_HEADERS)

    return routes


def _scores(form: dict, a_left: bool) -> dict[str, int]:
    scores = {}
    for position, letter in (("left", "a" if a_left else "b"), ("right", "b" if a_left else "a")):
        for criterion in CRITERIA:
            value = _one(form, f"{position}_{criterion}")
            if value:
                score = _int(value, f"{position}_{criterion}")
                if not 1 <= score <= 5:
                    raise HTTPException(400, f"{position}_{criterion} must be 1 to 5")
                scores[f"{letter}_{criterion}"] = score
    return scores


def _check_same_origin(request: Request) -> None:
    """Browsers send Origin (or at least Referer) on form posts: one naming another site is refused."""
    host = request.headers.get("host", "")
    origin = request.headers.get("origin") or request.headers.get("referer")
    if origin and origin != "null" and urlparse(origin).netloc == host:
        return
    raise HTTPException(403, "cross-origin form post refused")


async def _form(request: Request) -> dict:
    """The urlencoded form (FastAPI's Form() would need python-multipart for this one small form)."""
    if int(request.headers.get("content-length") or 0) > MAX_FORM_BYTES:
        raise HTTPException(413, "form too large")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise HTTPException(413, "form too large")
    return parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)


def _reviewer(name: str) -> str:
    name = " ".join(name.split())
    if not name or len(name) > MAX_NAME:
        raise HTTPException(400, f"reviewer name required (1-{MAX_NAME} characters)")
    return name


def _one(values: dict, key: str) -> str:
    found = values.get(key) or [""]
    return found[0] if isinstance(found, list) else str(found)


def _int(value: str, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise HTTPException(400, f"{name} must be a whole number (got {html.escape(str(value))[:40]})") from None


__all__ = ["CHOICES", "make_review_app", "make_review_server", "review_router"]
