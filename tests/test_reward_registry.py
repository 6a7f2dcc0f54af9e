"""The reward registry on hand-made completions: valid and invalid JSON, schema violations, partial field matches,
a user's own function in both styles, and the one-line errors for what cannot work."""

from __future__ import annotations

import json

import pytest

from honed.errors import UserError
from honed.evaluation.structured import structured_scores
from honed.rewards import build_reward, closed_fields, load_schema, total

REFERENCE = {"product": "Brightwave Hub 2", "category": "billing", "urgency": "high", "order_id": "BW-123456",
             "summary": "Customer wants a refund for a double charge."}
SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
    "properties": {
        "product": {"enum": ["Brightwave Hub 2", "Thermo S", None]},
        "category": {"enum": ["billing", "outage", "setup", "account", "hardware"]},
        "urgency": {"enum": ["low", "medium", "high"]},
        "order_id": {"anyOf": [{"type": "string", "pattern": "^BW-[0-9]{6}$"}, {"type": "null"}]},
        "summary": {"type": "string", "maxLength": 120},
    },
    "required": ["product", "category", "urgency", "order_id", "summary"], "additionalProperties": False,
}


def _one(name: str, completion: str, reference: str = json.dumps(REFERENCE), **settings) -> float:
    return build_reward(name, **settings)(["prompt"], [completion], [{"reference": reference}])[0]


def _with(**changes) -> str:
    return json.dumps({**REFERENCE, **changes})


@pytest.fixture
def schema_file(tmp_path):
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(SCHEMA))
    return str(path)


@pytest.mark.parametrize("completion, valid", [
    (json.dumps(REFERENCE), 1.0), ("  " + json.dumps(REFERENCE) + "\n", 1.0),
    ("```json\n" + json.dumps(REFERENCE) + "\n```", 0.0), ("Sure! " + json.dumps(REFERENCE), 0.0),
    ('{"product": "Thermo S",', 0.0), ("[1, 2]", 0.0), ("", 0.0),
])
def test_json_valid_is_the_object_alone(completion, valid):
    assert _one("json_valid", completion) == valid


def test_json_schema_rejects_what_the_schema_forbids(schema_file):
    assert _one("json_schema", json.dumps(REFERENCE), schema=schema_file) == 1.0
    assert _one("json_schema", _with(product=None, order_id=None), schema=schema_file) == 1.0
    for wrong in (_with(category="refund"), _with(order_id="123456"), _with(extra="x"), _with(summary="x" * 200),
                  json.dumps({k: v for k, v in REFERENCE.items() if k != "urgency"}), "not json"):
        assert _one("json_schema", wrong, schema=schema_file) == 0.0, wrong


def test_a_schema_file_that_is_not_json_schema_is_one_line(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"type": 12}')
    with pytest.raises(UserError, match=r"broken.json: not a valid JSON Schema at type: 12 is not valid"):
        load_schema(str(broken))
    broken.write_text('{"type": "object",\n oops}')
    with pytest.raises(UserError, match=r"broken.json, line 2: not JSON"):
        load_schema(str(broken))
    with pytest.raises(UserError, match="no such schema file"):
        load_schema(str(tmp_path / "missing.json"))


def test_field_match_counts_the_closed_fields_only(schema_file):
    assert closed_fields(None, REFERENCE) == ["product", "category", "urgency", "order_id"]
    assert closed_fields(SCHEMA, REFERENCE) == ["product", "category", "urgency", "order_id"]
    half = _with(urgency="low", order_id=None, summary="something else entirely, in other words")
    assert _one("field_match", half) == 0.5
    assert _one("field_match", half, schema=schema_file) == 0.5
    assert _one("field_match", json.dumps(REFERENCE)) == 1.0 and _one("field_match", "oops") == 0.0
    with pytest.raises(UserError, match="reference answer is not a JSON object"):
        _one("field_match", json.dumps(REFERENCE), reference="plain text")


def test_exact_regex_rouge_and_length():
    assert _one("exact_match", "The Answer.", reference="answer") == 1.0
    assert _one("exact_match", "an answer", reference="answers") == 0.0
    assert _one("regex", "order BW-123456 ok", pattern=r"BW-\d{6}") == 1.0
    assert _one("regex", "order BW-123456 ok", pattern=r"^BW-\d{6}$") == 0.0
    assert _one("rougeL", "the cat sat", reference="the cat sat") == 1.0
    assert 0 < _one("rougeL", "the cat", reference="the cat sat down") < 1
    assert _one("length", "one two three", max_words=4) == 0.0
    assert _one("length", "one two three four five six", max_words=4) == -0.5
    assert _one("length", "word " * 50, max_words=4) == -1.0


def test_a_bad_regex_is_one_line():
    with pytest.raises(UserError, match="reward regex: pattern '\\(' does not compile"):
        build_reward("regex", pattern="(")


def test_a_users_own_functions_in_either_style(tmp_path, monkeypatch):
    (tmp_path / "my_rewards.py").write_text(
        "def starts_with_brace(prompt, completion, row):\n    return float(completion.startswith('{'))\n\n"
        "def trl_style(prompts, completions, reference, **kwargs):\n"
        "    return [float(c == r) for c, r in zip(completions, reference)]\n\n"
        "def broken(prompt, completion, row):\n    raise KeyError('category')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    own = build_reward("python: my_rewards:starts_with_brace", weight=2.0)
    trl = build_reward("python: my_rewards:trl_style")
    rows = [{"reference": "{}"}, {"reference": "b"}]
    sums, each = total([own, trl], ["p", "q"], ["{}", "a"], rows)
    assert each == {"starts_with_brace": [1.0, 0.0], "trl_style": [1.0, 0.0]} and sums == [3.0, 0.0]
    with pytest.raises(UserError, match=r"^reward broken raised KeyError: 'category'$"):
        build_reward("python: my_rewards:broken")(["p"], ["x"], [{"reference": "y"}])
    with pytest.raises(UserError, match="cannot import no_such_module"):
        build_reward("python: no_such_module:fn")
    with pytest.raises(UserError, match="my_rewards has no function missing"):
        build_reward("python: my_rewards:missing")


def test_a_reward_that_does_not_exist_is_refused_with_a_did_you_mean(tmp_path):
    from honed.config import load_config

    config = tmp_path / "run.yaml"
    config.write_text("model: m\neval:\n  rewards:\n    - json_vaild\n")
    with pytest.raises(UserError, match=r"run.yaml:3: eval.rewards.0: reward 'json_vaild' does not exist \(did you mean 'json_valid'\?\)"):
        load_config(config)


def test_structured_answers_are_scored_field_by_field():
    references = [json.dumps(REFERENCE), _with(order_id=None, urgency="low")]
    predictions = [_with(urgency="low"), "```json\n{}\n```"]
    means, rows = structured_scores(predictions, references)
    assert rows[0]["json_valid"] == 100.0 and rows[1]["json_valid"] == 0.0
    assert rows[0]["field_accuracy"] == 75.0 and rows[1]["field_accuracy"] == 0.0
    assert rows[0]["field_order_id_given"] == 100.0 and "field_order_id_given" not in rows[1]
    assert means["field_order_id_given"] == 100.0 and means["field_order_id"] == 50.0
    assert rows[0]["summary_rougeL"] == 100.0 and means["json_valid"] == 50.0
    assert structured_scores(["a"], ["plain text"]) is None
