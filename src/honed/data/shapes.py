"""Record shapes: detect which of the four a dataset uses, and normalise every row to chat messages or plain text."""

from __future__ import annotations

from honed.data.readers import Record
from honed.errors import UserError

SHAPES = {
    "messages": ("messages",),
    "alpaca": ("instruction", "output"),
    "prompt_completion": ("prompt", "completion"),
    "text": ("text",),
}
EXPECTED = "text | prompt + completion | instruction (+ input) + output | messages"
ROLES = ("system", "user", "assistant")


def detect_format(record: Record, fields: dict[str, str]) -> str:
    present = {name for name in _canonical_names(fields) if fields.get(name, name) in record.fields}
    for shape, required in SHAPES.items():
        if set(required) <= present:
            return shape
    found = ", ".join(record.fields) or "none"
    for first, missing in (("prompt", "completion"), ("instruction", "output")):
        if first in present:
            raise UserError(
                f"{record.where}: has '{fields.get(first, first)}' but no '{fields.get(missing, missing)}' "
                f"(the answer to learn from or compare with); found fields: {found}"
            )
    raise UserError(
        f"{record.where}: no known record shape; found fields: {found}; expected: {EXPECTED} "
        "(or map yours with data.fields, e.g. --set data.fields.prompt=question)"
    )


def _canonical_names(fields: dict[str, str]) -> set[str]:
    return {name for required in SHAPES.values() for name in required} | {"input"} | set(fields)


def normalise(record: Record, shape: str, fields: dict[str, str], system_prompt: str | None) -> dict:
    """One row as {'messages': [...]} or {'text': ...}; raises a UserError naming the line when a field is off."""
    get = _getter(record, shape, fields)
    if shape == "text":
        return {"text": get("text")}
    if shape == "messages":
        messages = _check_messages(record, record.fields[fields.get("messages", "messages")])
    elif shape == "alpaca":
        extra = record.fields.get(fields.get("input", "input")) or ""
        prompt = get("instruction") + (f"\n\n{extra}" if str(extra).strip() else "")
        messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": get("output")}]
    else:
        messages = [{"role": "user", "content": get("prompt")}, {"role": "assistant", "content": get("completion")}]
    if system_prompt and messages[0]["role"] != "system":
        messages = [{"role": "system", "content": system_prompt}, *messages]
    return {"messages": messages}


def _getter(record: Record, shape: str, fields: dict[str, str]):
    def get(name: str) -> str:
        column = fields.get(name, name)
        if column not in record.fields:
            found = ", ".join(record.fields) or "none"
            raise UserError(f"{record.where}: missing field {column!r} for the {shape} shape; found fields: {found}")
        value = record.fields[column]
        if not isinstance(value, str):
            raise UserError(f"{record.where}: field {column!r} must be text, got {type(value).__name__}")
        return value

    return get


def _check_messages(record: Record, messages) -> list[dict]:
    if not isinstance(messages, list) or not messages:
        raise UserError(f"{record.where}: 'messages' must be a non-empty list of {{role, content}} objects")
    checked = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            raise UserError(f"{record.where}: messages[{index}] needs 'role' and 'content'")
        if message["role"] not in ROLES:
            raise UserError(f"{record.where}: messages[{index}].role is {message['role']!r}; expected one of {ROLES}")
        if not isinstance(message["content"], str):
            raise UserError(f"{record.where}: messages[{index}].content must be text")
        checked.append({"role": message["role"], "content": message["content"]})
    if not any(m["role"] == "assistant" for m in checked):
        raise UserError(f"{record.where}: no assistant message, so nothing to learn from this row")
    return checked


def normalise_all(records: list[Record], shape: str, fields: dict[str, str], system_prompt: str | None) -> list[dict]:
    return [normalise(record, shape, fields, system_prompt) for record in records]
