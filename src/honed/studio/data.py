"""Data: what honed makes of a file before anyone trains on it (its shape, rows as the model will see them with the
trained part marked, token lengths, rows truncated or dropped, duplicates, test rows that leak from training), and
uploads, checked before a byte lands in the workspace."""

from __future__ import annotations

import functools
import io
import json
import os
import tempfile
from pathlib import Path

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from honed.config import DataConfig
from honed.config.schema import DEFAULT_MODEL
from honed.data import IGNORE_INDEX
from honed.errors import UserError

UPLOADS_DIR = "uploads"
PREVIEW_ROWS = 12


def router(studio) -> APIRouter:
    routes = APIRouter()
    workspace = studio.workspace

    @routes.get("/data")
    def data_page(request: Request, file: str = "", test: str = "", model: str = DEFAULT_MODEL):
        return studio.page(request, "data.html", files=workspace.files(), file=file, test=test, model=model)

    @routes.get("/api/data")
    def data_json(file: str, test: str = "", model: str = DEFAULT_MODEL, max_length: int = 1024,
                  train_on: str = "completion"):
        test_path = str(workspace.inside(test)) if test else None
        return _inspected(str(workspace.inside(file)), model, max_length, train_on, test_path, workspace.root)

    @routes.get("/data/lengths.svg")
    def lengths_chart(file: str, model: str = DEFAULT_MODEL, max_length: int = 1024, train_on: str = "completion"):
        report = _inspected(str(workspace.inside(file)), model, max_length, train_on, None, workspace.root)
        return Response(_histogram(report["lengths"], max_length), media_type="image/svg+xml")

    @routes.post("/api/upload")
    async def upload(request: Request, name: str = Query(...)):
        """The request body is the file. It is checked in a temporary folder first: a file honed cannot read is
        refused with the CLI's message and writes nothing; a name already taken gets a new one, never replaced."""
        body = await _body_within(request, studio.upload_limit)
        safe = Path(name).name
        if not safe or safe.startswith(".") or Path(safe).suffix.lower() not in (".jsonl", ".json", ".csv", ".txt",
                                                                                   ".parquet"):
            raise UserError(f"{name}: upload a .jsonl, .json, .csv, .txt or .parquet file")
        with tempfile.TemporaryDirectory() as folder:
            trial = Path(folder) / safe
            trial.write_bytes(body)
            try:
                rows = _rows(str(trial))
            except UserError as error:
                raise UserError(str(error).replace(str(trial), safe)) from None
            target = _free_name(workspace.root / UPLOADS_DIR / safe)
            target.parent.mkdir(exist_ok=True)
            with open(target, "xb") as out:  # x: never over a file that appeared meanwhile
                out.write(body)
        return {"file": workspace.relative(target), "shape": rows.shape, "rows": len(rows.rows)}

    return routes


async def _body_within(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and int(declared) > limit:
        raise UserError(f"the file is {int(declared) / 2**20:.1f} MB; the studio takes at most {limit / 2**20:.0f} MB "
                        "(honed studio --upload-limit-mb)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise UserError(f"the file is over {limit / 2**20:.0f} MB (honed studio --upload-limit-mb)")
        chunks.append(chunk)
    if size == 0:
        raise UserError("the file is empty")
    return b"".join(chunks)


def _free_name(path: Path) -> Path:
    candidate, number = path, 1
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}-{number}{path.suffix}")
        number += 1
    return candidate


def _rows(path: str, config: DataConfig | None = None):
    from honed.data.loading import load_rows

    return load_rows(path, config or DataConfig())


@functools.lru_cache(maxsize=4)
def _tokenizer(model: str):
    from honed.models import load_tokenizer

    return load_tokenizer(model)


def _inspected(path: str, model: str, max_length: int, train_on: str, test_path: str | None, root: Path) -> dict:
    """The page asks for the report and then its histogram: the file is read and tokenized once for both (and again
    only when it changes)."""
    return _inspect_once(path, _mtime(path), model, max_length, train_on, test_path, _mtime(test_path), root)


def _mtime(path: str | None) -> float | None:
    return os.stat(path).st_mtime_ns if path and os.path.exists(path) else None


@functools.lru_cache(maxsize=8)
def _inspect_once(path, mtime, model, max_length, train_on, test_path, test_mtime, root) -> dict:
    return inspect(path, model, max_length, train_on, test_path, root)


def inspect(path: str, model: str, max_length: int, train_on: str, test_path: str | None, root: Path) -> dict:
    from honed.data.encoding import chat_segments, encode_row

    config = DataConfig(max_length=max_length, train_on=train_on)
    rows = _rows(path, config)
    tokenizer = _tokenizer(model)
    lengths, truncated, dropped = [], [], []
    for row, where in zip(rows.rows, rows.wheres, strict=True):
        encoded = encode_row(tokenizer, row, train_on, max_length)
        full = len(encode_row(tokenizer, row, train_on, 10**9).input_ids) if encoded.truncated else len(encoded.input_ids)
        lengths.append(full)
        where = _short(where, root)
        if encoded.truncated:
            truncated.append({"where": where, "tokens": full})
        if not any(label != IGNORE_INDEX for label in encoded.labels):
            dropped.append({"where": where, "why": f"no answer token left within max_length={max_length}"})
    preview = []
    for row, where in list(zip(rows.rows, rows.wheres, strict=True))[:PREVIEW_ROWS]:
        if "messages" in row:
            segments = chat_segments(tokenizer, row["messages"])
            if train_on == "all":
                segments = [(text, True) for text, _ in segments]
        else:
            segments = [(row.get("text", json.dumps(row)), True)]
        preview.append({"where": _short(where, root), "segments": segments})
    report = {"file": _short(path, root), "shape": rows.shape, "rows": len(rows.rows),
              "fields": sorted(_fields_of(path)), "lengths": lengths, "max_length": max_length,
              "truncated": truncated, "dropped": dropped, "duplicates": _duplicates(rows, root), "preview": preview,
              "leaks": _leaks(rows, test_path, config, root) if test_path else None}
    return report


def _fields_of(path: str) -> set[str]:
    from honed.data.readers import read_records

    return set(read_records(path)[0].fields)


def _key(row: dict) -> str:
    return json.dumps(row, sort_keys=True, ensure_ascii=False)


def _duplicates(rows, root: Path) -> list[list[str]]:
    """Groups of rows that are exactly the same once read (same messages), by where they are."""
    groups: dict[str, list[str]] = {}
    for row, where in zip(rows.rows, rows.wheres, strict=True):
        groups.setdefault(_key(row), []).append(_short(where, root))
    return [group for group in groups.values() if len(group) > 1]


def _leaks(rows, test_path: str, config: DataConfig, root: Path) -> list[dict]:
    """Test rows whose prompt (everything before the answer) is also a training row's prompt."""
    from honed.data.encoding import split_prompt_reference

    def prompt_of(row: dict) -> str:
        if "messages" not in row:
            return _key(row)
        return _key(split_prompt_reference(row)[0])

    seen = {}
    for row, where in zip(rows.rows, rows.wheres, strict=True):
        seen.setdefault(prompt_of(row), _short(where, root))
    test = _rows(test_path, config)
    return [{"test": _short(where, root), "train": seen[prompt_of(row)]}
            for row, where in zip(test.rows, test.wheres, strict=True) if prompt_of(row) in seen]


def _short(where: str, root: Path) -> str:
    return where.replace(str(root) + os.sep, "")


def _histogram(lengths: list[int], max_length: int) -> str:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.2, 2.8), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    axes.hist(lengths, bins=min(40, max(5, len(set(lengths)))), color="#1f77b4")
    axes.axvline(max_length, color="#d62728", linestyle="--", label=f"max_length {max_length}")
    axes.set_xlabel("tokens per row (chat template applied)")
    axes.set_ylabel("rows")
    if max(lengths, default=0) >= max_length:
        axes.legend(fontsize=8)
    axes.grid(alpha=0.3)
    out = io.StringIO()
    figure.savefig(out, format="svg")
    return out.getvalue()
