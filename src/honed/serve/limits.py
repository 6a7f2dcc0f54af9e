"""The server's limits, and the request-body limit as ASGI middleware.

FastAPI's own `max_body_size` (Starlette's RequestBodyLimitMiddleware) answers a body declared too large with a plain
text 413 and reads none of it; a client still uploading then loses that answer in a reset connection (measured here:
a 20 MB body got ECONNRESET, not a 413). This middleware reads on, dropping the bytes, up to a cap, and answers in
OpenAI's error shape.
"""

from __future__ import annotations

from dataclasses import dataclass

from honed.serve.replies import error_response

DRAIN_CAP = 64 * 2**20  # bytes of an oversized body read and dropped so its client sees the 413


@dataclass
class Limits:
    max_body_bytes: int = 2 * 2**20
    max_queue: int = 8
    max_batch: int = 16
    timeout_s: float = 120.0
    default_max_tokens: int = 256


class BodyLimit:
    """Reads each request's body first: over the limit it answers 413, within it the app gets the body as sent."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        body, size, complete = await _read(receive, self.max_bytes)
        if not complete:
            return None  # the client left mid-upload
        if size > self.max_bytes:
            response = error_response(413, f"request body of {size} bytes is over the {self.max_bytes}-byte limit "
                                           "(--max-body-mb)")
            return await response(scope, receive, send)
        delivered = False

        async def replay():
            nonlocal delivered
            if delivered:
                return await receive()  # after the body: the disconnect the app may wait for
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await self.app(scope, replay, send)


async def _read(receive, limit: int) -> tuple[bytes, int, bool]:
    """(body, bytes received, whether the client sent it all or the drain cap was reached). Bytes beyond the limit
    are counted and dropped."""
    chunks, size = [], 0
    while size <= DRAIN_CAP:
        message = await receive()
        if message["type"] != "http.request":
            return b"", size, False
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks), size, True
