"""OpenAI's response shapes: a whole answer, the chunks of a streamed one (server-sent events), and errors."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from starlette.responses import JSONResponse

from honed.generation import Streamed


def error_response(status: int, message: str, kind: str = "invalid_request_error", param: str | None = None,
                   code: str | None = None, headers: dict | None = None) -> JSONResponse:
    """OpenAI's error body, which its clients turn into typed exceptions carrying the message."""
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


@dataclass
class Reply:
    """One request's answer: chat.completion or text_completion, whole or as chunks."""

    model: str
    chat: bool
    prompt_tokens: int
    outcome: Streamed = field(default_factory=Streamed)
    created: int = field(default_factory=lambda: int(time.time()))

    def __post_init__(self):
        self.ident = ("chatcmpl-" if self.chat else "cmpl-") + uuid.uuid4().hex[:24]
        self.kind = "chat.completion" if self.chat else "text_completion"

    def whole(self, text: str) -> dict:
        choice = {"index": 0, "finish_reason": self.outcome.finish_reason}
        choice.update({"message": {"role": "assistant", "content": text}} if self.chat
                      else {"text": text, "logprobs": None})
        return {"id": self.ident, "object": self.kind, "created": self.created, "model": self.model,
                "choices": [choice], "usage": self.usage()}

    async def events(self, first: str | None, rest: AsyncIterator[str]) -> AsyncIterator[str]:
        """The stream: (for chat) the assistant's role, the pieces, the finish reason with usage, then [DONE]."""
        if self.chat:
            yield self._chunk(None, None, role=True)
        if first is not None:
            yield self._chunk(first, None)
        async for piece in rest:
            yield self._chunk(piece, None)
        # OpenAI has no finish reason for a deadline; the answer was cut short, as by max_tokens
        finish = "length" if self.outcome.finish_reason == "timeout" else self.outcome.finish_reason
        yield self._chunk(None, finish)
        yield "data: [DONE]\n\n"

    def _chunk(self, text: str | None, finish: str | None, role: bool = False) -> str:
        if self.chat:
            delta = {"role": "assistant", "content": ""} if role else ({"content": text} if text else {})
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
        else:
            choice = {"index": 0, "text": text or "", "finish_reason": finish, "logprobs": None}
        chunk = {"id": self.ident, "object": f"{self.kind}.chunk" if self.chat else self.kind,
                 "created": self.created, "model": self.model, "choices": [choice]}
        if finish:
            chunk["usage"] = self.usage()
        return f"data: {json.dumps(chunk)}\n\n"

    def usage(self) -> dict:
        completion = self.outcome.tokens
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": completion,
                "total_tokens": self.prompt_tokens + completion}
