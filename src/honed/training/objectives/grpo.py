"""GRPO with verifiable rewards, on TRL's GRPOTrainer with honed's behaviours (checkpoints, resume, signals, the NaN
guard, progress, bf16 autocast).

Each step samples `training.generations` answers to each of `training.batch_size` prompts and scores them with the
rewards of honed/rewards.py, the ones `honed eval` reports. The answers come from honed's generation engine: all of a
step's groups decoded together in one batch (TRL's own path decodes through `model.generate`), from the weights as
they are at that step. One generation per step, used once (TRL's steps_per_generation and num_iterations at 1), so a
checkpoint at any step boundary resumes exactly: no buffered generations are lost.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import warnings

from honed.training.objectives import Objective, refuse_supervised_regulariser

log = logging.getLogger("honed")

COMPLETIONS_FILE = "completions.jsonl"  # sampled answers with their rewards, every logging step (rank 0)


def _prepare(config, tokenizer):
    from honed.data.prompts import prepare_prompt_data

    return prepare_prompt_data(config.data, config.training.seed)


def _plan(config, method, data, model, world_size: int):
    from honed.training.batching import BatchPlan
    from honed.training.trainer import optimizer_steps

    training = config.training
    plan = BatchPlan(False, None, f"{training.batch_size} prompts x {training.generations} sampled answers per "
                                  "batch, padded (TRL's GRPO batches)")
    return plan, optimizer_steps(math.ceil(len(data.train) / training.batch_size), training, world_size)


def _loss_plan(model, method, training):
    from honed.training.trainer import LossPlan

    kl = f"KL to the start, beta {training.beta_value}" if training.beta_value else "no KL term (beta 0)"
    return LossPlan(False, method.prepended_positions(model), None,
                    f"GRPO loss (TRL), {training.generations} answers per prompt, {kl}")


def _record(config) -> dict:
    training = config.training
    return {"beta": training.beta_value, "generations": training.generations,
            "completion_tokens": training.completion_tokens, "temperature": training.temperature,
            "rewards": [spec.model_dump(mode="json") for spec in training.rewards]}


def _fits(config, method) -> None:
    """Also builds every reward once, before the run directory is claimed: a schema that is not JSON Schema or a
    function that cannot be imported stops the run with nothing written."""
    from honed.rewards import build_reward

    for spec in config.training.rewards:
        build_reward(spec.name, spec.weight, **spec.options())
    refuse_supervised_regulariser(config, method)


@functools.cache
def grpo_trainer_class() -> type:
    from trl import GRPOTrainer

    from honed.training.trainer import HonedBehaviours

    return type("HonedGRPOTrainer", (HonedBehaviours, GRPOTrainer),
                {"__doc__": "TRL's GRPOTrainer with honed's behaviours."})


def grpo_arguments(setup):
    from trl import GRPOConfig

    from honed.training.trainer import training_arguments

    config = setup.config
    training = config.training
    completions = training.batch_size * training.generations
    return training_arguments(
        config, setup.precision, setup.run_dir / "trainer", setup.learning_rate, setup.data.validation is not None,
        kind=GRPOConfig, per_device_train_batch_size=completions, per_device_eval_batch_size=completions,
        num_generations=training.generations, max_completion_length=training.completion_tokens,
        temperature=training.temperature, beta=training.beta_value, steps_per_generation=1, num_iterations=1,
        reward_weights=[spec.weight for spec in training.rewards], disable_dropout=True,
        # The prompts were shuffled once, seeded, when prepared; TRL's sampler would shuffle again from a generator
        # it seeds once per run, so a run resumed in a later epoch would draw the first epoch's order again.
        train_sampling_strategy="random", shuffle_dataset=False,
    )


def _build(setup, extra_callbacks: list):
    from honed.generation.fused import unsupported
    from honed.training.preference import switch_off_dropout
    from honed.training.trainer import equip, honed_callbacks

    callbacks, tally, signals = honed_callbacks(setup, extra_callbacks)
    switch_off_dropout(setup.model)
    rewards = [trl_reward(spec, setup) for spec in setup.config.training.rewards]
    cannot = unsupported(setup.model)  # what the engine's fused decoder cannot run samples through TRL instead
    rollout = Rollout(setup) if cannot is None else None
    if cannot is not None:
        log.info("grpo: answers through TRL's generation, not honed's engine (%s)", cannot)
    with warnings.catch_warnings():  # rollout_func is marked experimental; test_grpo.py runs through it each time
        warnings.filterwarnings("ignore", message="You are using 'rollout_func'")
        trainer = grpo_trainer_class()(
            model=setup.model, reward_funcs=rewards, args=grpo_arguments(setup), train_dataset=setup.data.train,
            eval_dataset=setup.data.validation, processing_class=setup.tokenizer, callbacks=callbacks,
            rollout_func=rollout,
        )
    return equip(trainer, setup, tally, signals)


class Rollout:
    """TRL's rollout_func: the step's prompts come repeated, `generations` copies side by side; each distinct prompt
    gets that many sampled answers, all decoded in one batch by an engine over the current weights."""

    def __init__(self, setup):
        self.tokenizer, self.precision = setup.tokenizer, setup.precision.name
        training = setup.config.training
        self.generations, self.seed = training.generations, training.seed
        self.settings = dict(max_new_tokens=training.completion_tokens, temperature=training.temperature)
        self.seconds = 0.0  # spent sampling, over the run (benchmarks/grpo_step.py splits step time by it)

    def __call__(self, prompts: list, trainer) -> dict:
        import time

        from honed.config import GenerationConfig
        from honed.data.encoding import generation_prompt_ids
        from honed.generation import Engine

        started = time.perf_counter()
        groups = [prompts[i] for i in range(0, len(prompts), self.generations)]
        if [p for p in groups for _ in range(self.generations)] != prompts:
            raise RuntimeError("grpo: the step's prompts are not in groups of training.generations")
        ids = [generation_prompt_ids(self.tokenizer, messages) for messages in groups]
        rows = len(prompts)
        model = trainer.accelerator.unwrap_model(trainer.model)
        engine = Engine(model, self.tokenizer, max_batch=rows, precision=self.precision)
        settings = GenerationConfig(**self.settings, batch_size=rows,
                                    seed=self.seed * 1_000_003 + trainer.state.global_step)  # same step, same answers
        answers = engine.completions(ids, settings, choices=self.generations)
        model.train()
        lengths = [len(p) + len(outcome.ids) for p, group in zip(ids, answers, strict=True) for outcome in group]
        trainer.tally.real += sum(lengths)
        trainer.tally.positions += len(lengths) * max(lengths)
        self.seconds += time.perf_counter() - started
        return {"prompt_ids": [p for p in ids for _ in range(self.generations)],
                "completion_ids": [outcome.ids for group in answers for outcome in group], "logprobs": None}


def trl_reward(spec, setup):
    """A reward of honed's registry as TRL calls one: (prompts, completions, **columns) -> floats, named for its
    metrics (TRL logs rewards/<name>/mean); rank 0 also keeps samples of what it scored in completions.jsonl."""
    from honed.rewards import build_reward

    reward = build_reward(spec.name, spec.weight, **spec.options())
    path = setup.run_dir / COMPLETIONS_FILE
    every = setup.config.training.logging_steps

    def scored(prompts, completions, reference, trainer_state=None, **columns):
        texts = [_text(completion) for completion in completions]
        asked = [_text(prompt[-1:]) if isinstance(prompt, list) else str(prompt) for prompt in prompts]
        rows = [{"reference": ref} for ref in reference]
        values = reward(asked, texts, rows)
        step = trainer_state.global_step if trainer_state is not None else None
        if setup.main and step is not None and step % every == 0:
            with path.open("a", encoding="utf-8") as out:
                for prompt, text, value in list(zip(asked, texts, values, strict=True))[:2]:
                    out.write(json.dumps({"step": step, "reward": reward.label, "prompt": prompt, "completion": text,
                                          "value": value}, ensure_ascii=False) + "\n")
        return values

    scored.__name__ = reward.label
    return scored


def _text(value) -> str:
    """A completion or prompt as TRL passes it: text, or a conversation's last message."""
    if isinstance(value, list):
        return value[-1]["content"] if value else ""
    return str(value)


OBJECTIVE = Objective("grpo", _prepare, _plan, _loss_plan, _build, record=_record, fits=_fits)
