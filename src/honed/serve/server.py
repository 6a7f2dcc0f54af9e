"""An OpenAI-compatible HTTP server: /v1/models, /v1/chat/completions, /v1/completions (SSE streaming), /health.

FastAPI (on Starlette) routes, reads, validates (serve/schema.py) and streams; uvicorn serves. honed adds what a
model server needs beyond them: concurrent requests decoded together behind a bounded queue (honed.generation's
engine, one per loaded model), a body limit that still lets its 413 arrive (serve/limits.py), OpenAI's error shape,
and a generation that leaves the batch when its client hangs up.
"""

from __future__ import annotations

import hmac
import ipaddress
import socket
import threading
import time
from collections.abc import AsyncIterator
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
from honed.generation import Answer, Busy, TimedOut
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
    """What every route shares: the models (each with its engine), the limits, the API key."""

    pool: ModelPool
    limits: Limits
    api_key: str | None = None

    def served(self, name: str) -> Served:
        try:
            return self.pool.get(name)
        except KeyError:
            raise ApiError(400, f"unknown model {name!r}; served here: {', '.join(self.pool.models)}",
                           "model") from None

    def submit(self, body: Sampling, served: Served, prompt_ids: list[int]) -> Answer:
        """Queues the generation a request asks for; what the model's context cannot hold is refused here, not
        truncated, and past the queue limit it raises Busy."""
        max_tokens = body.token_limit()
        if max_tokens is None:
            max_tokens = max(1, min(self.limits.default_max_tokens, served.context_length - len(prompt_ids)))
        if len(prompt_ids) + max_tokens > served.context_length:
            raise ApiError(400, f"prompt ({len(prompt_ids)} tokens) plus max_tokens ({max_tokens}) exceeds the "
                                f"model's context of {served.context_length} tokens", "max_tokens")
        choices = body.n or 1
        if choices > served.engine.max_batch:
            raise ApiError(400, f"n must be at most {served.engine.max_batch} here (--max-batch)", "n")
        settings = GenerationConfig(max_new_tokens=max_tokens, temperature=body.temperature or 0.0,
                                    top_p=body.top_p or 1.0, top_k=body.top_k or 0, seed=body.seed, stop=body.stops())
        return served.submit(prompt_ids, settings, time.monotonic() + self.limits.timeout_s, choices)


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def make_app(pool: ModelPool, api_key: str | None = None, limits: Limits | None = None,
             precision: str = "auto") -> FastAPI:
    limits = limits or Limits()
    app = FastAPI(title="honed", version=__version__)
    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes)
    pool.start(limits.max_batch, limits.max_queue, precision)
    app.state.service = Service(pool, limits, api_key)
    app.include_router(router)
    for kind, handler in ERROR_HANDLERS.items():
        app.add_exception_handler(kind, handler)
    return app


def make_server(pool: ModelPool, host: str = "127.0.0.1", port: int = 8000, api_key: str | None = None,
                limits: Limits | None = None, precision: str = "auto") -> Server:
    if not is_loopback(host) and not api_key:
        raise UserError(f"--host {host} reaches beyond this machine: pass --api-key KEY (clients send it as a "
                        "Bearer token), or bind to 127.0.0.1")
    return Server(make_app(pool, api_key, limits, precision), host, port, on_close=pool.close)


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
    return {"status": "ok", "models": list(service.pool.models),
            "waiting": sum(engine.waiting for engine in service.pool.engines())}


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
    pieces = service.submit(body, served, prompt_ids)
    reply = Reply(served.name, chat, len(prompt_ids), pieces.outcomes)
    if body.stream:
        return await _stream(request, pieces, reply)
    texts = [""] * len(pieces.outcomes)
    async for index, piece in _pulled(pieces, request):
        texts[index] += piece
    if any(outcome.finish_reason == "timeout" for outcome in reply.outcomes):
        raise TimedOut(f"generation ran past the {service.limits.timeout_s:g} s request timeout")
    return JSONResponse(reply.whole(texts))


# Generation from the event loop: each piece fetched in a worker thread; however it ends, the answer is closed,
# which takes its rows out of the batch at the next step.


async def _stream(request: Request, pieces: Answer, reply: Reply) -> Response:
    """The first piece is awaited before the response starts, so a full queue or a timeout still gets its status."""
    try:
        first = await anyio.to_thread.run_sync(next, pieces, None)
    except BaseException:
        pieces.close()
        raise
    return _EventStream(pieces, reply.events(first, _pulled(pieces, request)))


async def _pulled(pieces: Answer, request: Request) -> AsyncIterator[tuple[int, str]]:
    """The pieces until the last, or until the client has gone."""
    try:
        while not await request.is_disconnected():
            piece = await anyio.to_thread.run_sync(next, pieces, None)
            if piece is None:
                return
            yield piece
    finally:
        pieces.close()


class _EventStream(StreamingResponse):
    """Server-sent events that close the answer however the response ends: finished, cancelled by a disconnect,
    failed on a send, or never started (Starlette leaves a body it did not finish to the garbage collector, which
    would leave the rows generating whenever it got round to it)."""

    def __init__(self, pieces: Answer, events: AsyncIterator[str]):
        super().__init__(events, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        self._pieces = pieces

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._pieces.close()


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
        path = request.url.path.removeprefix(request.scope.get("root_path", ""))  # as the client's base URL sees it
        message = f"no route {request.method} {path}"
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
    """uvicorn serving an app (honed serve's, or the review's) on a socket bound when this is made, behind the standard library's server interface
    (serve_forever, shutdown, server_close, server_address): port 0 picks a free port that is known at once, and an
    address that cannot be bound is the user's one-line error before anything loads onto it."""

    def __init__(self, app: FastAPI, host: str, port: int, on_close=None):
        import uvicorn

        self.app, self._on_close = app, on_close
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
        if self._on_close is not None:
            self._on_close()


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
