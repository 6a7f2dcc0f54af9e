"""An OpenAI-compatible HTTP server: /v1/models, /v1/chat/completions, /v1/completions (SSE streaming), /health.

Built on the standard library's ThreadingHTTPServer: the routes are few, the generation is serialised by the
engine anyway, and it keeps honed free of a web framework dependency.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from honed.data.encoding import generation_prompt_ids
from honed.errors import UserError
from honed.serve.engine import Busy, Engine, Outcome, Request, TimedOut
from honed.serve.pool import ModelPool, Served

log = logging.getLogger("honed")


@dataclass
class Limits:
    max_body_bytes: int = 2 * 2**20
    max_queue: int = 8
    timeout_s: float = 120.0
    default_max_tokens: int = 256


class ApiError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None, kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.param, self.kind = status, message, param, kind


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def make_server(pool: ModelPool, host: str = "127.0.0.1", port: int = 8000, api_key: str | None = None,
                limits: Limits | None = None) -> ThreadingHTTPServer:
    if not is_loopback(host) and not api_key:
        raise UserError(f"--host {host} reaches beyond this machine: pass --api-key KEY (clients send it as a "
                        "Bearer token), or bind to 127.0.0.1")
    limits = limits or Limits()
    engine = Engine(limits.max_queue)

    class Handler(_Handler):
        pass

    Handler.pool, Handler.engine, Handler.limits, Handler.api_key = pool, engine, limits, api_key
    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


class _Handler(BaseHTTPRequestHandler):
    server_version = "honed"
    pool: ModelPool
    engine: Engine
    limits: Limits
    api_key: str | None

    def log_message(self, format, *args):  # one line per request through honed's logger, not stderr spam
        log.debug("%s %s", self.address_string(), format % args)

    # routing

    def do_GET(self):
        self._answer(lambda: self._get())

    def do_POST(self):
        self._answer(lambda: self._post())

    def _get(self):
        if self.path == "/health":
            return self._json(200, {"status": "ok", "models": list(self.pool.models),
                                    "waiting": self.engine.waiting})
        self._authorise()
        if self.path == "/v1/models":
            return self._json(200, {"object": "list", "data": [
                {"id": name, "object": "model", "created": 0, "owned_by": served.owned_by}
                for name, served in self.pool.models.items()]})
        raise ApiError(404, f"no route GET {self.path}")

    def _post(self):
        self._authorise()
        routes = {"/v1/chat/completions": self._chat, "/v1/completions": self._completion}
        if self.path not in routes:
            raise ApiError(404, f"no route POST {self.path}")
        routes[self.path](self._body())

    def _answer(self, handle):
        try:
            handle()
        except ApiError as error:
            self._json(error.status, {"error": {"message": error.message, "type": error.kind, "param": error.param,
                                                "code": None}})
        except Busy as error:
            self._json(429, {"error": {"message": str(error), "type": "rate_limit_error", "param": None,
                                       "code": "queue_full"}})
        except TimedOut as error:
            self._json(504, {"error": {"message": str(error), "type": "timeout", "param": None, "code": "timeout"}})
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as error:  # a bug: the client gets a 500, the log gets the traceback
            log.exception("request failed")
            self._json(500, {"error": {"message": f"internal error: {type(error).__name__}", "type": "server_error",
                                       "param": None, "code": None}})

    # request parsing and limits

    def _authorise(self):
        if not self.api_key:
            return
        sent = self.headers.get("Authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {self.api_key}".encode()):
            raise ApiError(401, "missing or wrong API key (send 'Authorization: Bearer KEY')",
                           kind="authentication_error")

    def _body(self) -> dict:
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            raise ApiError(400, "bad Content-Length") from None
        if length > self.limits.max_body_bytes:
            self.close_connection = True
            self._discard(length)  # read it, so the client is not cut off mid-upload before it sees the 413
            raise ApiError(413, f"request body of {length} bytes is over the {self.limits.max_body_bytes}-byte limit")
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except (ValueError, UnicodeDecodeError) as error:
            raise ApiError(400, f"body is not valid JSON ({error})") from None
        if not isinstance(body, dict):
            raise ApiError(400, "body must be a JSON object")
        return body

    def _discard(self, length: int, cap: int = 64 * 2**20) -> None:
        remaining = min(length, cap)
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 1 << 16))
            if not chunk:
                return
            remaining -= len(chunk)

    def _served(self, body: dict) -> Served:
        name = body.get("model")
        if not isinstance(name, str):
            raise ApiError(400, "'model' is required: one of " + ", ".join(self.pool.models), "model")
        try:
            return self.pool.get(name)
        except KeyError:
            raise ApiError(400, f"unknown model {name!r}; served here: {', '.join(self.pool.models)}",
                           "model") from None

    def _request(self, body: dict, served: Served, prompt_ids: list[int]) -> Request:
        room = served.context_length - len(prompt_ids)
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
        if max_tokens is None:
            max_tokens = max(1, min(self.limits.default_max_tokens, room))
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens <= 0:
            raise ApiError(400, f"max_tokens must be a positive integer (got {max_tokens!r})", "max_tokens")
        if len(prompt_ids) + max_tokens > served.context_length:
            raise ApiError(400, f"prompt ({len(prompt_ids)} tokens) plus max_tokens ({max_tokens}) exceeds the "
                                f"model's context of {served.context_length} tokens", "max_tokens")
        temperature = body.get("temperature", 0.0)
        top_p = body.get("top_p", 1.0)
        if not isinstance(temperature, (int, float)) or not 0 <= temperature <= 2:
            raise ApiError(400, "temperature must be between 0 and 2", "temperature")
        if not isinstance(top_p, (int, float)) or not 0 < top_p <= 1:
            raise ApiError(400, "top_p must be in (0, 1]", "top_p")
        if body.get("n", 1) != 1:
            raise ApiError(400, "only n=1 is supported", "n")
        stop = body.get("stop") or ()
        stop = (stop,) if isinstance(stop, str) else tuple(stop)
        if not all(isinstance(s, str) for s in stop):
            raise ApiError(400, "stop must be a string or a list of strings", "stop")
        return Request(prompt_ids, max_tokens, float(temperature), float(top_p), stop,
                       time.monotonic() + self.limits.timeout_s)

    # endpoints

    def _chat(self, body: dict):
        served = self._served(body)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not all(
                isinstance(m, dict) and isinstance(m.get("content"), str) and m.get("role") in
                ("system", "user", "assistant") for m in messages):
            raise ApiError(400, "messages must be a non-empty list of {role: system|user|assistant, content: text}",
                           "messages")
        clean = [{"role": m["role"], "content": m["content"]} for m in messages]
        request = self._request(body, served, generation_prompt_ids(served.tokenizer, clean))
        self._respond(served, request, body, chat=True)

    def _completion(self, body: dict):
        served = self._served(body)
        prompt = body.get("prompt")
        if isinstance(prompt, list) and len(prompt) == 1:
            prompt = prompt[0]
        if not isinstance(prompt, str):
            raise ApiError(400, "prompt must be a string (one prompt per request)", "prompt")
        prompt_ids = served.tokenizer(prompt, add_special_tokens=True)["input_ids"]
        self._respond(served, self._request(body, served, prompt_ids), body, chat=False)

    def _respond(self, served: Served, request: Request, body: dict, chat: bool):
        outcome = Outcome()
        ident = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex[:24]
        created = int(time.time())
        kind = "chat.completion" if chat else "text_completion"
        pieces = self.engine.run(served, request, outcome)
        if body.get("stream"):
            return self._stream(pieces, outcome, ident, created, served.name, kind, chat, len(request.prompt_ids))
        text = "".join(pieces)
        if outcome.finish_reason == "timeout":
            raise TimedOut(f"generation ran past the {self.limits.timeout_s:g} s request timeout")
        choice = {"index": 0, "finish_reason": outcome.finish_reason}
        choice.update({"message": {"role": "assistant", "content": text}} if chat else {"text": text, "logprobs": None})
        self._json(200, {"id": ident, "object": kind, "created": created, "model": served.name, "choices": [choice],
                         "usage": _usage(len(request.prompt_ids), outcome.completion_tokens)})

    def _stream(self, pieces, outcome: Outcome, ident, created, model, kind, chat, prompt_tokens):
        first = next(pieces, None)  # errors before the first token (queue, timeout) still get a proper status
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

        def event(delta_text: str | None, finish: str | None, role: bool = False):
            if chat:
                delta = {"role": "assistant", "content": ""} if role else ({"content": delta_text} if delta_text else {})
                choice = {"index": 0, "delta": delta, "finish_reason": finish}
            else:
                choice = {"index": 0, "text": delta_text or "", "finish_reason": finish, "logprobs": None}
            chunk = {"id": ident, "object": f"{kind}.chunk" if chat else kind, "created": created, "model": model,
                     "choices": [choice]}
            if finish:
                chunk["usage"] = _usage(prompt_tokens, outcome.completion_tokens)
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()

        if chat:
            event(None, None, role=True)
        if first is not None:
            event(first, None)
        for piece in pieces:
            event(piece, None)
        event(None, "length" if outcome.finish_reason == "timeout" else outcome.finish_reason)
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def _json(self, status: int, payload: dict):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status >= 400:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)


def _usage(prompt: int, completion: int) -> dict:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


__all__ = ["ApiError", "Limits", "is_loopback", "make_server"]
