"""Preference data for objective dpo and kto: TRL's conversational rows, with what was dropped counted.

Rows are read, detected and normalised like every other shape (`shapes.py`), then handed to TRL untokenized: its
DPOTrainer/KTOTrainer render them with the same chat template honed renders supervised rows with. What honed adds:
pairs whose chosen and rejected answers are equal teach nothing and are dropped and counted, a KTO set with one label
only is refused, and the validation split is held out as for supervised runs.
"""

from __future__ import annotations

import logging
import random
from dataclasses import asdict, dataclass

from honed.config.schema import DataConfig
from honed.data.loading import RowSet, load_rows, shared_system_prompt, split_validation
from honed.errors import UserError

log = logging.getLogger("honed")


@dataclass
class PreferenceStats:
    rows: int = 0  # as read
    dropped_identical: int = 0  # chosen equal to rejected: no preference to learn
    dropped_too_long: int = 0  # prompt alone fills data.max_length (TRL drops these when it tokenizes)
    desirable: int | None = None  # kto only
    undesirable: int | None = None

    def as_dict(self) -> dict:
        return {key: value for key, value in asdict(self).items() if value is not None}


@dataclass
class PreferenceData:
    """What `prepare_data` is for supervised runs: datasets (of untokenized rows here) and a report."""

    train: object  # datasets.Dataset
    validation: object | None
    shape: str
    train_stats: PreferenceStats
    validation_stats: PreferenceStats | None
    validation_rows: RowSet | None = None  # as chat rows (prompt + preferred answer), for generation metrics
    system_prompt: str | None = None  # the system message every training row's prompt shares

    def report(self) -> dict:
        return {
            "shape": self.shape,
            "train": self.train_stats.as_dict(),
            "validation": self.validation_stats.as_dict() if self.validation_stats else None,
        }


def prepare_preference_data(config: DataConfig, objective: str, seed: int) -> PreferenceData:
    if not config.train:
        raise UserError("data.train: no training data given (use --data FILE or set data.train in the config)")
    train_rows = load_rows(config.train, config, objective=objective)
    validation_rows = load_rows(config.validation, config, train_rows.shape, objective) if config.validation else None
    if validation_rows is None:
        train_rows, validation_rows = split_validation(train_rows, config.val_fraction, seed)
    train, train_stats = _dataset(train_rows, objective, seed, both_labels=True)
    validation, validation_stats = _dataset(validation_rows, objective, seed) if validation_rows else (None, None)
    log.info("data: %d %s rows from %s for objective %s", len(train), train_rows.shape, train_rows.source, objective)
    if train_stats.dropped_identical:
        log.warning("data: %d of %d rows dropped: their chosen and rejected answers are the same",
                    train_stats.dropped_identical, train_stats.rows)
    chat = _as_chat(validation_rows) if validation_rows else None
    return PreferenceData(train, validation, train_rows.shape, train_stats, validation_stats, chat,
                          shared_system_prompt(train_rows.rows))


def _dataset(rows: RowSet, objective: str, seed: int, both_labels: bool = False):
    import datasets

    stats = PreferenceStats(rows=len(rows.rows))
    kept = [row for row in rows.rows if not is_tie(row)]
    stats.dropped_identical = stats.rows - len(kept)
    if not kept:
        raise UserError(f"{rows.source}: every row's chosen answer equals its rejected one: nothing to learn")
    dataset = datasets.Dataset.from_list(kept)
    if objective == "kto":
        dataset = _unpaired(dataset, rows.source, stats, seed, both_labels)
    return dataset, stats


def is_tie(row: dict) -> bool:
    return "chosen" in row and row["chosen"] == row["rejected"]


def _unpaired(dataset, source: str, stats: PreferenceStats, seed: int, both_labels: bool):
    """KTO's rows: pairs become one desirable and one undesirable row (TRL's unpair_preference_dataset); the order
    is shuffled once, seeded, because KTO batches rows in order (its KL term pairs each row with its neighbour's
    completion) and a file often lists a prompt's rows side by side."""
    from trl.data_utils import unpair_preference_dataset

    if "chosen" in dataset.column_names:
        dataset = unpair_preference_dataset(dataset)
    labels = dataset["label"]
    stats.desirable, stats.undesirable = sum(labels), len(labels) - sum(labels)
    if both_labels and not (stats.desirable and stats.undesirable):
        only = "true (desirable)" if stats.desirable else "false (undesirable)"
        raise UserError(f"{source}: every row has label {only}: objective kto learns from both desirable and "
                        "undesirable completions; add rows of the other label")
    order = list(range(len(dataset)))
    random.Random(seed).shuffle(order)
    return dataset.select(order)


def _as_chat(rows: RowSet) -> RowSet:
    """The validation rows as conversations ending in the preferred answer, which generation metrics score against;
    KTO's undesirable completions are no reference and are left out."""
    kept = [(row, where) for row, where in zip(rows.rows, rows.wheres, strict=True)
            if row.get("label", True) and not is_tie(row)]
    chats = [{"messages": [*row["prompt"], *(row.get("chosen") or row["completion"])]} for row, _ in kept]
    return RowSet(rows.source, "messages", chats, [where for _, where in kept])
