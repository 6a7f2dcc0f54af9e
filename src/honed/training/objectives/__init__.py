"""The training objectives, one small module each, chosen by `training.objective`: what the objective prepares from
the data, how it batches, what its loss is, which Trainer runs it and what the summary records of it. The runner asks
this registry and knows no objective by name; no objective imports another (dpo and kto share training/preference.py,
which is not an objective)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

OBJECTIVES = ("sft", "dpo", "kto", "grpo")  # as config.schema's training.objective lists them (a test holds them equal)


@dataclass(frozen=True)
class Objective:
    name: str
    prepare_data: Callable  # (config, tokenizer) -> the prepared data (train, validation, report())
    plan: Callable  # (config, method, data, model, world_size) -> (BatchPlan, optimizer steps)
    loss_plan: Callable  # (model, method, training) -> LossPlan: what the log and summary say of the loss
    build_trainer: Callable  # (setup, extra callbacks) -> a Trainer with honed's behaviours
    record: Callable = field(default=lambda config: {})  # (config) -> what the summary records beyond its name
    fits: Callable = field(default=lambda config, method: None)  # (config, method): refuses what it cannot honour


def get_objective(name: str) -> Objective:
    if name not in OBJECTIVES:
        raise ValueError(f"objective {name!r}: one of {', '.join(OBJECTIVES)}")
    return importlib.import_module(f"{__name__}.{name}").OBJECTIVE


def refuse_supervised_regulariser(config, method) -> None:
    """A technique whose regulariser lives in honed's supervised loss (AdaLoRA's) cannot be honoured by an objective
    whose loss is TRL's: refused, not trained differently than asked."""
    from honed.errors import UserError

    if method.training_penalty is not None:
        raise UserError(f"method {method.name}: its regulariser is part of honed's supervised loss, which objective "
                        f"{config.training.objective} replaces with TRL's; use lora (or another technique)")
