"""Prompt data for objective grpo: each row's conversation up to its last answer, which the model answers itself,
and that answer as the reference the rewards compare with. Read and normalised like every other shape; rows with no
prompt (plain text) are refused, since there is nothing to answer."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from honed.config.schema import DataConfig
from honed.data.encoding import split_prompt_reference
from honed.data.loading import RowSet, load_rows, shared_system_prompt, split_validation
from honed.errors import UserError

log = logging.getLogger("honed")


@dataclass
class PromptData:
    """What `prepare_data` is for supervised runs: datasets of {prompt: messages, reference: text}, and a report."""

    train: object  # datasets.Dataset
    validation: object | None
    shape: str
    rows: int
    validation_rows: RowSet | None = None  # as chat rows, for generation metrics
    system_prompt: str | None = None

    def report(self) -> dict:
        return {"shape": self.shape, "train": {"rows": self.rows},
                "validation": {"rows": len(self.validation)} if self.validation is not None else None}


def prepare_prompt_data(config: DataConfig, seed: int) -> PromptData:
    if not config.train:
        raise UserError("data.train: no training data given (use --data FILE or set data.train in the config)")
    train_rows = load_rows(config.train, config)
    _refuse_rows_without_prompt(train_rows)
    validation_rows = load_rows(config.validation, config, train_rows.shape) if config.validation else None
    if validation_rows is None:
        train_rows, validation_rows = split_validation(train_rows, config.val_fraction, seed)
    train = _dataset(train_rows).shuffle(seed=seed)  # once, here: see grpo_arguments (shuffle_dataset False)
    log.info("data: %d prompts from %s for objective grpo", len(train), train_rows.source)
    return PromptData(train, _dataset(validation_rows) if validation_rows else None, train_rows.shape,
                      len(train_rows.rows), validation_rows, shared_system_prompt(train_rows.rows))


def _refuse_rows_without_prompt(rows: RowSet) -> None:
    if rows.shape == "text":
        raise UserError(f"{rows.source}: rows have only 'text': objective grpo needs prompts to answer "
                        "(prompt/completion, alpaca or messages rows)")
    for row, where in zip(rows.rows, rows.wheres, strict=True):
        messages, _ = split_prompt_reference(row)
        if not any(message["role"] == "user" for message in messages):
            raise UserError(f"{where}: no user turn before the answer: objective grpo needs a prompt to answer")


def _dataset(rows: RowSet):
    import datasets

    prompts, references = [], []
    for row in rows.rows:
        messages, reference = split_prompt_reference(row)
        prompts.append(messages[:-1])
        references.append(reference)
    return datasets.Dataset.from_dict({"prompt": prompts, "reference": references})
