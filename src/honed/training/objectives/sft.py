"""Supervised fine-tuning: honed's own Trainer on honed's tokenized rows, packed where the technique and model allow,
with the loss at labelled positions only."""

from __future__ import annotations

from honed.training.objectives import Objective


def _prepare(config, tokenizer):
    from honed.data import prepare_data

    return prepare_data(config.data, tokenizer, config.training.seed)


def _plan(config, method, data, model, world_size: int):
    from honed.training.batching import plan_batches
    from honed.training.trainer import optimizer_steps

    lengths = [len(ids) for ids in data.train["input_ids"]]
    plan = plan_batches(config.training, method, lengths, model)
    steps = optimizer_steps(plan.batches_per_epoch(lengths, config.training.batch_size, config.training.seed),
                            config.training, world_size)
    return plan, steps


def _loss_plan(model, method, training):
    from honed.training.trainer import plan_loss

    return plan_loss(model, method, training)


def _build(setup, extra_callbacks: list):
    from honed.training.trainer import build_supervised_trainer

    return build_supervised_trainer(setup, extra_callbacks)


OBJECTIVE = Objective("sft", _prepare, _plan, _loss_plan, _build)
