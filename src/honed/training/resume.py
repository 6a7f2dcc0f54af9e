"""What a checkpoint holds for a Trainer run, and how the Trainer is put back exactly where it was.

Only the trainable parameters are stored: the frozen ones come from the base model, which is loaded as usual.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol, runtime_checkable

from honed.training.checkpoint import (
    TRAINER_STATE,
    CorruptCheckpoint,
    load_tensors_and_json,
    rng_state,
    save_tensors_and_json,
    set_rng_state,
)

WEIGHTS = "weights.safetensors"
EXTRA = ("extra.safetensors", "extra.json")


@runtime_checkable
class TechniqueState(Protocol):
    """A technique's callback that carries state across optimizer steps besides weights and optimizer (AdaLoRA's
    importance averages): it goes into the checkpoint's extra.safetensors + extra.json, keyed by the class name."""

    def checkpoint_state(self) -> dict: ...

    def restore_checkpoint_state(self, saved: dict) -> None: ...


def technique_states(callbacks) -> dict:
    return {type(c).__name__: c for c in callbacks if isinstance(c, TechniqueState)}


def trainable_state(model) -> dict:
    return {name: p for name, p in model.named_parameters() if p.requires_grad}


def state_writers(trainer) -> list:
    """Writers of everything a resumed run needs to continue bit for bit."""
    from safetensors.torch import save_file

    def weights(folder: Path) -> None:
        tensors = {k: v.detach().contiguous().cpu() for k, v in trainable_state(trainer.model).items()}
        save_file(tensors, str(folder / WEIGHTS))

    def optimizer(folder: Path) -> None:
        save_tensors_and_json(folder / "optimizer.safetensors", folder / "optimizer.json", trainer.optimizer.state_dict())

    def scheduler(folder: Path) -> None:
        (folder / "scheduler.json").write_text(json.dumps(trainer.lr_scheduler.state_dict()))

    def rng(folder: Path) -> None:
        save_tensors_and_json(folder / "rng.safetensors", folder / "rng.json", rng_state())

    def state(folder: Path) -> None:
        trainer.state.save_to_json(str(folder / TRAINER_STATE))

    def extra(folder: Path) -> None:
        states = technique_states(trainer.callback_handler.callbacks)
        if states:
            saved = {name: c.checkpoint_state() for name, c in states.items()}
            save_tensors_and_json(folder / EXTRA[0], folder / EXTRA[1], saved)

    return [weights, optimizer, scheduler, rng, state, extra]


def load_weights(model, folder: Path) -> None:
    import torch
    from safetensors.torch import load_file

    tensors = _read(folder, WEIGHTS, load_file)
    expected = trainable_state(model)
    missing, unexpected = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise CorruptCheckpoint(
            f"{folder}: its weights do not fit this model and technique "
            f"({len(missing)} missing, e.g. {missing[:1]}; {len(unexpected)} unexpected, e.g. {unexpected[:1]})"
        )
    with torch.no_grad():
        for name, parameter in expected.items():
            parameter.copy_(tensors[name])


def load_technique_state(callbacks, folder: Path) -> None:
    states = technique_states(callbacks)
    if not states:
        return
    if not (folder / EXTRA[0]).is_file():
        raise CorruptCheckpoint(f"{folder}: holds no technique state ({EXTRA[0]}) that {', '.join(states)} needs to "
                                "continue; it was written by an older honed, so this run cannot resume from it")
    saved = load_tensors_and_json(folder / EXTRA[0], folder / EXTRA[1])
    for name, callback in states.items():
        callback.restore_checkpoint_state(saved[name])


def load_optimizer(optimizer, folder: Path) -> None:
    optimizer.load_state_dict(load_tensors_and_json(folder / "optimizer.safetensors", folder / "optimizer.json"))


def load_scheduler(scheduler, folder: Path) -> None:
    scheduler.load_state_dict(json.loads((folder / "scheduler.json").read_text()))


def load_rng(folder: Path) -> None:
    set_rng_state(load_tensors_and_json(folder / "rng.safetensors", folder / "rng.json"))


def _read(folder: Path, name: str, reader):
    try:
        return reader(str(folder / name))
    except Exception as error:  # safetensors raises its own types for truncated or foreign files
        raise CorruptCheckpoint(f"{folder}: {name} is not a readable safetensors file ({error})") from None
