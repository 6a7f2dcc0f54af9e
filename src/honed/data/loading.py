"""From the data section of a config to tokenized train/validation sets and a report of what was found."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

from honed.config.schema import DataConfig
from honed.data.encoding import EncodingStats, encode_rows
from honed.data.readers import Record, read_records
from honed.data.shapes import PREFERENCE_SHAPES, check_objective, detect_format, normalise_all
from honed.errors import UserError

log = logging.getLogger("honed")


@dataclass
class RowSet:
    """Normalised rows of one file and where each came from."""

    source: str
    shape: str
    rows: list[dict]
    wheres: list[str]


def load_rows(source: str, config: DataConfig, expected_shape: str | None = None,
              objective: str | None = None) -> RowSet:
    """Every row of `source`, normalised; with an `objective`, rows it cannot learn from are refused."""
    records = read_records(source, config.split)
    shape = config.format if config.format != "auto" else detect_format(records[0], config.fields, objective)
    if objective is not None:
        check_objective(records[0], shape, objective)
    if expected_shape and _family(shape) != _family(expected_shape):
        raise UserError(
            f"{source}: rows are {shape}-shaped but the training data is {expected_shape}-shaped; "
            "use the same shape for both"
        )
    return RowSet(source, shape, normalise_all(records, shape, config.fields, config.system_prompt), _wheres(records))


def _family(shape: str) -> str:
    return "text" if shape == "text" else "preference" if shape in PREFERENCE_SHAPES else "chat"


def _wheres(records: list[Record]) -> list[str]:
    return [record.where for record in records]


def split_validation(rows: RowSet, fraction: float, seed: int) -> tuple[RowSet, RowSet | None]:
    if fraction <= 0:
        return rows, None
    order = list(range(len(rows.rows)))
    random.Random(seed).shuffle(order)
    count = max(1, round(len(order) * fraction))
    if count >= len(order):
        raise UserError(f"{rows.source}: {len(order)} rows are too few to hold out data.val_fraction={fraction}")
    held, kept = sorted(order[:count]), sorted(order[count:])

    def subset(indices: list[int]) -> RowSet:
        return RowSet(rows.source, rows.shape, [rows.rows[i] for i in indices], [rows.wheres[i] for i in indices])

    return subset(kept), subset(held)


@dataclass
class PreparedData:
    train: object  # datasets.Dataset
    validation: object | None
    shape: str
    train_stats: EncodingStats
    validation_stats: EncodingStats | None
    validation_rows: RowSet | None = None  # untokenized, for generation-based evaluation during training
    system_prompt: str | None = None  # the system message every training row shares (None: no such message)

    def report(self) -> dict:
        return {
            "shape": self.shape,
            "train": self.train_stats.as_dict(),
            "validation": self.validation_stats.as_dict() if self.validation_stats else None,
        }


def prepare_data(config: DataConfig, tokenizer, seed: int) -> PreparedData:
    if not config.train:
        raise UserError("data.train: no training data given (use --data FILE or set data.train in the config)")
    train_rows = load_rows(config.train, config, objective="sft")
    validation_rows = load_rows(config.validation, config, train_rows.shape) if config.validation else None
    if validation_rows is None:
        train_rows, validation_rows = split_validation(train_rows, config.val_fraction, seed)
    train, train_stats = _encode(tokenizer, train_rows, config)
    validation, validation_stats = _encode(tokenizer, validation_rows, config) if validation_rows else (None, None)
    _log_report(train_rows, train_stats, validation_stats, config)
    return PreparedData(train, validation, train_rows.shape, train_stats, validation_stats, validation_rows,
                        shared_system_prompt(train_rows.rows))


def shared_system_prompt(rows: list[dict]) -> str | None:
    """The system message all rows open with, if they share one: the task described in the data's own words."""
    prompts = {_system_message(row) for row in rows}
    return prompts.pop() if len(prompts) == 1 else None


def _system_message(row: dict) -> str | None:
    first = (row.get("messages") or row.get("prompt") or [{}])[0]  # a chat row, or a preference row's prompt
    return first.get("content") if isinstance(first, dict) and first.get("role") == "system" else None


def _encode(tokenizer, rows: RowSet, config: DataConfig):
    import datasets

    columns, stats = encode_rows(tokenizer, rows.rows, rows.wheres, config.train_on, config.max_length, rows.source)
    return datasets.Dataset.from_dict(columns), stats


def _log_report(rows: RowSet, train: EncodingStats, validation: EncodingStats | None, config: DataConfig) -> None:
    log.info(
        "data: %s rows of shape '%s' from %s; %d tokens, %d supervised (%s)",
        train.rows, rows.shape, rows.source, train.tokens, train.supervised_tokens,
        "completion only" if config.train_on == "completion" and rows.shape != "text" else "all tokens",
    )
    if train.truncated:
        log.warning("data: %d of %d rows truncated to max_length=%d", train.truncated, train.rows, config.max_length)
    if train.dropped_no_supervised_tokens:
        log.warning(
            "data: %d rows dropped with no completion tokens left after truncation (first: %s)",
            train.dropped_no_supervised_tokens, train.examples_dropped[0],
        )
    if validation:
        log.info("data: %d validation rows", validation.rows - validation.dropped_no_supervised_tokens)
