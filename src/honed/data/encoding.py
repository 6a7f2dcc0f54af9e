"""Rows -> token ids and labels, rendered with the tokenizer's own chat template; loss only where it should be.

The conversation is rendered once per assistant turn and cut into segments at the points where the template
text grows; each segment is tokenized alone, so every token is known to be prompt or completion without
guessing from offsets. Evaluation renders prompts with the same function, so both always agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from honed.errors import UserError

IGNORE_INDEX = -100

# Used only when a tokenizer has no chat template (base models such as GPT-2): a plain, role-tagged format whose
# end of turn is the tokenizer's EOS token, so generation stops where training taught it to.
FALLBACK_CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|' + message['role'] + '|>\n' + message['content'] + eos_token + '\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)

# Gemma 3's own template (google/gemma-3-270m-it): the system message opens the first user turn; the model's turns
# are "model" and end with <end_of_turn>.
GEMMA_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}{%- set first_user_prefix = '' -%}{%- set loop_messages = messages -%}{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{%- endif -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
    "{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') }}"
    "{{ message['content'] | trim }}{{ '<end_of_turn>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}"
)

# A base model's tokenizer has no chat template (a GGUF of Gemma 3 270M carries none), yet its vocabulary may hold
# its family's turn tokens; then it gets that family's template, the one llama.cpp and Ollama users will chat in.
# (family, tokens the vocabulary must hold, template)
FAMILY_TEMPLATES = (("Gemma 3", ("<start_of_turn>", "<end_of_turn>"), GEMMA_CHAT_TEMPLATE),)


def ensure_chat_template(tokenizer) -> str | None:
    """Give the tokenizer a pad token and a chat template if it lacks them; returns the name of the template given
    (its family's, or honed's fallback), None when it had one."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if getattr(tokenizer, "chat_template", None):
        return None
    vocab = tokenizer.get_vocab()
    for family, tokens, template in FAMILY_TEMPLATES:
        if all(token in vocab for token in tokens):
            tokenizer.chat_template = template
            return f"{family}'s chat template (its vocabulary has {' and '.join(tokens)})"
    tokenizer.chat_template = FALLBACK_CHAT_TEMPLATE
    return "honed's plain role-tagged template"


def chat_segments(tokenizer, messages: list[dict]) -> list[tuple[str, bool]]:
    """(text, is_assistant) pieces whose concatenation is the full rendered conversation."""
    segments: list[tuple[str, bool]] = []
    rendered = ""
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prompt = _render(tokenizer, messages[:index], generation_prompt=True)
        full = _render(tokenizer, messages[: index + 1], generation_prompt=False)
        if not (prompt.startswith(rendered) and full.startswith(prompt)):
            raise UserError(
                "the model's chat template does not render conversations as growing prefixes, so honed cannot "
                "tell prompt from answer tokens; use data.train_on: all or a model with a standard template"
            )
        segments += [(prompt[len(rendered) :], False), (full[len(prompt) :], True)]
        rendered = full
    tail = _render(tokenizer, messages, generation_prompt=False)[len(rendered) :]
    if tail:
        segments.append((tail, False))
    return [(text, supervised) for text, supervised in segments if text]


def _render(tokenizer, messages: list[dict], generation_prompt: bool) -> str:
    if not messages:
        return ""
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


def _ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def prompt_ids(tokenizer, messages: list[dict]) -> list[int]:
    """Token ids of the prompt for the last assistant turn, exactly as training saw them."""
    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    segments = chat_segments(tokenizer, messages[: last + 1])
    return [token for text, _ in segments[:-1] for token in _ids(tokenizer, text)]


def generation_prompt_ids(tokenizer, messages: list[dict]) -> list[int]:
    """A conversation ending with a user turn, rendered as training renders prompts, ready for the answer."""
    return _ids(tokenizer, _render(tokenizer, messages, generation_prompt=True))


def split_prompt_reference(row: dict) -> tuple[list[dict], str]:
    """A chat row's conversation up to the last answer, and that answer (the reference)."""
    messages = row["messages"]
    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    return messages[: last + 1], messages[last]["content"]


@dataclass
class EncodedRow:
    input_ids: list[int]
    labels: list[int]
    truncated: bool = False


def encode_row(tokenizer, row: dict, train_on: str, max_length: int) -> EncodedRow:
    if "text" in row:
        ids = _ids(tokenizer, row["text"])
        if tokenizer.bos_token_id is not None and getattr(tokenizer, "add_bos_token", False):
            ids = [tokenizer.bos_token_id, *ids]
        ids.append(tokenizer.eos_token_id)
        labels = list(ids)
    else:
        ids, labels = [], []
        for text, supervised in chat_segments(tokenizer, row["messages"]):
            piece = _ids(tokenizer, text)
            ids += piece
            labels += piece if (supervised or train_on == "all") else [IGNORE_INDEX] * len(piece)
    truncated = len(ids) > max_length
    return EncodedRow(ids[:max_length], labels[:max_length], truncated)


@dataclass
class EncodingStats:
    rows: int = 0
    truncated: int = 0
    dropped_no_supervised_tokens: int = 0
    tokens: int = 0
    supervised_tokens: int = 0
    examples_dropped: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "examples_dropped"}


def encode_rows(tokenizer, rows: list[dict], wheres: list[str], train_on: str, max_length: int, name: str):
    """Encode all rows; returns (columns dict, stats). Every row dropped is an error, not an empty run."""
    columns: dict[str, list] = {"input_ids": [], "attention_mask": [], "labels": []}
    stats = EncodingStats()
    for row, where in zip(rows, wheres, strict=True):
        encoded = encode_row(tokenizer, row, train_on, max_length)
        stats.rows += 1
        stats.truncated += encoded.truncated
        supervised = sum(label != IGNORE_INDEX for label in encoded.labels)
        if supervised == 0:
            stats.dropped_no_supervised_tokens += 1
            stats.examples_dropped.append(where)
            continue
        stats.tokens += len(encoded.input_ids)
        stats.supervised_tokens += supervised
        columns["input_ids"].append(encoded.input_ids)
        columns["attention_mask"].append([1] * len(encoded.input_ids))
        columns["labels"].append(encoded.labels)
    if not columns["input_ids"]:
        raise UserError(
            f"{name}: every row is too long: after truncation to data.max_length={max_length} tokens none has a "
            "completion token left to learn from; raise data.max_length"
        )
    return columns, stats
