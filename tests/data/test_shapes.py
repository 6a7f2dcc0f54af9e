"""Record shapes: detection of the four shapes, data.fields mapping, explicit format, and the unknown-shape error."""

from __future__ import annotations

import pytest

from honed.config import DataConfig
from honed.data import load_rows
from honed.data.readers import Record
from honed.data.shapes import EXPECTED, detect_format, normalise
from honed.errors import UserError
from tiny import write_jsonl

SYSTEM_USER_ASSISTANT = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Where is my order?"},
    {"role": "assistant", "content": "It ships in two days."},
]

# (fields of one record, data.fields mapping, expected shape, expected normalised row)
DETECTION = [
    pytest.param({"text": "Hello there."}, {}, "text", {"text": "Hello there."}, id="text"),
    pytest.param(
        {"prompt": "Where is my order?", "completion": "It ships in two days."},
        {},
        "prompt_completion",
        {"messages": [
            {"role": "user", "content": "Where is my order?"},
            {"role": "assistant", "content": "It ships in two days."},
        ]},
        id="prompt_completion",
    ),
    pytest.param(
        {"instruction": "Translate to French.", "input": "Good morning", "output": "Bonjour"},
        {},
        "alpaca",
        {"messages": [
            {"role": "user", "content": "Translate to French.\n\nGood morning"},
            {"role": "assistant", "content": "Bonjour"},
        ]},
        id="alpaca-with-input",
    ),
    pytest.param(
        {"instruction": "Say hello.", "input": "", "output": "Hello"},
        {},
        "alpaca",
        {"messages": [{"role": "user", "content": "Say hello."}, {"role": "assistant", "content": "Hello"}]},
        id="alpaca-empty-input",
    ),
    pytest.param(
        {"instruction": "Say hello.", "output": "Hello"},
        {},
        "alpaca",
        {"messages": [{"role": "user", "content": "Say hello."}, {"role": "assistant", "content": "Hello"}]},
        id="alpaca-no-input-field",
    ),
    pytest.param(
        {"messages": SYSTEM_USER_ASSISTANT},
        {},
        "messages",
        {"messages": SYSTEM_USER_ASSISTANT},
        id="messages-system-user-assistant",
    ),
    pytest.param(
        {"question": "Where is my order?", "answer": "It ships in two days.", "id": 7},
        {"prompt": "question", "completion": "answer"},
        "prompt_completion",
        {"messages": [
            {"role": "user", "content": "Where is my order?"},
            {"role": "assistant", "content": "It ships in two days."},
        ]},
        id="fields-question-answer",
    ),
    pytest.param(
        {"task": "Say hi.", "context": "to Bob", "response": "Hi Bob"},
        {"instruction": "task", "input": "context", "output": "response"},
        "alpaca",
        {"messages": [{"role": "user", "content": "Say hi.\n\nto Bob"}, {"role": "assistant", "content": "Hi Bob"}]},
        id="fields-alpaca",
    ),
    pytest.param(
        {"conversation": SYSTEM_USER_ASSISTANT},
        {"messages": "conversation"},
        "messages",
        {"messages": SYSTEM_USER_ASSISTANT},
        id="fields-messages",
    ),
    pytest.param({"body": "Plain text."}, {"text": "body"}, "text", {"text": "Plain text."}, id="fields-text"),
]


@pytest.mark.parametrize(("fields", "mapping", "shape", "normalised"), DETECTION)
def test_detects_shape_and_normalises(fields, mapping, shape, normalised):
    record = Record("train.jsonl", 1, fields)
    assert detect_format(record, mapping) == shape
    assert normalise(record, shape, mapping, None) == normalised


@pytest.mark.parametrize(
    ("fields", "shape"),
    [
        # the richer shape wins when a record carries the fields of several
        ({"messages": SYSTEM_USER_ASSISTANT, "text": "x"}, "messages"),
        ({"prompt": "p", "completion": "c", "text": "x"}, "prompt_completion"),
        ({"instruction": "i", "output": "o", "text": "x"}, "alpaca"),
    ],
)
def test_detection_order(fields, shape):
    assert detect_format(Record("f.jsonl", 1, fields), {}) == shape


def test_mapping_replaces_the_default_column_name():
    # with prompt mapped to 'question', a record holding only 'prompt' is not prompt/completion-shaped
    record = Record("f.jsonl", 4, {"prompt": "p", "answer": "a"})
    with pytest.raises(UserError):
        detect_format(record, {"prompt": "question", "completion": "answer"})


@pytest.mark.parametrize(
    ("fields", "found"),
    [
        ({"question": "q", "answer": "a"}, "found fields: question, answer"),
        ({}, "found fields: none"),
    ],
)
def test_unknown_shape_names_fields_found_and_shapes_expected(fields, found):
    record = Record("data/train.jsonl", 12, fields)
    with pytest.raises(UserError) as raised:
        detect_format(record, {})
    message = str(raised.value)
    assert message.startswith("data/train.jsonl:12: no known record shape")
    assert found in message
    assert f"expected: {EXPECTED}" in message
    for shape_hint in ("text", "prompt + completion", "instruction (+ input) + output", "messages"):
        assert shape_hint in message
    assert "data.fields" in message  # tells how to map other column names


def test_system_prompt_added_only_when_missing():
    plain = Record("f.jsonl", 1, {"prompt": "p", "completion": "c"})
    row = normalise(plain, "prompt_completion", {}, "You are helpful.")
    assert row["messages"][0] == {"role": "system", "content": "You are helpful."}
    assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]

    with_system = Record("f.jsonl", 2, {"messages": SYSTEM_USER_ASSISTANT})
    row = normalise(with_system, "messages", {}, "You are helpful.")
    assert row["messages"] == SYSTEM_USER_ASSISTANT


@pytest.mark.parametrize(
    ("messages", "text"),
    [
        ([], "non-empty list"),
        ("not a list", "non-empty list"),
        ([{"role": "user"}], "messages[0] needs 'role' and 'content'"),
        ([{"role": "robot", "content": "x"}], "messages[0].role is 'robot'"),
        ([{"role": "user", "content": 3}], "messages[0].content must be text"),
        ([{"role": "user", "content": "hi"}], "no assistant message"),
    ],
)
def test_bad_messages_name_the_line(messages, text):
    record = Record("chat.jsonl", 5, {"messages": messages})
    with pytest.raises(UserError) as raised:
        normalise(record, "messages", {}, None)
    assert str(raised.value).startswith("chat.jsonl:5: ")
    assert text in str(raised.value)


def test_non_text_field_is_an_error():
    record = Record("f.jsonl", 3, {"prompt": "p", "completion": 42})
    with pytest.raises(UserError, match=r"f\.jsonl:3: field 'completion' must be text, got int"):
        normalise(record, "prompt_completion", {}, None)


# --- through load_rows: auto detection from the first record, and an explicit data.format ---------------------

BOTH = [{"text": "plain text row", "prompt": "p", "completion": "c"}]


@pytest.mark.parametrize(
    ("format", "shape", "row"),
    [
        ("auto", "prompt_completion", {"messages": [
            {"role": "user", "content": "p"}, {"role": "assistant", "content": "c"},
        ]}),
        ("text", "text", {"text": "plain text row"}),
        ("prompt_completion", "prompt_completion", {"messages": [
            {"role": "user", "content": "p"}, {"role": "assistant", "content": "c"},
        ]}),
    ],
)
def test_explicit_format_overrides_detection(tmp_path, format, shape, row):
    path = write_jsonl(tmp_path / "both.jsonl", BOTH)
    rows = load_rows(str(path), DataConfig(format=format))
    assert rows.shape == shape
    assert rows.rows == [row]
    assert rows.wheres == [f"{path}:1"]


def test_explicit_format_missing_a_field_names_the_line(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [{"text": "a"}, {"text": "b"}])
    with pytest.raises(UserError) as raised:
        load_rows(str(path), DataConfig(format="alpaca"))
    message = str(raised.value)
    assert message.startswith(f"{path}:1: missing field 'instruction' for the alpaca shape")
    assert "found fields: text" in message


def test_fields_mapping_through_config(tmp_path):
    path = write_jsonl(
        tmp_path / "qa.jsonl",
        [{"question": "Where is my order?", "answer": "It ships."}, {"question": "Hi?", "answer": "Hello."}],
    )
    rows = load_rows(str(path), DataConfig(fields={"prompt": "question", "completion": "answer"}))
    assert rows.shape == "prompt_completion"
    assert rows.rows[1] == {"messages": [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hello."}]}


def test_unknown_shape_through_load_rows(tmp_path):
    path = write_jsonl(tmp_path / "qa.jsonl", [{"question": "q", "answer": "a"}])
    with pytest.raises(UserError, match=r"no known record shape; found fields: question, answer; expected: "):
        load_rows(str(path), DataConfig())


def test_a_later_row_of_another_shape_names_its_line(tmp_path):
    path = write_jsonl(tmp_path / "mixed.jsonl", [{"prompt": "p", "completion": "c"}, {"text": "t"}])
    with pytest.raises(UserError, match=rf"{path}:2: missing field 'prompt'"):
        load_rows(str(path), DataConfig())


def test_validation_shape_must_match_training(tmp_path):
    path = write_jsonl(tmp_path / "v.jsonl", [{"text": "t"}])
    with pytest.raises(UserError, match="text-shaped but the training data is prompt_completion-shaped"):
        load_rows(str(path), DataConfig(), expected_shape="prompt_completion")
    # alpaca and messages rows are all chat: the same family as prompt/completion
    chat = write_jsonl(tmp_path / "c.jsonl", [{"messages": SYSTEM_USER_ASSISTANT}])
    assert load_rows(str(chat), DataConfig(), expected_shape="prompt_completion").shape == "messages"


def test_unknown_data_field_name_is_rejected():
    with pytest.raises(ValueError, match="unknown field name"):
        DataConfig(fields={"question": "q"})


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"instruction": "only an instruction"}, "has 'instruction' but no 'output'"),
        ({"prompt": "a prompt but no completion", "id": 3}, "has 'prompt' but no 'completion'"),
    ],
)
def test_half_a_shape_names_the_missing_answer(fields, expected):
    with pytest.raises(UserError) as raised:
        detect_format(Record("data/train.jsonl", 12, fields), {})
    assert str(raised.value).startswith(f"data/train.jsonl:12: {expected}")
    assert "found fields: " + ", ".join(fields) in str(raised.value)
