"""Record shapes: detect which one a dataset uses, and normalise every row to chat messages or plain text (or, for
preference data, to TRL's conversational prompt/chosen/rejected or prompt/completion/label rows)."""

from __future__ import annotations

from honed.data.readers import Record
from honed.errors import UserError

SHAPES = {  # tried in this order: the preference shapes are supersets of the others' fields
    "preference": ("chosen", "rejected"),
    "unpaired_preference": ("prompt", "completion", "label"),
    "messages": ("messages",),
    "alpaca": ("instruction", "output"),
    "prompt_completion": ("prompt", "completion"),
    "text": ("text",),
}
EXPECTED = ("text | prompt + completion | instruction (+ input) + output | messages | prompt + chosen + rejected | "
            "prompt + completion + label")
PREFERENCE_SHAPES = ("preference", "unpaired_preference")
# The shapes each training objective learns from; KTO takes pairs too (TRL unpairs them into one desirable and one
# undesirable row).
OBJECTIVE_SHAPES = {"dpo": ("preference",), "kto": PREFERENCE_SHAPES}
PREFERENCE_FORMS = {
    "preference": "prompt + chosen + rejected (text or messages), or chosen/rejected conversations",
    "unpaired_preference": "prompt + completion + label (true: desirable, false: undesirable)",
}
ROLES = ("system", "user", "assistant")


def detect_format(record: Record, fields: dict[str, str], objective: str | None = None) -> str:
    """The first shape whose fields the record has; a half-present shape or none at all is an error naming the
    fields found (for a preference objective, the forms it needs)."""
    present = {name for name in _canonical_names(fields) if fields.get(name, name) in record.fields}
    for shape, required in SHAPES.items():
        if set(required) <= present:
            return shape
    found = ", ".join(record.fields) or "none"
    for first, missing in (("chosen", "rejected"), ("rejected", "chosen"), ("prompt", "completion"),
                           ("instruction", "output")):
        if first in present:
            raise UserError(
                f"{record.where}: has '{fields.get(first, first)}' but no '{fields.get(missing, missing)}' "
                f"(the answer to learn from or compare with); found fields: {found}"
            )
    if objective is not None:
        check_objective(record, "none", objective)
    raise UserError(
        f"{record.where}: no known record shape; found fields: {found}; expected: {EXPECTED} "
        "(or map yours with data.fields, e.g. --set data.fields.prompt=question)"
    )


def check_objective(record: Record, shape: str, objective: str) -> None:
    """Refuse rows the objective cannot learn from, naming the fields found and the objective that fits them: a
    preference file trained supervised would learn the rejected answers too."""
    found = ", ".join(record.fields) or "none"
    if objective == "sft":
        if shape in PREFERENCE_SHAPES:
            fits = "dpo (or kto)" if shape == "preference" else "kto"
            raise UserError(f"{record.where}: rows are {shape} rows ({found}); train on them with --objective {fits}")
        return
    wanted = OBJECTIVE_SHAPES[objective]
    if shape not in wanted:
        forms = " or ".join(PREFERENCE_FORMS[name] for name in wanted)
        hint = "; these are KTO rows: train on them with --objective kto" if shape in PREFERENCE_SHAPES else ""
        raise UserError(f"{record.where}: --objective {objective} needs {forms}; found fields: {found}{hint}")


def _canonical_names(fields: dict[str, str]) -> set[str]:
    return {name for required in SHAPES.values() for name in required} | {"input"} | set(fields)


def normalise(record: Record, shape: str, fields: dict[str, str], system_prompt: str | None) -> dict:
    """One row as {'messages': [...]} or {'text': ...}; raises a UserError naming the line when a field is off."""
    get = _getter(record, shape, fields)
    if shape in PREFERENCE_SHAPES:
        return _normalise_preference(record, shape, fields, system_prompt)
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


def _check_messages(record: Record, messages, name: str = "messages") -> list[dict]:
    checked = _check_turns(record, messages, name)
    if not any(m["role"] == "assistant" for m in checked):
        raise UserError(f"{record.where}: no assistant message in '{name}', so nothing to learn from this row")
    return checked


def _check_turns(record: Record, messages, name: str) -> list[dict]:
    if not isinstance(messages, list) or not messages:
        raise UserError(f"{record.where}: '{name}' must be a non-empty list of {{role, content}} objects")
    checked = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            raise UserError(f"{record.where}: {name}[{index}] needs 'role' and 'content'")
        if message["role"] not in ROLES:
            raise UserError(f"{record.where}: {name}[{index}].role is {message['role']!r}; expected one of {ROLES}")
        if not isinstance(message["content"], str):
            raise UserError(f"{record.where}: {name}[{index}].content must be text")
        checked.append({"role": message["role"], "content": message["content"]})
    return checked


def _normalise_preference(record: Record, shape: str, fields: dict[str, str], system_prompt: str | None) -> dict:
    """TRL's conversational rows, whatever the file held: the prompt as messages, each answer as an assistant turn.
    Text becomes a user or assistant message, as honed renders prompt/completion rows for supervised training."""
    value = {name: record.fields.get(fields.get(name, name)) for name in ("prompt", "chosen", "rejected", "completion")}
    prompt = _turns(record, value["prompt"], "prompt", "user") if value["prompt"] is not None else []
    if shape == "preference":
        row = {"prompt": prompt, "chosen": _turns(record, value["chosen"], "chosen", "assistant"),
               "rejected": _turns(record, value["rejected"], "rejected", "assistant")}
        if not prompt:  # whole conversations: their shared opening is the prompt (TRL's own rule)
            from trl.data_utils import extract_prompt

            row = extract_prompt({"chosen": row["chosen"], "rejected": row["rejected"]})
    else:
        row = {"prompt": prompt, "completion": _turns(record, value["completion"], "completion", "assistant"),
               "label": _label(record, record.fields[fields.get("label", "label")])}
    answers = [row[key] for key in ("chosen", "rejected", "completion") if key in row]
    if not row["prompt"] or any(not answer or answer[-1]["role"] != "assistant" for answer in answers):
        raise UserError(f"{record.where}: a {shape} row needs a prompt and answers that end with an assistant turn")
    if system_prompt and row["prompt"][0]["role"] != "system":
        row["prompt"] = [{"role": "system", "content": system_prompt}, *row["prompt"]]
    return row


def _turns(record: Record, value, name: str, role: str) -> list[dict]:
    if isinstance(value, str):
        return [{"role": role, "content": value}]
    return _check_turns(record, value, name)


_LABELS = {True: True, False: False, 1: True, 0: False, "true": True, "false": False, "1": True, "0": False}


def _label(record: Record, value) -> bool:
    """A KTO label: JSON booleans, 1/0, or 'true'/'false' (as CSV files write them)."""
    key = value.strip().lower() if isinstance(value, str) else value
    if isinstance(key, (bool, int, str)) and key in _LABELS:
        return _LABELS[key]
    raise UserError(f"{record.where}: field 'label' must be true or false (desirable or not), got {value!r}")


def normalise_all(records: list[Record], shape: str, fields: dict[str, str], system_prompt: str | None) -> list[dict]:
    return [normalise(record, shape, fields, system_prompt) for record in records]
