"""Who may use the studio: one token for the team (required off loopback), and a CSRF token on every post.

The token arrives once (`?token=` in the link the studio prints, or `Authorization: Bearer`) and is kept in a cookie;
every POST must carry the page's CSRF token in `X-CSRF-Token` (pages post with fetch, so no form parser is needed).
FastAPI has no such guard built in for an app of pages; this is the dependency every router takes.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import HTTPException, Request

from honed.errors import UserError

COOKIE = "honed_studio"


def check_bind(host: str, token: str | None) -> None:
    """A studio reachable from other machines launches processes: it needs a token."""
    from honed.serve.server import is_loopback

    if token is None and not is_loopback(host):
        raise UserError(f"--host {host} makes the studio reachable from other machines: give --token as well")


class Guard:
    def __init__(self, token: str | None):
        self.token = token
        self.csrf = secrets.token_urlsafe(24)

    def __call__(self, request: Request) -> None:
        if self.token is not None and not self._has_token(request):
            raise HTTPException(401, "this studio needs its token: open the link the studio printed")
        if request.method not in ("GET", "HEAD") and not hmac.compare_digest(
                request.headers.get("x-csrf-token", ""), self.csrf):
            raise HTTPException(403, "missing or wrong CSRF token: reload the page")

    def _has_token(self, request: Request) -> bool:
        given = [request.cookies.get(COOKIE, ""), request.query_params.get("token", ""),
                 request.headers.get("authorization", "").removeprefix("Bearer ")]
        return any(hmac.compare_digest(value, self.token) for value in given if value)

    def remember(self, request: Request, response) -> None:
        """The first visit's `?token=` becomes a cookie, so links inside the studio need not carry it."""
        if self.token is not None and request.query_params.get("token") == self.token:
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict")
