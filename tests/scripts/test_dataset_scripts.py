"""The bundled datasets are what their generator scripts write: regenerated here, they match byte for byte.

The triage dataset (structured output) is also checked against its contract: every answer is one JSON object with
the five keys in order and allowed values, and examples/data/triage/schema.json accepts every answer (checked with
jsonschema, the library honed's json_schema reward uses).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

ROOT = Path(__file__).resolve().parents[2]
TRIAGE = ROOT / "examples" / "data" / "triage"


@pytest.mark.parametrize("name", ["support", "medical", "content", "triage"])
def test_generator_script_reproduces_the_bundled_dataset(name, tmp_path):
    out = tmp_path / name
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / f"make_{name}_data.py"), str(out)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    bundled = sorted((ROOT / "examples" / "data" / name).glob("*.json*"))  # the splits, and triage's schema.json
    assert {"train.jsonl", "test.jsonl"} <= {p.name for p in bundled}
    assert sorted(p.name for p in out.iterdir()) == [p.name for p in bundled]
    for path in bundled:
        assert (out / path.name).read_bytes() == path.read_bytes(), f"{name}/{path.name} differs from the script's"


# --- triage: the answer's contract -----------------------------------------------------------------------------------

KEYS = ["product", "category", "urgency", "order_id", "summary"]
CATEGORIES = ["billing", "outage", "setup", "account", "hardware"]
URGENCIES = ["low", "medium", "high"]
ORDER_ID = re.compile(r"BW-[0-9]{6}")


def triage_rows(split: str) -> list[tuple[str, str, dict]]:
    """(message, answer text, answer object) per row, each row checked to be system, user, assistant."""
    rows = []
    for line in (TRIAGE / f"{split}.jsonl").read_text(encoding="utf-8").splitlines():
        messages = json.loads(line)["messages"]
        assert [m["role"] for m in messages] == ["system", "user", "assistant"]
        rows.append((messages[1]["content"], messages[2]["content"], json.loads(messages[2]["content"])))
    return rows


def triage_schema() -> dict:
    return json.loads((TRIAGE / "schema.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("split", ["train", "test"])
def test_every_triage_answer_is_one_json_object_with_the_keys_in_order(split):
    products = triage_schema()["properties"]["product"]["enum"]
    for message, text, answer in triage_rows(split):
        assert text == json.dumps(answer, ensure_ascii=False), text  # one line, default separators
        assert list(answer) == KEYS, text
        assert answer["product"] in products, text
        assert answer["category"] in CATEGORIES and answer["urgency"] in URGENCIES, text
        if answer["order_id"] is None:
            assert not ORDER_ID.search(message), message
        else:
            assert ORDER_ID.fullmatch(answer["order_id"]) and answer["order_id"] in message, (message, text)
        summary = answer["summary"]
        assert 6 <= len(summary.split()) <= 16 and summary.startswith("Customer ") and summary.endswith("."), summary


def test_triage_splits_cover_every_label_and_share_no_message():
    train, test = triage_rows("train"), triage_rows("test")
    assert (len(train), len(test)) == (480, 80)
    for rows in (train, test):
        assert {a["category"] for _, _, a in rows} == set(CATEGORIES)
        assert {a["urgency"] for _, _, a in rows} == set(URGENCIES)
        assert {a["product"] is None for _, _, a in rows} == {True, False}
        assert 0.4 <= sum(a["order_id"] is not None for _, _, a in rows) / len(rows) <= 0.6
    assert len({m for m, _, _ in train}) == len(train) and len({m for m, _, _ in test}) == len(test)
    assert not {m for m, _, _ in test} & {m for m, _, _ in train}
    assert not {(m, t) for m, t, _ in test} & {(m, t) for m, t, _ in train}
    systems = {json.loads(line)["messages"][0]["content"] for split in ("train", "test")
               for line in (TRIAGE / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()}
    assert len(systems) == 1


# --- triage: the schema ----------------------------------------------------------------------------------------------


def test_the_triage_schema_states_the_contract():
    schema = triage_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert list(schema["properties"]) == KEYS and schema["required"] == KEYS
    assert schema["additionalProperties"] is False
    assert schema["properties"]["category"]["enum"] == CATEGORIES
    assert schema["properties"]["urgency"]["enum"] == URGENCIES
    order_id = schema["properties"]["order_id"]
    assert (order_id["type"], order_id["pattern"]) == (["string", "null"], "^BW-[0-9]{6}$")
    products = schema["properties"]["product"]["enum"]
    assert products[-1] is None and len(products) == len(set(products)) > 1
    assert isinstance(schema["properties"]["summary"]["maxLength"], int)


@pytest.mark.parametrize("split", ["train", "test"])
def test_the_triage_schema_accepts_every_answer(split):
    validator = Draft202012Validator(triage_schema())
    for _, text, answer in triage_rows(split):
        assert not list(validator.iter_errors(answer)), text


def test_the_triage_schema_rejects_what_the_contract_forbids():
    schema = triage_schema()
    validator = Draft202012Validator(schema)
    good = triage_rows("test")[0][2]
    bad = [
        {**good, "priority": "p1"},
        {k: v for k, v in good.items() if k != "order_id"},
        {**good, "product": "Brightwave Hub 3"},
        {**good, "category": "shipping"},
        {**good, "urgency": "urgent"},
        {**good, "order_id": "BW-12345"},
        {**good, "order_id": 123456},
        {**good, "summary": "x" * (schema["properties"]["summary"]["maxLength"] + 1)},
        [good],
    ]
    assert validator.is_valid(good)
    for answer in bad:
        assert not validator.is_valid(answer), answer
