"""The request bodies `honed serve` accepts, as pydantic models (FastAPI validates them and documents them at /docs).

Each field's description finishes the sentence "<field> must be ...": it documents the field and is the message a
client gets when the field is wrong, so the two cannot drift apart.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict

Positive = Annotated[int, Strict(), Field(gt=0)]
Number = Annotated[float, Strict()]


class Message(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class Sampling(BaseModel):
    """What both endpoints take. Fields honed does not use are ignored, not refused: OpenAI clients send many
    (user, stream_options, ...) that a local server has no use for."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(description="the name of a served model (GET /v1/models)")
    max_tokens: Positive | None = Field(None, description="a positive integer")
    max_completion_tokens: Positive | None = Field(None, description="a positive integer")
    temperature: Annotated[Number, Field(ge=0, le=2)] | None = Field(None, description="a number between 0 and 2")
    top_p: Annotated[Number, Field(gt=0, le=1)] | None = Field(None, description="a number in (0, 1]")
    top_k: Annotated[int, Strict(), Field(ge=0)] | None = Field(None, description="an integer of 0 or more")
    n: Annotated[int, Strict(), Field(ge=1, le=64)] | None = Field(None, description="an integer from 1 to 64")
    seed: Annotated[int, Strict()] | None = Field(None, description="an integer")
    stop: str | list[str] | None = Field(None, description="a string or a list of strings")
    stream: bool | None = Field(None, description="true or false")

    def token_limit(self) -> int | None:
        """max_completion_tokens, OpenAI's newer name, wins over max_tokens."""
        return self.max_completion_tokens or self.max_tokens

    def stops(self) -> list[str]:
        return [self.stop] if isinstance(self.stop, str) else list(self.stop or [])


class ChatRequest(Sampling):
    messages: list[Message] = Field(min_length=1, description="a non-empty list of {role: system|user|assistant, "
                                                              "content: text}")


class CompletionRequest(Sampling):
    prompt: str | Annotated[list[str], Field(min_length=1, max_length=1)] = Field(
        description="a string (one prompt per request)")

    def text(self) -> str:
        return self.prompt if isinstance(self.prompt, str) else self.prompt[0]


FIELD_RULES = {name: field.description for model in (ChatRequest, CompletionRequest)
               for name, field in model.model_fields.items()}


def describe_error(error: dict) -> tuple[str, str | None]:
    """(message, offending field) for one of pydantic's (or FastAPI's) validation errors of a request body."""
    where = [str(part) for part in error["loc"][1:]]  # loc starts with "body"
    if error["type"] == "json_invalid":
        return f"body is not valid JSON ({error.get('ctx', {}).get('error', error['msg'])})", None
    if isinstance(error.get("input"), bytes):  # FastAPI parses JSON only when the client says it is JSON
        return "body must be JSON, sent with 'Content-Type: application/json'", None
    if not where or where[0] not in FIELD_RULES:
        return "body must be a JSON object with the fields of an OpenAI request", None
    field = where[0]
    path = field + "".join(f"[{part}]" if part.isdigit() else f".{part}" for part in where[1:]
                           if part in Message.model_fields or part.isdigit())
    if error["type"] == "missing":
        return (f"'{field}' is required: {FIELD_RULES[field]}" if path == field else
                f"{field} must be {FIELD_RULES[field]} ({path} is missing)"), field
    got = repr(error.get("input"))
    got = got if len(got) <= 80 else got[:77] + "..."
    return f"{field} must be {FIELD_RULES[field]} (got {got}{'' if path == field else ' at ' + path})", field
