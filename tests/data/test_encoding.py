"""Labels: -100 exactly on prompt tokens, input ids on completion tokens, for every shape, with the real chat template."""

from __future__ import annotations

import pytest

from honed.config import DataConfig
from honed.data import IGNORE_INDEX, ensure_chat_template, load_rows, prompt_ids
from honed.data.encoding import FALLBACK_CHAT_TEMPLATE, encode_row, encode_rows
from honed.errors import UserError
from tiny import write_jsonl


def _ids(result) -> list[int]:
    """apply_chat_template(tokenize=True) returns a list in transformers 4 and a BatchEncoding/dict in 5."""
    if isinstance(result, dict) or hasattr(result, "keys"):
        result = result["input_ids"]
    if result and isinstance(result[0], list):  # a batch of one
        (result,) = result
    return list(result)


def template_ids(tokenizer, messages: list[dict], generation_prompt: bool) -> list[int]:
    return _ids(tokenizer.apply_chat_template(messages, add_generation_prompt=generation_prompt, tokenize=True))


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_model))


@pytest.fixture(scope="module")
def base_tokenizer(tiny_base_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_base_model))


CHAT_SHAPES = [
    pytest.param(
        {"prompt": "Where is my order?", "completion": "It ships in two days."},
        [{"role": "user", "content": "Where is my order?"}, {"role": "assistant", "content": "It ships in two days."}],
        id="prompt_completion",
    ),
    pytest.param(
        {"instruction": "Answer the customer.", "input": "Where is my order?", "output": "It ships in two days."},
        [
            {"role": "user", "content": "Answer the customer.\n\nWhere is my order?"},
            {"role": "assistant", "content": "It ships in two days."},
        ],
        id="alpaca",
    ),
    pytest.param(
        {"instruction": "Say thanks.", "input": "", "output": "Thanks for contacting support."},
        [{"role": "user", "content": "Say thanks."}, {"role": "assistant", "content": "Thanks for contacting support."}],
        id="alpaca-empty-input",
    ),
    pytest.param(
        {"messages": [
            {"role": "system", "content": "You are support."},
            {"role": "user", "content": "How do I reset my password?"},
            {"role": "assistant", "content": "Open settings and choose reset."},
        ]},
        [
            {"role": "system", "content": "You are support."},
            {"role": "user", "content": "How do I reset my password?"},
            {"role": "assistant", "content": "Open settings and choose reset."},
        ],
        id="messages",
    ),
]


def _encode_file(tokenizer, tmp_path, records, **data):
    path = write_jsonl(tmp_path / "train.jsonl", records)
    config = DataConfig(train=str(path), **data)
    rows = load_rows(str(path), config)
    return rows, encode_rows(tokenizer, rows.rows, rows.wheres, config.train_on, config.max_length, str(path))


@pytest.mark.parametrize(("record", "messages"), CHAT_SHAPES)
def test_labels_mask_exactly_the_prompt(tokenizer, tmp_path, record, messages):
    rows, (columns, stats) = _encode_file(tokenizer, tmp_path, [record])
    assert rows.rows == [{"messages": messages}]
    ids, labels = columns["input_ids"][0], columns["labels"][0]

    prompt = template_ids(tokenizer, messages[:-1], generation_prompt=True)
    full = template_ids(tokenizer, messages, generation_prompt=False)
    assert ids == full  # segment-wise tokenization gives the same ids as the template tokenized whole
    assert ids[: len(prompt)] == prompt
    assert labels[: len(prompt)] == [IGNORE_INDEX] * len(prompt)
    assert labels[len(prompt) :] == ids[len(prompt) :]
    assert len(ids) > len(prompt)
    assert columns["attention_mask"][0] == [1] * len(ids)
    assert stats.rows == 1 and stats.truncated == 0 and stats.dropped_no_supervised_tokens == 0
    assert stats.tokens == len(ids)
    assert stats.supervised_tokens == len(ids) - len(prompt)
    # the supervised tokens are the answer and the end of its turn
    supervised = tokenizer.decode(ids[len(prompt) :])
    assert supervised.startswith(messages[-1]["content"] + "<|im_end|>")


@pytest.mark.parametrize(("record", "messages"), CHAT_SHAPES)
def test_end_of_turn_closing_the_answer_is_labelled(tokenizer, tmp_path, record, messages):
    _, (columns, _) = _encode_file(tokenizer, tmp_path, [record])
    ids, labels = columns["input_ids"][0], columns["labels"][0]
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert end == tokenizer.eos_token_id
    positions = [i for i, token in enumerate(ids) if token == end]
    assert len(positions) == len(messages)  # one per turn
    assert labels[positions[-1]] == end  # the assistant's end of turn: learned, so generation stops
    assert all(labels[i] == IGNORE_INDEX for i in positions[:-1])  # system/user turns: not learned


def test_text_rows_learn_every_token_and_end_with_eos(tokenizer, tmp_path):
    _, (columns, stats) = _encode_file(tokenizer, tmp_path, [{"text": "The quick brown fox jumps over the lazy dog."}])
    ids, labels = columns["input_ids"][0], columns["labels"][0]
    assert ids[-1] == tokenizer.eos_token_id
    assert ids[:-1] == tokenizer("The quick brown fox jumps over the lazy dog.", add_special_tokens=False)["input_ids"]
    assert labels == ids
    assert stats.supervised_tokens == stats.tokens == len(ids)


@pytest.mark.parametrize(("record", "messages"), CHAT_SHAPES)
def test_train_on_all_labels_every_token(tokenizer, tmp_path, record, messages):
    _, (columns, stats) = _encode_file(tokenizer, tmp_path, [record], train_on="all")
    ids, labels = columns["input_ids"][0], columns["labels"][0]
    assert ids == template_ids(tokenizer, messages, generation_prompt=False)
    assert labels == ids
    assert IGNORE_INDEX not in labels
    assert stats.supervised_tokens == stats.tokens == len(ids)


MULTI_TURN = [
    {"role": "system", "content": "You are support."},
    {"role": "user", "content": "Where is my order?"},
    {"role": "assistant", "content": "It ships in two days."},
    {"role": "user", "content": "How do I reset my password?"},
    {"role": "assistant", "content": "Open settings and choose reset."},
]


def test_multi_turn_labels_both_answers_and_no_user_turn(tokenizer):
    encoded = encode_row(tokenizer, {"messages": MULTI_TURN}, "completion", 1024)
    ids, labels = encoded.input_ids, encoded.labels
    first_prompt = len(template_ids(tokenizer, MULTI_TURN[:2], generation_prompt=True))
    first_end = len(template_ids(tokenizer, MULTI_TURN[:3], generation_prompt=False))
    second_prompt = len(template_ids(tokenizer, MULTI_TURN[:4], generation_prompt=True))
    assert ids == template_ids(tokenizer, MULTI_TURN, generation_prompt=False)
    assert 0 < first_prompt < first_end < second_prompt < len(ids)

    assert labels[:first_prompt] == [IGNORE_INDEX] * first_prompt
    assert labels[first_prompt:first_end] == ids[first_prompt:first_end]
    assert labels[first_end:second_prompt] == [IGNORE_INDEX] * (second_prompt - first_end)
    assert labels[second_prompt:] == ids[second_prompt:]
    assert tokenizer.decode(ids[first_prompt:first_end]).startswith("It ships in two days.<|im_end|>")
    assert tokenizer.decode(ids[second_prompt:]).startswith("Open settings and choose reset.<|im_end|>")
    # the second user turn's text is never learned
    assert "How do I reset" in tokenizer.decode(ids[first_end:second_prompt])
    assert not encoded.truncated


@pytest.mark.parametrize(
    "messages",
    [
        pytest.param(MULTI_TURN[1:3], id="single-turn"),
        pytest.param(MULTI_TURN[:3], id="system"),
        pytest.param(MULTI_TURN, id="multi-turn"),
    ],
)
def test_prompt_ids_match_the_generation_prompt(tokenizer, messages):
    expected = template_ids(tokenizer, messages[:-1], generation_prompt=True)
    assert prompt_ids(tokenizer, messages) == expected
    # and it is exactly the masked prefix training used for the last answer
    encoded = encode_row(tokenizer, {"messages": messages}, "completion", 1024)
    assert encoded.input_ids[: len(expected)] == expected
    assert encoded.labels[len(expected) - 1] == IGNORE_INDEX
    assert encoded.labels[len(expected)] == encoded.input_ids[len(expected)]


def test_truncation_is_counted(tokenizer, tmp_path):
    records = [
        {"prompt": "Hi", "completion": "Hello there, thanks for contacting support. " * 6},
        {"prompt": "Hi", "completion": "Hello."},
    ]
    full_lengths = [
        len(template_ids(tokenizer, [{"role": "user", "content": r["prompt"]},
                                     {"role": "assistant", "content": r["completion"]}], False))
        for r in records
    ]
    max_length = 30
    assert full_lengths[0] > max_length >= full_lengths[1]
    _, (columns, stats) = _encode_file(tokenizer, tmp_path, records, max_length=max_length)
    assert stats.rows == 2
    assert stats.truncated == 1
    assert stats.dropped_no_supervised_tokens == 0
    assert [len(ids) for ids in columns["input_ids"]] == [max_length, full_lengths[1]]
    assert [len(labels) for labels in columns["labels"]] == [max_length, full_lengths[1]]
    assert stats.tokens == max_length + full_lengths[1]


def test_rows_without_supervised_tokens_are_dropped_and_counted(tokenizer, tmp_path):
    long_prompt = "The quick brown fox jumps over the lazy dog. " * 8
    records = [
        {"prompt": "Hi", "completion": "Hello."},
        {"prompt": long_prompt, "completion": "Yes."},
        {"prompt": "Where is my order?", "completion": "It ships in two days."},
    ]
    max_length = 40
    prompt_length = len(template_ids(tokenizer, [{"role": "user", "content": long_prompt}], True))
    assert prompt_length > max_length
    rows, (columns, stats) = _encode_file(tokenizer, tmp_path, records, max_length=max_length)
    assert stats.rows == 3
    assert stats.dropped_no_supervised_tokens == 1
    assert stats.truncated == 1
    assert stats.examples_dropped == [rows.wheres[1]]
    assert rows.wheres[1].endswith("train.jsonl:2")
    assert len(columns["input_ids"]) == len(columns["labels"]) == len(columns["attention_mask"]) == 2
    assert all(any(label != IGNORE_INDEX for label in labels) for labels in columns["labels"])
    assert "dropped_no_supervised_tokens" in stats.as_dict()
    assert "examples_dropped" not in stats.as_dict()


def test_every_row_too_long_is_an_error(tokenizer, tmp_path):
    records = [{"prompt": "The quick brown fox jumps over the lazy dog. " * 4, "completion": "Yes."}] * 3
    with pytest.raises(UserError) as raised:
        _encode_file(tokenizer, tmp_path, records, max_length=16)
    message = str(raised.value)
    assert "train.jsonl" in message
    assert "max_length=16" in message
    assert "too long" in message


def test_fallback_template_for_a_base_tokenizer(base_tokenizer):
    tokenizer = base_tokenizer
    assert not tokenizer.chat_template
    assert ensure_chat_template(tokenizer) == "honed's plain role-tagged template"
    assert tokenizer.chat_template == FALLBACK_CHAT_TEMPLATE
    assert tokenizer.pad_token is not None
    assert ensure_chat_template(tokenizer) is None  # already has one now

    messages = [{"role": "user", "content": "Where is my order?"}, {"role": "assistant", "content": "It ships."}]
    encoded = encode_row(tokenizer, {"messages": messages}, "completion", 1024)
    ids, labels = encoded.input_ids, encoded.labels
    prompt = template_ids(tokenizer, messages[:-1], generation_prompt=True)
    assert ids == template_ids(tokenizer, messages, generation_prompt=False)
    assert labels[: len(prompt)] == [IGNORE_INDEX] * len(prompt)
    assert labels[len(prompt) :] == ids[len(prompt) :]
    assert prompt_ids(tokenizer, messages) == prompt

    eos = tokenizer.eos_token_id
    assert tokenizer.eos_token == "<|endoftext|>"
    eos_positions = [i for i, token in enumerate(ids) if token == eos]
    assert len(eos_positions) == 2  # one closing the user turn, one closing the assistant turn
    assert labels[eos_positions[0]] == IGNORE_INDEX
    assert labels[eos_positions[1]] == eos
    assert tokenizer.decode(ids[len(prompt) :]).startswith("It ships.<|endoftext|>")


def test_existing_template_and_pad_are_kept(tokenizer):
    template, pad = tokenizer.chat_template, tokenizer.pad_token
    assert ensure_chat_template(tokenizer) is None
    assert tokenizer.chat_template == template and tokenizer.pad_token == pad


def test_a_base_tokenizer_with_gemmas_turn_tokens_gets_gemmas_template():
    """A Gemma 3 base GGUF carries no chat template; its vocabulary's turn tokens say which one it was made for."""
    from tiny import build_tokenizer

    from honed.data.encoding import GEMMA_CHAT_TEMPLATE

    tokenizer = build_tokenizer(chat_template=None)
    tokenizer.add_special_tokens({"additional_special_tokens": ["<start_of_turn>", "<end_of_turn>"]})
    assert ensure_chat_template(tokenizer).startswith("Gemma 3's chat template")
    assert tokenizer.chat_template == GEMMA_CHAT_TEMPLATE
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Where is my order?"},
                {"role": "assistant", "content": "It ships."}]
    assert tokenizer.apply_chat_template(messages, tokenize=False) == (
        "<|im_start|><start_of_turn>user\nBe brief.\n\nWhere is my order?<end_of_turn>\n"
        "<start_of_turn>model\nIt ships.<end_of_turn>\n")
    encoded = encode_row(tokenizer, {"messages": messages}, "completion", 1024)
    answer = tokenizer.decode([t for t, label in zip(encoded.input_ids, encoded.labels) if label != IGNORE_INDEX])
    assert answer == "It ships.<end_of_turn>\n"
