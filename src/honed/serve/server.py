"""An OpenAI-compatible HTTP server: /v1/models, /v1/chat/completions, /v1/completions (SSE streaming), /health.

FastAPI (on Starlette) routes, reads, validates (serve/schema.py) and streams; uvicorn serves. honed adds what a
model server needs beyond them: one generation at a time behind a bounded queue (serve/engine.py), a body limit that
still lets its 413 arrive (serve/limits.py), OpenAI's error shape, and a generation that stops when its client hangs
up, before the next request gets the model.
"""

from __future__ import annotations

import hmac
import ipaddress
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import anyio
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response, StreamingResponse

from honed.config import GenerationConfig
from honed.data.encoding import generation_prompt_ids
from honed.errors import UserError
from honed.serve.engine import Busy, Engine, Request as Job, TimedOut
from honed.serve.limits import BodyLimit, Limits
from honed.serve.pool import ModelPool, Served
from honed.serve.replies import Reply, error_response
from honed.serve.schema import ChatRequest, CompletionRequest, Sampling, describe_error
from honed.version import __version__


class ApiError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None, kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.param, self.kind = status, message, param, kind


@dataclass
class Service:
    """What every route shares: the models, the engine that runs them one at a time, the limits, the API key."""

    pool: ModelPool
    engine: Engine
    limits: Limits
    api_key: str | None = None

    def served(self, name: str) -> Served:
        try:
            return self.pool.get(name)
        except KeyError:
            raise ApiError(400, f"unknown model {name!r}; served here: {', '.join(self.pool.models)}",
                           "model") from None

    def job(self, body: Sampling, served: Served, prompt_ids: list[int]) -> Job:
        """The generation a request asks for; what the model's context cannot hold is refused here, not truncated."""
        max_tokens = body.token_limit()
        if max_tokens is None:
            max_tokens = max(1, min(self.limits.default_max_tokens, served.context_length - len(prompt_ids)))
        if len(prompt_ids) + max_tokens > served.context_length:
            raise ApiError(400, f"prompt ({len(prompt_ids)} tokens) plus max_tokens ({max_tokens}) exceeds the "
                                f"model's context of {served.context_length} tokens", "max_tokens")
        settings = GenerationConfig(max_new_tokens=max_tokens, temperature=body.temperature or 0.0,
                                    top_p=body.top_p or 1.0, stop=body.stops())
        return Job(prompt_ids, settings, time.monotonic() + self.limits.timeout_s)


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def make_app(pool: ModelPool, api_key: str | None = None, limits: Limits | None = None) -> FastAPI:
    limits = limits or Limits()
    app = FastAPI(title="honed", version=__version__)
    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes)
    app.state.service = Service(pool, Engine(limits.max_queue), limits, api_key)
    app.include_router(router)
    for kind, handler in ERROR_HANDLERS.items():
        app.add_exception_handler(kind, handler)
    return app


def make_server(pool: ModelPool, host: str = "127.0.0.1", port: int = 8000, api_key: str | None = None,
                limits: Limits | None = None) -> Server:
    if not is_loopback(host) and not api_key:
        raise UserError(f"--host {host} reaches beyond this machine: pass --api-key KEY (clients send it as a "
                        "Bearer token), or bind to 127.0.0.1")
    return Server(make_app(pool, api_key, limits), host, port)


# Routes

router = APIRouter()


def _service(request: Request) -> Service:
    return request.app.state.service


def authorise(request: Request) -> None:
    """The Bearer token, compared in constant time, when the server was started with --api-key."""
    key = _service(request).api_key
    sent = request.headers.get("authorization", "")
    if key and not hmac.compare_digest(sent.encode(), f"Bearer {key}".encode()):
        raise ApiError(401, "missing or wrong API key (send 'Authorization: Bearer KEY')", kind="authentication_error")


@router.get("/health")
def health(request: Request) -> dict:
    service = _service(request)
    return {"status": "ok", "models": list(service.pool.models), "waiting": service.engine.waiting}


@router.get("/v1/models", dependencies=[Depends(authorise)])
def models(request: Request) -> dict:
    return {"object": "list", "data": [{"id": name, "object": "model", "created": 0, "owned_by": served.owned_by}
                                       for name, served in _service(request).pool.models.items()]}


@router.post("/v1/chat/completions", dependencies=[Depends(authorise)])
async def chat_completions(body: ChatRequest, request: Request) -> Response:
    served = _service(request).served(body.model)
    messages = [message.model_dump() for message in body.messages]
    prompt_ids = await run_in_threadpool(generation_prompt_ids, served.tokenizer, messages)
    return await _answer(request, served, body, prompt_ids, chat=True)


@router.post("/v1/completions", dependencies=[Depends(authorise)])
async def completions(body: CompletionRequest, request: Request) -> Response:
    served = _service(request).served(body.model)
    encoded = await run_in_threadpool(served.tokenizer, body.text(), add_special_tokens=True)
    return await _answer(request, served, body, encoded["input_ids"], chat=False)


async def _answer(request: Request, served: Served, body: Sampling, prompt_ids: list[int], chat: bool) -> Response:
    service = _service(request)
    job = service.job(body, served, prompt_ids)
    reply = Reply(served.name, chat, len(prompt_ids))
    pieces = service.engine.run(served, job, reply.outcome)
    if body.stream:
        return await _stream(request, pieces, reply)
    text = "".join([piece async for piece in _pulled(pieces, request)])
    if reply.outcome.finish_reason == "timeout":
        raise TimedOut(f"generation ran past the {service.limits.timeout_s:g} s request timeout")
    return JSONResponse(reply.whole(text))


# Generation from the event loop: each piece fetched in a worker thread; however it ends, the engine's iterator is
# closed, which stops the generation and waits for it, so the model is idle before the next request takes it.


async def _stream(request: Request, pieces: Iterator[str], reply: Reply) -> Response:
    """The first piece is awaited before the response starts, so a full queue or a timeout still gets its status."""
    try:
        first = await anyio.to_thread.run_sync(next, pieces, None)
    except BaseException:
        await _close(pieces)
        raise
    return _EventStream(pieces, reply.events(first, _pulled(pieces, request)))


async def _pulled(pieces: Iterator[str], request: Request) -> AsyncIterator[str]:
    """The pieces until the last, or until the client has gone."""
    try:
        while not await request.is_disconnected():
            piece = await anyio.to_thread.run_sync(next, pieces, None)
            if piece is None:
                return
            yield piece
    finally:
        await _close(pieces)


async def _close(pieces: Iterator[str]) -> None:
    """Closes the engine's iterator in a worker thread (it waits for at most one more token), shielded so a
    cancelled request (client gone, server stopping) still frees the model."""
    with anyio.CancelScope(shield=True):
        await anyio.to_thread.run_sync(pieces.close)


class _EventStream(StreamingResponse):
    """Server-sent events that close the engine's iterator however the response ends: finished, cancelled by a
    disconnect, failed on a send, or never started (Starlette leaves a body it did not finish to the garbage
    collector, which would free the model whenever it got round to it)."""

    def __init__(self, pieces: Iterator[str], events: AsyncIterator[str]):
        super().__init__(events, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        self._pieces = pieces

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await _close(self._pieces)


# Errors, in OpenAI's shape


async def _api_error(request: Request, error: ApiError) -> JSONResponse:
    return error_response(error.status, error.message, error.kind, error.param)


async def _busy(request: Request, error: Busy) -> JSONResponse:
    return error_response(429, str(error), "rate_limit_error", code="queue_full")


async def _timed_out(request: Request, error: TimedOut) -> JSONResponse:
    return error_response(504, str(error), "timeout", code="timeout")


async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
    message, param = describe_error(error.errors()[0])
    return error_response(400, message, param=param)


async def _http(request: Request, error: HTTPException) -> JSONResponse:
    """Starlette's own refusals, such as no route or no such method on it."""
    if error.status_code == 404:
        message = f"no route {request.method} {request.url.path}"
    elif error.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    else:
        message = str(error.detail)
    return error_response(error.status_code, message, headers=error.headers)


async def _internal(request: Request, error: Exception) -> JSONResponse:
    """A bug: the client gets a 500, uvicorn logs the traceback."""
    return error_response(500, f"internal error: {type(error).__name__}", "server_error")


ERROR_HANDLERS = {ApiError: _api_error, Busy: _busy, TimedOut: _timed_out, RequestValidationError: _invalid,
                  HTTPException: _http, Exception: _internal}


# Serving


class Server:
    """uvicorn serving the app on a socket bound when this is made, behind the standard library's server interface
    (serve_forever, shutdown, server_close, server_address): port 0 picks a free port that is known at once, and an
    address that cannot be bound is the user's one-line error before anything loads onto it."""

    def __init__(self, app: FastAPI, host: str, port: int):
        import uvicorn

        self.app = app
        self.socket = _listen(host, port)
        self.server_address = self.socket.getsockname()[:2]
        # log_config=None: uvicorn's own logging setup would replace honed's; its warnings and tracebacks still
        # reach stderr. On Ctrl-C, answers in flight get 5 s to finish, then are cancelled (their generation stopped).
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", timeout_graceful_shutdown=5)
        self._uvicorn = uvicorn.Server(config)
        self._serving = threading.Lock()

    @property
    def service(self) -> Service:
        return self.app.state.service

    def serve_forever(self) -> None:
        """Serves until shutdown(), or Ctrl-C in the main thread (uvicorn stops gracefully, then re-raises it)."""
        with self._serving:
            self._uvicorn.run(sockets=[self.socket])

    def shutdown(self) -> None:
        """Stops serve_forever (running in another thread) and waits until it has returned."""
        self._uvicorn.should_exit = True
        with self._serving:
            pass

    def server_close(self) -> None:
        self.socket.close()


def _listen(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
        listener = socket.socket(family, kind, proto)
    except OSError as error:
        raise UserError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(128)
    except OSError as error:
        listener.close()
        raise UserError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    return listener


__all__ = ["ApiError", "Limits", "Server", "is_loopback", "make_app", "make_server"]
