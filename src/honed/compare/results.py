"""The result of one contestant, as the worker writes it to result.json and the report reads it back."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

RESULT_FILE = "result.json"


class ContestantResult(BaseModel):
    model_config = ConfigDict(extra="ignore")

    label: str
    method: str | None  # None: the base model, evaluated untrained
    status: Literal["ok", "failed"]
    error: str | None = None
    fingerprint: str
    learning_rate: float | None = None
    trainable_params: int | None = None
    total_params: int | None = None
    saved_bytes: int | None = None
    peak_rss_mb: float | None = None
    peak_gpu_mb: float | None = None
    train_time_s: float | None = None
    tokens_per_s: float | None = None
    steps: int | None = None
    final_train_loss: float | None = None
    initial_val_loss: float | None = None
    final_val_loss: float | None = None
    metrics: dict[str, float] = {}
    elapsed_s: float | None = None
    run_dir: str | None = None
    eval_dir: str | None = None
    # written with the reports (compare/intervals.py): paired 95% intervals of the headline scores' differences
    vs_base: dict[str, dict] = {}
    vs_best: dict[str, dict] = {}
    own_interval: tuple[float, float] | None = None  # the headline score's own interval, for the plot

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def trainable_pct(self) -> float | None:
        if self.trainable_params is None or not self.total_params:
            return None
        return 100.0 * self.trainable_params / self.total_params


def write_result(folder: Path, result: ContestantResult) -> None:
    """Written whole or not at all: a comparison killed mid-write must not leave a half result that looks done."""
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{RESULT_FILE}.partial"
    partial.write_text(result.model_dump_json(indent=2) + "\n", encoding="utf-8")
    os.replace(partial, folder / RESULT_FILE)


def read_result(folder: Path) -> ContestantResult | None:
    path = folder / RESULT_FILE
    if not path.is_file():
        return None
    try:
        return ContestantResult.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, ValidationError):
        return None  # unreadable: treated as not done, so it is measured again
