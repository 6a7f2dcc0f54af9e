"""The review web app: one prompt at a time, two answers in a blind random order, keyboard shortcuts, results.

Standard-library HTTP server and hand-written HTML: a handful of pages, no framework to install. Every dynamic value
is HTML-escaped; no request parameter names a file; posts must come from this site and carry the reviewer's token.
"""

from __future__ import annotations

import hmac
import html
import json
import logging
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlparse

from honed.errors import UserError
from honed.review.pages import results_page, review_page, start_page
from honed.review.results import csv_export, results
from honed.review.stats import CHOICES
from honed.review.store import CRITERIA, Store
from honed.serve.server import is_loopback

log = logging.getLogger("honed")
MAX_FORM_BYTES = 64 * 1024
MAX_NAME = 64


def make_review_server(store: Store, host: str = "127.0.0.1", port: int = 8765,
                       token: str | None = None) -> ThreadingHTTPServer:
    if not is_loopback(host) and not token:
        raise UserError(f"--host {host} reaches beyond this machine: pass --token SECRET (open the printed URL, "
                        "which carries it), or bind to 127.0.0.1")

    class Handler(_Handler):
        pass

    Handler.store, Handler.token = store, token
    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


class HttpError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class _Handler(BaseHTTPRequestHandler):
    server_version = "honed-review"
    store: Store
    token: str | None

    def log_message(self, format, *args):
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self):
        self._answer(self._get)

    def do_POST(self):
        self._answer(self._post)

    def _answer(self, handle):
        try:
            handle()
        except HttpError as error:
            self._send(error.status, "text/plain; charset=utf-8", error.message.encode())
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception:
            log.exception("review request failed")
            self._send(500, "text/plain; charset=utf-8", b"internal error")

    # routes

    def _get(self):
        url = urlparse(self.path)
        query = parse_qs(url.query)
        self._check_token(query)
        if url.path == "/":
            return self._html(start_page(self.store.meta(), self.store.item_count(), self._token_query()))
        if url.path == "/review":
            reviewer = self._reviewer(query)
            return self._review(reviewer)
        if url.path == "/results":
            return self._html(results_page(results(self.store), self._token_query()))
        if url.path == "/results.json":
            return self._send(200, "application/json", json.dumps(results(self.store), indent=2).encode())
        if url.path == "/results.csv":
            return self._send(200, "text/csv; charset=utf-8", csv_export(self.store).encode())
        raise HttpError(404, "no such page")

    def _post(self):
        url = urlparse(self.path)
        if url.path != "/rate":
            raise HttpError(404, "no such page")
        self._check_same_origin()
        form = self._form()
        self._check_token(form)
        reviewer = self._reviewer(form)
        if not hmac.compare_digest(_one(form, "form_token"), self.store.form_token(reviewer)):
            raise HttpError(403, "form token missing or wrong: reload the review page")
        item_id = _int(_one(form, "item_id"), "item_id")
        if self.store.item(item_id) is None:
            raise HttpError(404, f"no item {item_id}")
        side = _one(form, "choice")
        a_left = self.store.a_on_left(item_id, reviewer)
        choice = {"left": "a" if a_left else "b", "right": "b" if a_left else "a", "tie": "tie",
                  "both_bad": "both_bad"}.get(side)
        if choice is None:
            raise HttpError(400, "choice must be left, right, tie or both_bad")
        scores = {}
        for position, letter in (("left", "a" if a_left else "b"), ("right", "b" if a_left else "a")):
            for criterion in CRITERIA:
                value = _one(form, f"{position}_{criterion}")
                if value:
                    score = _int(value, f"{position}_{criterion}")
                    if not 1 <= score <= 5:
                        raise HttpError(400, f"{position}_{criterion} must be 1 to 5")
                    scores[f"{letter}_{criterion}"] = score
        comment = _one(form, "comment")[:2000] or None
        self.store.rate(item_id, reviewer, choice, a_left, scores, comment)
        self.send_response(303)
        self.send_header("Location", f"/review?reviewer={quote(reviewer)}{self._token_query('&')}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _review(self, reviewer: str):
        item = self.store.next_item(reviewer)
        done, total = self.store.rated_count(reviewer), self.store.item_count()
        if item is None:
            return self._html(review_page(None, reviewer, done, total, None, "", self._token_query()))
        a_left = self.store.a_on_left(item.id, reviewer)
        left, right = (item.answer_a, item.answer_b) if a_left else (item.answer_b, item.answer_a)
        self._html(review_page(item, reviewer, done, total, (left, right), self.store.form_token(reviewer),
                               self._token_query()))

    # checks

    def _check_token(self, values: dict):
        if not self.token:
            return
        sent = _one(values, "token") or self._cookie("honed_review_token")
        if not hmac.compare_digest(sent.encode(), self.token.encode()):
            raise HttpError(401, "this review needs its token: open the URL printed by honed review")

    def _cookie(self, name: str) -> str:
        for part in self.headers.get("Cookie", "").split(";"):
            key, _, value = part.strip().partition("=")
            if key == name:
                return value
        return ""

    def _check_same_origin(self):
        """Browsers send Origin (or at least Referer) on form posts: one naming another site is refused."""
        host = self.headers.get("Host", "")
        origin = self.headers.get("Origin") or self.headers.get("Referer")
        if origin and origin != "null" and urlparse(origin).netloc == host:
            return
        raise HttpError(403, "cross-origin form post refused")

    def _reviewer(self, values: dict) -> str:
        name = " ".join(_one(values, "reviewer").split())
        if not name or len(name) > MAX_NAME:
            raise HttpError(400, f"reviewer name required (1-{MAX_NAME} characters)")
        return name

    def _form(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_FORM_BYTES:
            raise HttpError(413, "form too large")
        return parse_qs(self.rfile.read(length).decode("utf-8", errors="replace"), keep_blank_values=True)

    def _token_query(self, joiner: str = "?") -> str:
        return f"{joiner}token={quote(self.token)}" if self.token else ""

    # responses

    def _html(self, page: str):
        self._send(200, "text/html; charset=utf-8", page.encode())

    def _send(self, status: int, kind: str, body: bytes):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'; "
                                                    "script-src 'unsafe-inline'; form-action 'self'")
        if self.token:
            self.send_header("Set-Cookie", f"honed_review_token={self.token}; HttpOnly; SameSite=Strict; Path=/")
        self.end_headers()
        self.wfile.write(body)


def _one(values: dict, key: str) -> str:
    found = values.get(key) or [""]
    return found[0] if isinstance(found, list) else str(found)


def _int(value: str, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise HttpError(400, f"{name} must be a whole number (got {html.escape(str(value))[:40]})") from None


__all__ = ["CHOICES", "make_review_server"]
