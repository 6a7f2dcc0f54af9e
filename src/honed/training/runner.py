"""fit(config): validated config in, run directory (and the trained model) out; `honed.train` calls it."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from honed import rundir
from honed.config import RunConfig, load_config, validate
from honed.data import prepare_data
from honed.methods import BuildContext, get_method
from honed.models import load_model, load_tokenizer, resolve_model_path
from honed.training.batching import plan_batches
from honed.training.guards import Interrupted
from honed.training.hardware import keep_freed_memory, peak_memory_mb, set_threads
from honed.training.precision import agree_across_processes, choose_precision
from honed.training.trainer import build_trainer, check_optional_packages, fsdp_loading, optimizer_steps, plan_loss
from honed.version import __version__

log = logging.getLogger("honed")


@dataclass
class Trained:
    """The finished run: its directory, and the trained model still in memory (for tests and chained work)."""

    run_dir: Path
    model: object
    tokenizer: object
    summary: dict


def fit(config: RunConfig | dict | str | Path, callbacks: list | None = None) -> Trained:
    """Fine-tune as the config says; returns the run directory and the trained model still in memory. `callbacks`
    are extra transformers TrainerCallbacks."""
    config = _as_config(config).for_training()
    run_dir = config.run_dir
    method = get_method(config.method.name)
    main = is_main_process()
    resume_from = _resume_point(run_dir, config) if config.training.resume else None
    if not config.training.resume:
        rundir.check_free(run_dir, config.overwrite)
    check_optional_packages(config)
    _seed(config.training.seed)

    tokenizer = load_tokenizer(config.model, config.trust_remote_code)
    data = prepare_data(config.data, tokenizer, config.training.seed)
    threads = set_threads(config.training.threads)
    precision = agree_across_processes(choose_precision(config.training.precision, threads=threads))
    if precision.device == "cpu":
        keep_freed_memory()
    learning_rate = config.training.learning_rate or method.default_learning_rate

    model = load_model(config.model, dtype=weight_dtype(precision, method),
                       trust_remote_code=config.trust_remote_code, **fsdp_loading(config.training.fsdp, world_size()))
    model.config.use_cache = False  # training needs no KV cache, and packed rows are recognised only without one
    lengths = [len(ids) for ids in data.train["input_ids"]]
    plan = plan_batches(config.training, method, lengths, model)
    steps = optimizer_steps(plan.batches_per_epoch(lengths, config.training.batch_size, config.training.seed),
                            config.training, world_size())
    model = method.wrap(model, config.method, BuildContext(total_steps=steps, tokenizer=tokenizer))
    keep_trainable_in_fp32(model)
    params = count_parameters(model)
    loss_plan = plan_loss(model, method, config.training)
    log.info(
        "%s: %s trainable of %s parameters (%.4f%%); lr %g; %d steps; precision %s (%s); %s; %s; %d threads",
        method.name, f"{params['trainable']:,}", f"{params['total']:,}", params["trainable_pct"],
        learning_rate, steps, precision.name, precision.reason, plan.reason, loss_plan.reason, threads,
    )

    if main and config.training.resume:
        run_dir.mkdir(parents=True, exist_ok=True)
        rundir.keep_metrics_until(run_dir, _step_of(resume_from))
    elif main:
        rundir.claim(run_dir, config.overwrite)
    if main:
        rundir.write_config(run_dir, config)
    trainer = build_trainer(
        model, tokenizer, data, config, precision, run_dir, learning_rate, plan, loss_plan,
        [*method.callbacks(model), *(callbacks or [])],
    )
    # Validation loss before and after: the first, cheapest evidence that training helped.
    initial_eval = trainer.evaluate() if data.validation is not None and resume_from is None else {}
    started = time.perf_counter()
    try:
        result = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    finally:
        trainer.close_progress()  # an error must be the last line on the terminal, not a half-drawn bar
    wall = time.perf_counter() - started
    if trainer.signals.received is not None:
        raise Interrupted(
            f"stopped at step {trainer.state.global_step} by a signal; checkpoint saved in {trainer.latest_checkpoint()}"
            f"; continue with the same command plus --resume auto", trainer.signals.exit_code(),
        )
    final_eval = trainer.evaluate() if data.validation is not None else {}
    if not main:
        if config.training.fsdp:
            _join_the_final_save(method, model)
        model.eval()
        return Trained(run_dir, model, tokenizer, {})

    _base_config(model).use_cache = True  # restored for whoever generates with the saved model
    method.save(model, run_dir / method.artifact_dir)
    tokenizer.save_pretrained(str(run_dir / rundir.TOKENIZER_DIR))
    losses = {"initial_val_loss": initial_eval.get("eval_loss"), "final_val_loss": final_eval.get("eval_loss"),
              "resumed_from": str(resume_from) if resume_from else None}
    batching = {"packing": plan.packing, "batch_tokens": plan.batch_tokens, "padding_share": trainer.tally.padding_share,
                "threads": threads, "loss": loss_plan.reason}
    summary = _summary(config, method, params, data, precision, trainer, result, losses, wall, learning_rate)
    summary.update(real_tokens=trainer.tally.real, tokens_per_s=round(trainer.tally.real / max(wall, 1e-9), 1),
                   batching=batching)
    rundir.write_summary(run_dir, summary)
    _remove_if_empty(run_dir / "trainer")
    log.info("run saved to %s (train loss %.4f, %.0f real tokens/s)", run_dir, summary["final_train_loss"],
             summary["tokens_per_s"])
    if final_eval and initial_eval:
        log.info("validation loss %.4f -> %.4f", initial_eval["eval_loss"], final_eval["eval_loss"])
    model.eval()
    return Trained(run_dir, model, tokenizer, summary)


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


def _summary(config, method, params, data, precision, trainer, result, val_losses, wall, learning_rate) -> dict:
    import peft
    import torch
    import transformers

    history = trainer.state.log_history
    losses = [h["loss"] for h in history if "loss" in h]
    return {
        "technique": method.name,
        "model": config.model,
        "model_path": resolve_model_path(config.model),
        "parameters": params,
        "learning_rate": learning_rate,
        **precision.record(),
        "steps": trainer.state.global_step,
        "stopped_early": trainer.state.global_step < trainer.state.max_steps,
        "epochs": round(trainer.state.epoch or 0, 4),
        "wall_time_s": round(wall, 2),
        **peak_memory_mb(),
        "final_train_loss": losses[-1] if losses else result.training_loss,
        "mean_train_loss": result.training_loss,
        **val_losses,
        "data": data.report(),
        "versions": {
            "honed": __version__, "torch": torch.__version__, "transformers": transformers.__version__,
            "peft": peft.__version__,
        },
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
