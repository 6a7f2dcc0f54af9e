"""Preference objectives (dpo, kto) on TRL's DPOTrainer and KTOTrainer, with honed's behaviours mixed in.

TRL computes the loss, the reference log-probabilities and its reward metrics (logged into metrics.jsonl like every
other log value); honed adds what it adds to supervised runs (`trainer.HonedBehaviours`): checkpoints as
safetensors + JSON with exact resume, SIGTERM/SIGINT saves, the NaN guard, the progress bar and token tally, bf16
autocast. The reference: for a peft model TRL keeps no second model; it copies the starting adapter into a frozen
"ref" adapter (a few MB at most) and switches to it for the reference pass, or disables adapters when the adapter
is new (the base model then is the reference); for full fine-tuning it loads a frozen copy of the starting model.
"""

from __future__ import annotations

import functools
import logging
import math

from honed.training.trainer import HonedBehaviours, LossPlan, equip, honed_callbacks, training_arguments

log = logging.getLogger("honed")

REFERENCE_ADAPTER = "ref"  # the name TRL gives its frozen copy of the starting adapter


@functools.cache
def preference_trainer_class(objective: str) -> type:
    """HonedDPOTrainer or HonedKTOTrainer: the same HonedBehaviours as supervised runs, on TRL's trainer."""
    from trl import DPOTrainer, KTOTrainer

    base = {"dpo": DPOTrainer, "kto": KTOTrainer}[objective]
    return type(f"Honed{base.__name__}", (HonedBehaviours, base),
                {"__doc__": f"TRL's {base.__name__} with honed's behaviours."})


def preference_arguments(setup):
    """TRL's config for the objective, from the same honed config as supervised runs. Dropout is off, as TRL does
    by default: the policy and reference passes must see the same network. KTO reads rows in order (its KL term
    pairs each row with its neighbour's completion; the rows were shuffled once, seeded, when prepared)."""
    from trl import DPOConfig, KTOConfig

    config = setup.config
    training = config.training
    kind = DPOConfig if training.objective == "dpo" else KTOConfig
    sampling = "sequential" if training.objective == "kto" else (
        "group_by_length" if training.group_by_length is not False else "random")
    return training_arguments(
        config, setup.precision, setup.run_dir / "trainer", setup.learning_rate, setup.data.validation is not None,
        kind=kind, beta=training.beta_value, max_length=config.data.max_length, disable_dropout=True,
        train_sampling_strategy=sampling, length_column_name=LENGTH_COLUMN,
    )


LENGTH_COLUMN = "length"  # what the Trainer's length-grouped sampler reads, added once TRL has tokenized


def preference_objective(name: str):
    """dpo or kto, as the objectives registry holds them: the same steps, on TRL's trainer for each."""
    from honed.training.objectives import Objective, refuse_supervised_regulariser

    return Objective(name, _prepare, _plan, preference_loss_plan, build_preference_trainer,
                     record=lambda config: {"beta": config.training.beta_value}, fits=refuse_supervised_regulariser)


def _prepare(config, tokenizer):
    """Rows left for TRL to render with the same chat template (it tokenizes them itself)."""
    from honed.data.preference import prepare_preference_data

    return prepare_preference_data(config.data, config.training.objective, config.training.seed)


def _plan(config, method, data, model, world_size: int):
    from honed.training.batching import BatchPlan

    plan = BatchPlan(False, None, "whole preference rows in padded batches (TRL's collator)")
    return plan, preference_steps(len(data.train), config.training, world_size)


def build_preference_trainer(setup, extra_callbacks: list):
    """TRL's trainer (it tokenizes the rows with the chat template, builds the reference and its collator),
    equipped with honed's behaviours; rows TRL dropped as too long are counted in the data report."""
    callbacks, tally, signals = honed_callbacks(setup, extra_callbacks)
    switch_off_dropout(setup.model)
    trainer = preference_trainer_class(setup.config.training.objective)(
        model=setup.model, ref_model=None, args=preference_arguments(setup), train_dataset=setup.data.train,
        eval_dataset=setup.data.validation, processing_class=setup.tokenizer, callbacks=callbacks,
    )
    _count_dropped(setup.data.train_stats, setup.data.train, trainer.train_dataset)
    if trainer.args.train_sampling_strategy == "group_by_length":  # the sampler reads lengths of train and eval
        trainer.train_dataset = trainer.train_dataset.map(_with_length)
        if trainer.eval_dataset is not None:
            trainer.eval_dataset = trainer.eval_dataset.map(_with_length)
    return equip(trainer, setup, tally, signals)


def _with_length(row: dict) -> dict:
    """A pair's padded width in the batch: the prompt and its longer answer (or its completion, for KTO)."""
    answers = [len(row[key]) for key in ("chosen_ids", "rejected_ids", "completion_ids") if key in row]
    return {LENGTH_COLUMN: len(row["prompt_ids"]) + max(answers)}


def _count_dropped(stats, given, prepared) -> None:
    stats.dropped_too_long = len(given) - len(prepared)
    if stats.dropped_too_long:
        log.warning("data: %d rows dropped: their prompt alone fills data.max_length", stats.dropped_too_long)


def switch_off_dropout(model) -> None:
    """TRL switches off torch's nn.Dropout; honed's MaskDropout (methods/dropout.py) is not one, so it is switched
    off here (p = 0 makes it the identity), for the same reason: policy and reference must see the same network."""
    from honed.methods.dropout import MaskDropout

    for module in model.modules():
        if isinstance(module, MaskDropout):
            module.p = 0.0


def preference_loss_plan(setup_model, method, training) -> LossPlan:
    """What the summary and log say of the loss: TRL's, at completion tokens only."""
    return LossPlan(False, method.prepended_positions(setup_model), None,
                    f"{training.objective} loss (TRL), beta {training.beta_value}, log-probabilities at completion "
                    "tokens only")


def preference_steps(rows: int, training, world_size: int) -> int:
    """Batches an epoch of whole rows (pairs for dpo, completions for kto), for the step count set up front."""
    from honed.training.trainer import optimizer_steps

    return optimizer_steps(math.ceil(rows / training.batch_size), training, world_size)


def drop_reference_adapter(model) -> None:
    """The run saves the trained adapter only, never TRL's frozen copy of the starting one."""
    if REFERENCE_ADAPTER in getattr(model, "peft_config", {}):
        model.delete_adapter(REFERENCE_ADAPTER)
