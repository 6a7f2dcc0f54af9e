"""Preference shapes: detected like the others, normalised to TRL's conversational rows, ties dropped and counted,
KTO rows unpaired, shuffled and checked for both labels."""

from __future__ import annotations

import re

import pytest

from honed.config import DataConfig
from honed.data import load_rows
from honed.data.preference import prepare_preference_data
from honed.data.readers import Record
from honed.data.shapes import detect_format, normalise
from honed.errors import UserError
from tiny import write_jsonl

USER = {"role": "user", "content": "Where is my order?"}
GOOD = {"role": "assistant", "content": "It ships in two days."}
BAD = {"role": "assistant", "content": "No idea."}
PAIR = {"prompt": [USER], "chosen": [GOOD], "rejected": [BAD]}

SHAPES = [
    pytest.param({"prompt": USER["content"], "chosen": GOOD["content"], "rejected": BAD["content"]},
                 "preference", PAIR, id="text-pair"),
    pytest.param({"prompt": [USER], "chosen": [GOOD], "rejected": [BAD]}, "preference", PAIR, id="messages-pair"),
    pytest.param({"chosen": [USER, GOOD], "rejected": [USER, BAD]}, "preference", PAIR, id="chat-conversations"),
    pytest.param({"prompt": USER["content"], "completion": GOOD["content"], "label": True}, "unpaired_preference",
                 {"prompt": [USER], "completion": [GOOD], "label": True}, id="kto"),
    pytest.param({"prompt": [USER], "completion": [BAD], "label": "false"}, "unpaired_preference",
                 {"prompt": [USER], "completion": [BAD], "label": False}, id="kto-csv-label"),
]


@pytest.mark.parametrize(("fields", "shape", "row"), SHAPES)
def test_preference_shapes_are_detected_and_normalised(fields, shape, row):
    record = Record("prefs.jsonl", 3, fields)
    assert detect_format(record, {}) == shape
    assert normalise(record, shape, {}, None) == row


def test_a_longer_shared_conversation_becomes_the_prompt_and_system_prompt_is_added():
    follow_up = {"role": "user", "content": "And the refund?"}
    record = Record("prefs.jsonl", 1, {"chosen": [USER, GOOD, follow_up, GOOD], "rejected": [USER, GOOD, follow_up, BAD]})
    row = normalise(record, "preference", {}, "Be brief.")
    assert row == {"prompt": [{"role": "system", "content": "Be brief."}, USER, GOOD, follow_up], "chosen": [GOOD],
                   "rejected": [BAD]}


def test_mapped_field_names_and_explicit_format():
    record = Record("prefs.jsonl", 1, {"q": "Where is my order?", "good": "It ships in two days.", "bad": "No idea."})
    fields = {"prompt": "q", "chosen": "good", "rejected": "bad"}
    assert detect_format(record, fields) == "preference"
    assert normalise(record, "preference", fields, None) == PAIR


@pytest.mark.parametrize(("fields", "message"), [
    ({"prompt": "q", "completion": "a", "label": "maybe"}, "field 'label' must be true or false"),
    ({"prompt": "q", "chosen": "a", "rejected": [{"role": "robot", "content": "x"}]}, "rejected[0].role is 'robot'"),
    ({"prompt": "q", "chosen": [USER], "rejected": [BAD]}, "answers that end with an assistant turn"),
])
def test_bad_preference_rows_name_the_line(fields, message):
    record = Record("prefs.jsonl", 7, fields)
    with pytest.raises(UserError, match=re.escape(message)) as raised:
        normalise(record, detect_format(record, {}), {}, None)
    assert str(raised.value).startswith("prefs.jsonl:7: ")


def test_half_a_pair_names_the_missing_answer_and_the_fields_found():
    with pytest.raises(UserError) as raised:
        detect_format(Record("prefs.jsonl", 1, {"prompt": "q", "chosen": "a", "answer": "b"}), {}, "dpo")
    assert str(raised.value) == ("prefs.jsonl:1: has 'chosen' but no 'rejected' (the answer to learn from or compare "
                                 "with); found fields: prompt, chosen, answer")


@pytest.mark.parametrize(("rows", "objective", "message"), [
    ([{"prompt": "q", "completion": "a"}], "dpo", "--objective dpo needs prompt + chosen + rejected"),
    ([{"prompt": "q", "completion": "a", "label": True}], "dpo", "--objective dpo needs"),
    ([{"prompt": "q", "completion": "a"}], "kto", "--objective kto needs"),
    ([{"prompt": "q", "chosen": "a", "rejected": "b"}], "sft", "train on them with --objective dpo (or kto)"),
    ([{"prompt": "q", "completion": "a", "label": True}], "sft", "train on them with --objective kto"),
])
def test_an_objective_refuses_rows_it_cannot_learn_from(tmp_path, rows, objective, message):
    data = write_jsonl(tmp_path / "rows.jsonl", rows)
    with pytest.raises(UserError, match=re.escape(message)):
        load_rows(str(data), DataConfig(), objective=objective)


def _pairs(count: int) -> list[dict]:
    return [{"prompt": f"Question {i}?", "chosen": f"Answer {i}.", "rejected": f"Wrong {i}."} for i in range(count)]


def test_pairs_whose_answers_are_equal_are_dropped_and_counted(tmp_path):
    rows = _pairs(6) + [{"prompt": "Same?", "chosen": "Same.", "rejected": "Same."}] * 2
    data = prepare_preference_data(DataConfig(train=str(write_jsonl(tmp_path / "p.jsonl", rows))), "dpo", 0)
    assert len(data.train) == 6 and data.train_stats.dropped_identical == 2 and data.train_stats.rows == 8
    assert data.train[0] == {"prompt": [{"role": "user", "content": "Question 0?"}],
                             "chosen": [{"role": "assistant", "content": "Answer 0."}],
                             "rejected": [{"role": "assistant", "content": "Wrong 0."}]}
    assert data.report()["train"] == {"rows": 8, "dropped_identical": 2, "dropped_too_long": 0}


def test_validation_is_held_out_and_kept_as_chats_for_generation_metrics(tmp_path):
    data = prepare_preference_data(
        DataConfig(train=str(write_jsonl(tmp_path / "p.jsonl", _pairs(10))), val_fraction=0.2), "dpo", 0)
    assert (len(data.train), len(data.validation)) == (8, 2)
    held = {row["prompt"][0]["content"] for row in data.validation}
    assert held.isdisjoint(row["prompt"][0]["content"] for row in data.train)
    chats = data.validation_rows.rows
    assert [chat["messages"][-1]["content"] for chat in chats] == [f"Answer {q[9:-1]}." for q in sorted(held)]


def test_kto_takes_pairs_as_one_desirable_and_one_undesirable_row_in_a_seeded_order(tmp_path):
    config = DataConfig(train=str(write_jsonl(tmp_path / "p.jsonl", _pairs(8))))
    first, again = (prepare_preference_data(config, "kto", seed) for seed in (1, 1))
    other = prepare_preference_data(config, "kto", 2)
    assert len(first.train) == 16 and (first.train_stats.desirable, first.train_stats.undesirable) == (8, 8)
    rows = list(first.train)
    assert rows == list(again.train) and rows != list(other.train)
    assert {(r["completion"][0]["content"], r["label"]) for r in rows} == \
        {(f"Answer {i}.", True) for i in range(8)} | {(f"Wrong {i}.", False) for i in range(8)}


def test_kto_with_one_label_only_is_refused(tmp_path):
    rows = [{"prompt": "q", "completion": "a", "label": False}] * 3
    with pytest.raises(UserError, match="every row has label false .undesirable."):
        prepare_preference_data(DataConfig(train=str(write_jsonl(tmp_path / "k.jsonl", rows))), "kto", 0)
