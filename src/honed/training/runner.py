"""fit(config): validated config in, run directory (and the trained model) out; `honed.train` calls it."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from honed import rundir
from honed.config import RunConfig, load_config, validate
from honed.methods import BuildContext, Method, get_method
from honed.models import load_model, load_tokenizer, resolve_model_path
from honed.training.batching import BatchPlan
from honed.failures import STEP_NOTE
from honed.training.guards import Interrupted
from honed.hardware import keep_freed_memory, peak_memory_mb, set_threads
from honed.precision import Precision, agree_across_processes, choose_precision
from honed.training.sharding import reshard
from honed.training.objectives import Objective, get_objective
from honed.training.preference import drop_reference_adapter
from honed.training.start import inherit_from_run, starting_weights, wrap_or_continue
from honed.training.trainer import LossPlan, check_optional_packages, fsdp_loading
from honed.version import __version__

log = logging.getLogger("honed")


@dataclass
class Trained:
    """The finished run: its directory, and the trained model still in memory (for tests and chained work)."""

    run_dir: Path
    model: object
    tokenizer: object
    summary: dict


@dataclass
class Setup:
    """Everything decided and loaded before the first step: the validated config, the data, the precision and
    batching chosen for this machine, and the wrapped model."""

    config: RunConfig
    method: Method
    objective: Objective
    main: bool  # rank 0: the one process that writes the run directory
    resume_from: Path | None
    tokenizer: object
    data: object
    threads: int
    precision: Precision
    learning_rate: float
    model: object
    plan: BatchPlan
    loss_plan: LossPlan
    params: dict

    @property
    def run_dir(self) -> Path:
        return self.config.run_dir


@dataclass
class Outcome:
    """What training produced: the Trainer's result, validation loss before and after, and the wall time."""

    result: object
    initial_eval: dict
    final_eval: dict
    wall_s: float


def build_trainer(setup, extra_callbacks: list):
    """The objective's Trainer (training/objectives), equipped with honed's behaviours alike."""
    return setup.objective.build_trainer(setup, extra_callbacks)


def fit(config: RunConfig | dict | str | Path, callbacks: list | None = None) -> Trained:
    """Fine-tune as the config says; returns the run directory and the trained model still in memory. `callbacks`
    are extra transformers TrainerCallbacks."""
    setup = set_up(_as_config(config).for_training())
    claim_run_dir(setup)
    with recorded(setup):
        trainer = build_trainer(setup, [*setup.method.callbacks(setup.model), *(callbacks or [])])
        outcome = run(trainer, setup)
        return finish(trainer, setup, outcome)


def recorded(setup: Setup):
    """status.json and train.log kept in the run directory while it trains (rank 0 only)."""
    if not setup.main:
        return contextlib.nullcontext()
    return rundir.recording(setup.run_dir, stopped=(Interrupted, KeyboardInterrupt), precision=setup.precision.name,
                            precision_reason=setup.precision.reason, trainable=setup.params["trainable"])


def set_up(config: RunConfig) -> Setup:
    """Check, load and decide, before the run directory is claimed (bad input leaves the user's files alone)."""
    config = inherit_from_run(config)
    method = get_method(config.method.name)
    objective = get_objective(config.training.objective)
    resume_from = _resume_point(config.run_dir, config) if config.training.resume else None
    if not config.training.resume:
        rundir.check_free(config.run_dir, config.overwrite)
    check_optional_packages(config)
    objective.fits(config, method)
    _seed(config.training.seed)

    tokenizer = load_tokenizer(config.model, config.trust_remote_code)
    data = objective.prepare_data(config, tokenizer)
    threads = set_threads(config.training.threads)
    precision = agree_across_processes(choose_precision(config.training.precision, threads=threads))
    if precision.device == "cpu":
        keep_freed_memory()
    model = load_model(starting_weights(config, method), dtype=weight_dtype(precision, method),
                       trust_remote_code=config.trust_remote_code, **fsdp_loading(config.training.fsdp, world_size()))
    model.config.use_cache = False  # training needs no KV cache, and packed rows are recognised only without one
    plan, steps = objective.plan(config, method, data, model, world_size())
    context = BuildContext(total_steps=steps, tokenizer=tokenizer, init_text=data.system_prompt)
    reshard(model)  # before the technique freezes weights: the packing check's forward left some of them whole
    model = wrap_or_continue(model, config, method, context)
    keep_trainable_in_fp32(model)
    loss_plan = objective.loss_plan(model, method, config.training)
    setup = Setup(config, method, objective, is_main_process(), resume_from, tokenizer, data, threads, precision,
                  config.training.learning_rate_or(method.default_learning_rate), model, plan, loss_plan,
                  count_parameters(model))
    _log_setup(setup, steps)
    return setup


def _log_setup(setup: Setup, steps: int) -> None:
    params = setup.params
    log.info(
        "%s: %s trainable of %s parameters (%.4f%%); lr %g; %d steps; precision %s (%s); %s; %s; %d threads",
        setup.method.name, f"{params['trainable']:,}", f"{params['total']:,}", params["trainable_pct"],
        setup.learning_rate, steps, setup.precision.name, setup.precision.reason, setup.plan.reason,
        setup.loss_plan.reason, setup.threads,
    )


def claim_run_dir(setup: Setup) -> None:
    """Rank 0 takes the run directory (keeping the metrics of steps a resumed run will not repeat)."""
    if not setup.main:
        return
    if setup.config.training.resume:
        setup.run_dir.mkdir(parents=True, exist_ok=True)
        rundir.keep_metrics_until(setup.run_dir, _step_of(setup.resume_from))
    else:
        rundir.claim(setup.run_dir, setup.config.overwrite)
    rundir.write_config(setup.run_dir, setup.config)


def run(trainer, setup: Setup) -> Outcome:
    """Validation loss before and after (the first, cheapest evidence that training helped) around the training."""
    has_validation = setup.data.validation is not None
    initial_eval = trainer.evaluate() if has_validation and setup.resume_from is None else {}
    started = time.perf_counter()
    try:
        result = trainer.train(resume_from_checkpoint=str(setup.resume_from) if setup.resume_from else None)
    except BaseException as error:  # torch.distributed.checkpoint's CheckpointException is one
        if not any(note.startswith(STEP_NOTE) for note in getattr(error, "__notes__", [])):
            error.add_note(f"{STEP_NOTE}{trainer.state.global_step + 1}")  # the step under way when it failed
        raise
    finally:
        trainer.close_progress()  # an error must be the last line on the terminal, not a half-drawn bar
    wall = time.perf_counter() - started
    if trainer.signals.received is not None:
        raise Interrupted(
            f"stopped at step {trainer.state.global_step} by a signal; checkpoint saved in {trainer.latest_checkpoint()}"
            f"; continue with the same command plus --resume auto", trainer.signals.exit_code(),
        )
    return Outcome(result, initial_eval, trainer.evaluate() if has_validation else {}, wall)


def finish(trainer, setup: Setup, outcome: Outcome) -> Trained:
    """Rank 0 saves the artifact, tokenizer and summary; the other ranks only join a sharded model's gathering."""
    model, method = setup.model, setup.method
    if trainer.attention is not None:
        trainer.attention.restore(model)  # the model is saved and handed back with its own attention
    if not setup.main:
        if setup.config.training.fsdp:
            _join_the_final_save(method, model)
        model.eval()
        return Trained(setup.run_dir, model, setup.tokenizer, {})
    _base_config(model).use_cache = True  # restored for whoever generates with the saved model
    drop_reference_adapter(model)
    method.save(model, setup.run_dir / method.artifact_dir)
    setup.tokenizer.save_pretrained(str(setup.run_dir / rundir.TOKENIZER_DIR))
    summary = _summary(setup, trainer, outcome)
    rundir.write_summary(setup.run_dir, summary)
    _remove_if_empty(setup.run_dir / "trainer")
    log.info("run saved to %s (train loss %.4f, %.0f real tokens/s)", setup.run_dir, summary["final_train_loss"],
             summary["tokens_per_s"])
    if outcome.final_eval and outcome.initial_eval:
        log.info("validation loss %.4f -> %.4f", outcome.initial_eval["eval_loss"], outcome.final_eval["eval_loss"])
    model.eval()
    return Trained(setup.run_dir, model, setup.tokenizer, summary)


def _resume_point(run_dir: Path, config: RunConfig) -> Path | None:
    """The checkpoint to continue from, checked before anything loads; None: `auto` found none, so start afresh."""
    from honed.training.checkpoint import choose_checkpoint

    point = choose_checkpoint(run_dir, config.training.resume)
    if point is None:
        log.info("--resume auto: no checkpoint in %s yet; starting from step 0", run_dir)
    else:
        log.info("resuming from %s", point)
    return point


def _step_of(checkpoint: Path | None) -> int:
    from honed.training.checkpoint import step_of

    return step_of(checkpoint) if checkpoint else 0


def is_main_process() -> bool:
    """Only rank 0 writes the run directory; under torchrun every process runs this same code."""
    return int(os.environ.get("RANK", "0")) == 0


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def _as_config(config) -> RunConfig:
    if isinstance(config, RunConfig):
        return config
    if isinstance(config, dict):
        return validate(config)
    return load_config(config)


def _seed(seed: int) -> None:
    from transformers import set_seed

    set_seed(seed)


def count_parameters(model) -> dict:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return {"trainable": trainable, "total": total, "trainable_pct": 100.0 * trainable / max(total, 1)}


def _summary(setup: Setup, trainer, outcome: Outcome) -> dict:
    import peft
    import torch
    import transformers

    config, tally = setup.config, trainer.tally
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {
        "technique": setup.method.name,
        "objective": config.training.objective,
        "from_run": config.from_run,
        **setup.objective.record(config),
        "model": config.model,
        "model_path": resolve_model_path(config.model),
        "parameters": setup.params,
        "learning_rate": setup.learning_rate,
        **setup.precision.record(),
        "steps": trainer.state.global_step,
        "stopped_early": trainer.state.global_step < trainer.state.max_steps,
        "epochs": round(trainer.state.epoch or 0, 4),
        "wall_time_s": round(outcome.wall_s, 2),
        **peak_memory_mb(),
        "final_train_loss": losses[-1] if losses else outcome.result.training_loss,
        "mean_train_loss": outcome.result.training_loss,
        "initial_val_loss": outcome.initial_eval.get("eval_loss"),
        "final_val_loss": outcome.final_eval.get("eval_loss"),
        "resumed_from": str(setup.resume_from) if setup.resume_from else None,
        "data": setup.data.report(),
        "versions": {
            "honed": __version__, "torch": torch.__version__, "transformers": transformers.__version__,
            "peft": peft.__version__,
        },
        "real_tokens": tally.real,
        "tokens_per_s": round(tally.real / max(outcome.wall_s, 1e-9), 1),
        "batching": {"packing": setup.plan.packing, "batch_tokens": setup.plan.batch_tokens,
                     "padding_share": tally.padding_share, "threads": setup.threads, "loss": setup.loss_plan.reason},
    }


def weight_dtype(precision, method):
    """Frozen weights are held in the compute dtype (no cast per step, half the memory); a technique that trains
    every weight keeps them in fp32 as master weights, and autocast computes in half precision."""
    import torch

    return precision.dtype if precision.half and not method.trains_base_weights else torch.float32


def keep_trainable_in_fp32(model) -> None:
    """Trainable parameters (and so the optimizer state) stay fp32 whatever dtype the frozen base is held in:
    updates of lr x grad vanish below bf16's 8 bits of mantissa."""
    import torch

    for parameter in model.parameters():
        if parameter.requires_grad and parameter.dtype != torch.float32:
            parameter.data = parameter.data.float()


def _join_the_final_save(method, model) -> None:
    """Saving a sharded model gathers its weights to rank 0, a step every process takes part in; what the other
    ranks write on the way (peft writes wherever it is asked) goes to a folder that is thrown away."""
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        method.save(model, Path(scratch) / method.artifact_dir)


def _base_config(model):
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base.config


def _remove_if_empty(path: Path) -> None:
    if path.is_dir() and not any(path.iterdir()):
        path.rmdir()
