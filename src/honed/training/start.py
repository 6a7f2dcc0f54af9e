"""Where a run starts: the base model, or a finished run (`--from RUN`, config `from_run`).

From a peft run (LoRA, IA3, prefix or prompt tuning) the run's adapter is loaded trainable and trains on, so the
usual flow is SFT, then review, then DPO on what reviewers preferred. From a full fine-tuning run its whole model
is the starting point. Model and technique default to the earlier run's; a different base model, or a technique
that cannot continue that run, is refused before anything loads.
"""

from __future__ import annotations

from pathlib import Path

from honed import rundir
from honed.config import RunConfig
from honed.errors import UserError
from honed.methods import BuildContext, Method, get_method


def inherit_from_run(config: RunConfig) -> RunConfig:
    """The config with `model` and `method` taken from the --from run where the config leaves them unset."""
    if config.from_run is None:
        return config
    source = Path(config.from_run)
    if not rundir.is_run_dir(source):
        raise UserError(f"--from {source}: not a finished honed run (it has no {rundir.CONFIG_FILE} and "
                        f"{rundir.SUMMARY_FILE}); give the folder honed train wrote")
    earlier = rundir.read_config(source)
    if "model" in config.model_fields_set and not _same_model(config.model, earlier.model):
        raise UserError(f"--from {source}: that run fine-tuned {earlier.model}, but this run's model is "
                        f"{config.model}; start from a run of the same base model (or leave --model out)")
    update = {"model": earlier.model}
    if "method" not in config.model_fields_set:
        update["method"] = earlier.method
    config = config.model_copy(update=update)
    _check_continuable(config, earlier, source)
    return config


def _same_model(first: str, second: str) -> bool:
    """The same name, or two spellings of one local folder (nothing is loaded or converted to tell)."""
    if first == second:
        return True
    paths = [Path(name).expanduser() for name in (first, second)]
    return all(path.exists() for path in paths) and paths[0].resolve() == paths[1].resolve()


def _check_continuable(config: RunConfig, earlier: RunConfig, source: Path) -> None:
    before = get_method(earlier.method.name)
    if before.standalone:
        if config.method.name != before.name:
            raise UserError(f"--from {source}: a {before.name} run is a whole model, which method {before.name} "
                            f"trains on; for {config.method.name} on top of it, use it as the base model: "
                            f"--model {source / before.artifact_dir} (without --from)")
        return
    if config.method != earlier.method:
        raise UserError(f"--from {source}: trains on that run's {earlier.method.name} adapter, so the method must be "
                        f"the same as that run's ({earlier.method.model_dump(exclude={'name'})}); leave --method out")
    if before.load_trainable is None:
        raise UserError(f"--from {source}: {before.name} runs cannot be trained on ({before.name}'s rank budget is "
                        "spent in its own run); start from a lora, ia3, prefix, prompt or full run")


def starting_weights(config: RunConfig, method: Method) -> str:
    """What to load as the model before the technique: the base model, or the --from run's whole model."""
    if config.from_run is not None and method.standalone:
        return str(Path(config.from_run) / method.artifact_dir)
    return config.model


def wrap_or_continue(model, config: RunConfig, method: Method, context: BuildContext):
    """A fresh technique on the model, or the --from run's adapter loaded trainable on it."""
    if config.from_run is not None and not method.standalone:
        return method.load_trainable(model, Path(config.from_run) / method.artifact_dir)
    return method.wrap(model, config.method, context)
