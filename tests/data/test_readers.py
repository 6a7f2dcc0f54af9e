"""read_records: every local form, line numbers kept, and each bad file named by file and line."""

from __future__ import annotations

import json
import re

import pytest

from honed.data.readers import read_records
from honed.errors import UserError

ROWS = [
    {"prompt": "Where is my order?", "completion": "It ships in two days."},
    {"prompt": "Ünïcödé 🙂", "completion": "ok, \"quoted\", comma"},
]


def _jsonl(path):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ROWS), encoding="utf-8")


def _json_array(path):
    path.write_text(json.dumps(ROWS, ensure_ascii=False, indent=2), encoding="utf-8")


def _json_data_key(path):
    path.write_text(json.dumps({"data": ROWS}, ensure_ascii=False), encoding="utf-8")


def _csv(path):
    import csv

    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["prompt", "completion"])
        writer.writeheader()
        writer.writerows(ROWS)


def _parquet(path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(ROWS), path)


WRITERS = [
    pytest.param("train.jsonl", _jsonl, [1, 2], id="jsonl"),
    pytest.param("train.json", _json_array, [1, 2], id="json-array"),
    pytest.param("train.json", _json_data_key, [1, 2], id="json-data-key"),
    pytest.param("train.csv", _csv, [2, 3], id="csv"),  # line 1 is the header
    pytest.param("train.parquet", _parquet, [1, 2], id="parquet"),
    pytest.param("TRAIN.JSONL", _jsonl, [1, 2], id="upper-case-suffix"),
    pytest.param("train.data", _jsonl, [1, 2], id="other-suffix-read-as-jsonl"),
]


@pytest.mark.parametrize(("name", "write", "lines"), WRITERS)
def test_reads_each_file_form(tmp_path, name, write, lines):
    path = tmp_path / name
    write(path)
    records = read_records(str(path))
    assert [r.fields for r in records] == ROWS
    assert [r.line for r in records] == lines
    assert all(r.source == str(path) for r in records)
    assert records[0].where == f"{path}:{lines[0]}"


def test_txt_one_record_per_non_blank_line(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("first line\n\n   \nsecond line\nthird 🙂\n", encoding="utf-8")
    records = read_records(str(path))
    assert [r.fields for r in records] == [{"text": "first line"}, {"text": "second line"}, {"text": "third 🙂"}]
    assert [r.line for r in records] == [1, 4, 5]


def test_jsonl_blank_lines_keep_line_numbers_and_bom_is_accepted(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b'{"text": "a"}\n\n{"text": "b"}\r\n')
    records = read_records(str(path))
    assert [(r.line, r.fields) for r in records] == [(1, {"text": "a"}), (3, {"text": "b"})]


@pytest.fixture(scope="module")
def saved_dataset(tmp_path_factory):
    import datasets

    folder = tmp_path_factory.mktemp("saved")
    datasets.Dataset.from_list(ROWS).save_to_disk(str(folder / "plain"))
    datasets.DatasetDict(
        {"train": datasets.Dataset.from_list(ROWS), "test": datasets.Dataset.from_list(ROWS[:1])}
    ).save_to_disk(str(folder / "dict"))
    (folder / "not-a-dataset").mkdir()
    return folder


def test_save_to_disk_dataset(saved_dataset):
    records = read_records(str(saved_dataset / "plain"))
    assert [r.fields for r in records] == ROWS
    assert [r.line for r in records] == [1, 2]
    assert records[0].where == f"{saved_dataset / 'plain'}[train]:1"


@pytest.mark.parametrize(("split", "rows"), [("train", ROWS), ("test", ROWS[:1])])
def test_save_to_disk_dataset_dict_split(saved_dataset, split, rows):
    records = read_records(str(saved_dataset / "dict"), split=split)
    assert [r.fields for r in records] == rows
    assert records[0].source == f"{saved_dataset / 'dict'}[{split}]"


def test_save_to_disk_missing_split(saved_dataset):
    with pytest.raises(UserError) as raised:
        read_records(str(saved_dataset / "dict"), split="validation")
    message = str(raised.value)
    assert "no split 'validation'" in message
    assert "train" in message and "test" in message
    assert "data.split" in message


def test_folder_that_is_not_a_saved_dataset(saved_dataset):
    with pytest.raises(UserError, match="not one written by datasets' save_to_disk"):
        read_records(str(saved_dataset / "not-a-dataset"))


# --- errors ------------------------------------------------------------------------------------------------------

GOOD = '{"text": "fine"}\n'


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        pytest.param(
            "train.jsonl", GOOD + GOOD + '{"text": "broken\n' + GOOD,
            r"^{path}:3: invalid JSON \(Unterminated string.*; column 10\)$",
            id="malformed-jsonl-line-3",
        ),
        pytest.param(
            "train.jsonl", GOOD + "\n" + "{'single': 'quotes'}\n",
            r"^{path}:3: invalid JSON \(",
            id="malformed-after-blank-line",
        ),
        pytest.param(
            "train.jsonl", GOOD + '["a", "list"]\n',
            r"^{path}:2: expected a JSON object per line, got list$",
            id="non-object-line",
        ),
        pytest.param("train.jsonl", GOOD + "42\n", r"^{path}:2: expected a JSON object per line, got int$", id="number"),
        pytest.param("train.jsonl", "", r"^{path}: no records", id="empty-jsonl"),
        pytest.param("train.jsonl", "\n  \n\n", r"^{path}: no records", id="blank-jsonl"),
        pytest.param("train.txt", "", r"^{path}: no records", id="empty-txt"),
        pytest.param("train.csv", "prompt,completion\n", r"^{path}: no records", id="csv-header-only"),
        pytest.param("train.json", "[]", r"^{path}: no records", id="empty-json-array"),
        pytest.param(
            "train.json", '[\n  {"text": "a"},\n  {"text": }\n]', r"^{path}:3: invalid JSON \(", id="malformed-json"
        ),
        pytest.param(
            "train.json", '{"text": "a"}', r"^{path}:1: expected a JSON array of objects", id="json-not-array"
        ),
        pytest.param("train.json", '[{"text": "a"}, "b"]', r"^{path}: item 1: expected a JSON object", id="json-item"),
        pytest.param(
            "train.csv", "prompt,completion\na,b\nc,d,e\n", r"^{path}:3: more values than header columns",
            id="csv-extra-column",
        ),
    ],
)
def test_bad_text_files(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UserError) as raised:
        read_records(str(path))
    assert re.search(expected.replace("{path}", re.escape(str(path))), str(raised.value)), str(raised.value)


@pytest.mark.parametrize(
    ("content", "line", "byte"),
    [
        pytest.param(b"\xff\xfe" + '{"text": "utf-16?"}'.encode(), 1, 0, id="first-line"),
        pytest.param(GOOD.encode() * 2 + b'{"text": "caf\xe9"}\n', 3, 2 * len(GOOD) + 13, id="latin-1-on-line-3"),
    ],
)
def test_non_utf8_file_names_the_line(tmp_path, content, line, byte):
    path = tmp_path / "train.jsonl"
    path.write_bytes(content)
    with pytest.raises(UserError) as raised:
        read_records(str(path))
    assert str(raised.value) == f"{path}:{line}: not UTF-8 text (byte {byte}); save the file as UTF-8"


def test_damaged_parquet(tmp_path):
    path = tmp_path / "train.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(UserError, match=r"cannot read as Parquet"):
        read_records(str(path))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("missing.jsonl", "{path}: no such file"),
        ("missing.parquet", "{path}: no such file"),
        ("sub/missing.csv", "{path}: no such file"),
    ],
)
def test_missing_file(tmp_path, name, expected):
    path = tmp_path / name
    with pytest.raises(UserError) as raised:
        read_records(str(path))
    assert str(raised.value) == expected.format(path=path)


def test_missing_path_without_a_known_suffix(tmp_path):
    path = tmp_path / "nothing-here"
    with pytest.raises(UserError) as raised:
        read_records(str(path))
    message = str(raised.value)
    assert message.startswith(f"{path}: no such file, folder or hub dataset")
    for suffix in (".jsonl", ".json", ".csv", ".parquet", ".txt"):
        assert suffix in message


def test_a_folder_named_like_a_file_is_not_read_as_one(tmp_path):
    folder = tmp_path / "data.jsonl"
    folder.mkdir()
    with pytest.raises(UserError):
        read_records(str(folder))
