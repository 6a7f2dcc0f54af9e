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
    outcomes: list[Streamed] = field(default_factory=lambda: [Streamed()])
    created: int = field(default_factory=lambda: int(time.time()))

    def __post_init__(self):
        self.ident = ("chatcmpl-" if self.chat else "cmpl-") + uuid.uuid4().hex[:24]
        self.kind = "chat.completion" if self.chat else "text_completion"

    def whole(self, texts: list[str]) -> dict:
        choices = []
        for index, (text, outcome) in enumerate(zip(texts, self.outcomes, strict=True)):
            choice = {"index": index, "finish_reason": outcome.finish_reason}
            choice.update({"message": {"role": "assistant", "content": text}} if self.chat
                          else {"text": text, "logprobs": None})
            choices.append(choice)
        return {"id": self.ident, "object": self.kind, "created": self.created, "model": self.model,
                "choices": choices, "usage": self.usage()}

    async def events(self, first: tuple[int, str] | None, rest: AsyncIterator[tuple[int, str]]) -> AsyncIterator[str]:
        """The stream: (for chat) each choice's role, the pieces as (choice, text), each choice's finish reason
        (the last with the usage), then [DONE]."""
        if self.chat:
            for index in range(len(self.outcomes)):
                yield self._chunk(index, None, None, role=True)
        if first is not None:
            yield self._chunk(first[0], first[1], None)
        async for index, piece in rest:
            yield self._chunk(index, piece, None)
        for index, outcome in enumerate(self.outcomes):
            # OpenAI has no finish reason for a deadline; the answer was cut short, as by max_tokens
            finish = "length" if outcome.finish_reason == "timeout" else outcome.finish_reason
            yield self._chunk(index, None, finish, usage=index == len(self.outcomes) - 1)
        yield "data: [DONE]\n\n"

    def _chunk(self, index: int, text: str | None, finish: str | None, role: bool = False, usage: bool = False) -> str:
        if self.chat:
            delta = {"role": "assistant", "content": ""} if role else ({"content": text} if text else {})
            choice = {"index": index, "delta": delta, "finish_reason": finish}
        else:
            choice = {"index": index, "text": text or "", "finish_reason": finish, "logprobs": None}
        chunk = {"id": self.ident, "object": f"{self.kind}.chunk" if self.chat else self.kind,
                 "created": self.created, "model": self.model, "choices": [choice]}
        if usage:
            chunk["usage"] = self.usage()
        return f"data: {json.dumps(chunk)}\n\n"

    def usage(self) -> dict:
        """As OpenAI counts it: the prompt once, the tokens of every choice."""
        completion = sum(outcome.tokens for outcome in self.outcomes)
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": completion,
                "total_tokens": self.prompt_tokens + completion}
