"""Read raw records from local files, `save_to_disk` folders or hub datasets, keeping line numbers for errors."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from honed.errors import UserError

LOCAL_SUFFIXES = {".jsonl", ".json", ".csv", ".parquet", ".txt"}


@dataclass(frozen=True)
class Record:
    """One raw row and where it came from, so a later error can name the file and line."""

    source: str
    line: int
    fields: dict[str, Any]

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"


def read_records(source: str, split: str = "train") -> list[Record]:
    path = Path(source)
    if path.is_dir():
        records = _read_saved_dataset(path, split)
    elif path.suffix.lower() in LOCAL_SUFFIXES or path.exists():
        if not path.is_file():
            raise UserError(f"{source}: no such file")
        records = _read_file(path)
    elif not path.suffix and not source.startswith((".", "/")):
        records = _read_hub_dataset(source, split)
    else:
        raise UserError(f"{source}: no such file, folder or hub dataset (expected {', '.join(sorted(LOCAL_SUFFIXES))})")
    if not records:
        raise UserError(f"{source}: no records (the file is empty)")
    return records


def _read_file(path: Path) -> list[Record]:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _read_parquet(path)
    text = _read_text(path)
    reader = {".jsonl": _parse_jsonl, ".json": _parse_json, ".csv": _parse_csv, ".txt": _parse_txt}.get(suffix)
    if reader is None:  # an existing file with another suffix: JSON Lines is the common case
        reader = _parse_jsonl
    return reader(str(path), text)


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise UserError(f"{path}: cannot read ({e.strerror})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise UserError(f"{path}:{line}: not UTF-8 text (byte {e.start}); save the file as UTF-8") from None


def _parse_jsonl(source: str, text: str) -> list[Record]:
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(f"{source}:{number}: invalid JSON ({e.msg}; column {e.colno})") from None
        if not isinstance(value, dict):
            raise UserError(f"{source}:{number}: expected a JSON object per line, got {type(value).__name__}")
        records.append(Record(source, number, value))
    return records


def _parse_json(source: str, text: str) -> list[Record]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(f"{source}:{e.lineno}: invalid JSON ({e.msg}; column {e.colno})") from None
    if isinstance(value, dict) and isinstance(value.get("data"), list):
        value = value["data"]
    if not isinstance(value, list):
        raise UserError(f"{source}:1: expected a JSON array of objects (or {{\"data\": [...]}})")
    records = []
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise UserError(f"{source}: item {index}: expected a JSON object, got {type(item).__name__}")
        records.append(Record(source, index + 1, item))
    return records


def _parse_csv(source: str, text: str) -> list[Record]:
    reader = csv.DictReader(text.splitlines())
    records = []
    for row in reader:
        if None in row:
            raise UserError(f"{source}:{reader.line_num}: more values than header columns")
        records.append(Record(source, reader.line_num, dict(row)))
    return records


def _parse_txt(source: str, text: str) -> list[Record]:
    return [Record(source, n, {"text": line}) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]


def _read_parquet(path: Path) -> list[Record]:
    import pyarrow.parquet as pq

    try:
        rows = pq.read_table(path).to_pylist()
    except Exception as e:  # pyarrow raises several types for a damaged file
        raise UserError(f"{path}: cannot read as Parquet ({e})") from None
    return [Record(str(path), n, row) for n, row in enumerate(rows, start=1)]


def _read_saved_dataset(path: Path, split: str) -> list[Record]:
    import datasets

    try:
        loaded = datasets.load_from_disk(str(path))
    except FileNotFoundError:
        raise UserError(f"{path}: a folder, but not one written by datasets' save_to_disk") from None
    if isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            raise UserError(f"{path}: no split {split!r}; it has {', '.join(loaded)} (set data.split)")
        loaded = loaded[split]
    return [Record(f"{path}[{split}]", n, row) for n, row in enumerate(loaded, start=1)]


def _read_hub_dataset(name: str, split: str) -> list[Record]:
    import datasets

    try:
        loaded = datasets.load_dataset(name, split=split)
    except Exception as e:  # offline, unknown name, bad split: all reported the same way
        raise UserError(f"{name}: cannot load this hub dataset ({type(e).__name__}: {str(e).splitlines()[0]})") from None
    return [Record(f"{name}[{split}]", n, row) for n, row in enumerate(loaded, start=1)]
