"""What a checkpoint holds for a Trainer run, and how the Trainer is put back exactly where it was.

Only the trainable parameters are stored: the frozen ones come from the base model, which is loaded as usual.
When several processes train, each writes its own part into the one partial folder (its RNG state; under FSDP its
shard of the weights and optimizer state, through torch.distributed.checkpoint) and rank 0 alone commits it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol, runtime_checkable

from honed.training.checkpoint import (
    TRAINER_STATE,
    CorruptCheckpoint,
    commit_checkpoint,
    load_tensors_and_json,
    partial_folder,
    prune,
    rng_state,
    save_tensors_and_json,
    set_rng_state,
    start_checkpoint,
)
from honed.training.sharding import is_sharded, tied_aliases

WEIGHTS = "weights.safetensors"
EXTRA = ("extra.safetensors", "extra.json")
SHARDS = "shards"  # under FSDP: each process's shard of weights and optimizer state
PARAM_GROUPS = "optimizer_groups.json"


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


def save_checkpoint(trainer) -> Path | None:
    """Every process calls this at the same step. Rank 0 makes the partial folder, every rank writes its part, and
    rank 0 digests and renames it once all have finished (barriers between), so a kill at any moment leaves at worst
    a partial folder. Returns the checkpoint on rank 0."""
    root, step = trainer.checkpoints, trainer.state.global_step
    rank = _rank()
    if rank == 0:
        start_checkpoint(root, step)
    _barrier()
    for write in state_writers(trainer, rank):
        write(partial_folder(root, step))
    _barrier()
    final = None
    if rank == 0:
        final = commit_checkpoint(root, step)
        prune(root, trainer.keep_checkpoints)
    _barrier()  # no process runs ahead of a checkpoint that is not yet in place
    return final


def state_writers(trainer, rank: int = 0) -> list:
    """Writers of everything a resumed run needs to continue bit for bit: rank 0 writes what all processes share;
    each process writes its RNG state and, when sharded, its shard."""
    from safetensors.torch import save_file

    sharded = is_sharded(trainer.model)

    def weights(folder: Path) -> None:
        tensors = {k: v.detach().contiguous().cpu() for k, v in trainable_state(trainer.model).items()}
        save_file(tensors, str(folder / WEIGHTS))

    def optimizer(folder: Path) -> None:
        save_tensors_and_json(folder / "optimizer.safetensors", folder / "optimizer.json", trainer.optimizer.state_dict())

    def shards(folder: Path) -> None:
        _save_shards(trainer.model, trainer.optimizer, folder, rank)

    def scheduler(folder: Path) -> None:
        (folder / "scheduler.json").write_text(json.dumps(trainer.lr_scheduler.state_dict()))

    def rng(folder: Path) -> None:
        tensors, skeleton = _rng_files(rank)
        save_tensors_and_json(folder / tensors, folder / skeleton, rng_state())

    def state(folder: Path) -> None:
        trainer.state.save_to_json(str(folder / TRAINER_STATE))

    def extra(folder: Path) -> None:
        states = technique_states(trainer.callback_handler.callbacks)
        if states:
            saved = {name: c.checkpoint_state() for name, c in states.items()}
            save_tensors_and_json(folder / EXTRA[0], folder / EXTRA[1], saved)

    shared = [shards] if sharded else []
    if rank == 0:
        shared += [scheduler, state, extra] + ([] if sharded else [weights, optimizer])
    return [*shared, rng]


def load_weights(model, folder: Path) -> None:
    import torch
    from safetensors.torch import load_file

    if is_sharded(model):
        return _load_sharded(model, None, folder)
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


def load_optimizer(optimizer, folder: Path, model=None) -> None:
    if model is not None and is_sharded(model):
        return _load_sharded(model, optimizer, folder)
    optimizer.load_state_dict(load_tensors_and_json(folder / "optimizer.safetensors", folder / "optimizer.json"))


def load_scheduler(scheduler, folder: Path) -> None:
    scheduler.load_state_dict(json.loads((folder / "scheduler.json").read_text()))


def load_rng(folder: Path) -> None:
    tensors, skeleton = _rng_files(_rank())
    if not (folder / tensors).is_file():
        raise CorruptCheckpoint(f"{folder}: has no {tensors}: it was written by a different number of processes "
                                "(or an older honed); resume with the --nproc it was saved with")
    set_rng_state(load_tensors_and_json(folder / tensors, folder / skeleton))


def _sharded_state(model, optimizer=None) -> dict:
    """Trainable weights (and optimizer state) as torch.distributed.checkpoint state dicts: keyed by parameter
    name, each process holding its own shard of a DTensor."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict, get_optimizer_state_dict

    options = StateDictOptions(ignore_frozen_params=True)
    state = {"model": get_model_state_dict(model, options=options)}
    if optimizer is not None:  # an optimizer that has not stepped yet gets its state made by a zero step (lr 0)
        state["optimizer"] = get_optimizer_state_dict(model, _unwrapped(optimizer), options=options)
    return state


def _stored(model, state: dict) -> dict:
    """What goes to disk: a tied weight once (safetensors refuses two names for one tensor). Its other name's
    tensor shares the storage, so loading the one fills both, and the full state ties back as it was."""
    aliases = tied_aliases(model)
    stored = {"model": {k: v for k, v in state["model"].items() if k not in aliases}}
    if "optimizer" in state:
        stored["optimizer"] = {"state": {k: v for k, v in state["optimizer"]["state"].items() if k not in aliases}}
    return stored


def _save_shards(model, optimizer, folder: Path, rank: int) -> None:
    """Each process writes its shards as safetensors (torch.distributed.checkpoint's Hugging Face storage: the
    sharding layout sits in each file's header, so there is no pickled .metadata); the optimizer's param groups,
    the same on every process, go to JSON."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint import HuggingFaceStorageWriter

    state = _sharded_state(model, optimizer)
    (folder / SHARDS).mkdir(exist_ok=True)
    writer = HuggingFaceStorageWriter(str(folder / SHARDS), save_distributed=True)
    dcp.save(_stored(model, state), storage_writer=writer)
    if rank == 0:
        (folder / PARAM_GROUPS).write_text(json.dumps(state["optimizer"]["param_groups"]))


def _load_sharded(model, optimizer, folder: Path) -> None:
    """Each process reads its own shards (a collective call: every process loads at the same point). The weights
    load before the optimizer exists, the optimizer state once it does."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint import HuggingFaceStorageReader
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict, set_optimizer_state_dict

    options = StateDictOptions(ignore_frozen_params=True)
    state = _sharded_state(model, optimizer)
    stored = _stored(model, state)
    wanted = {"model": stored["model"]} if optimizer is None else {"optimizer": stored["optimizer"]}
    dcp.load(wanted, storage_reader=HuggingFaceStorageReader(str(folder / SHARDS)))
    if optimizer is None:
        set_model_state_dict(model, state["model"], options=_loading(options))
        return
    state["optimizer"]["param_groups"] = json.loads((folder / PARAM_GROUPS).read_text())
    set_optimizer_state_dict(model, _unwrapped(optimizer), state["optimizer"], options=options)


def _loading(options):
    """The trainable weights alone: the frozen ones stay as loaded from the base model, and torch's strict check
    would count them missing. What is read is the model's own state dict, so a checkpoint that does not fit fails in
    torch.distributed.checkpoint's load, before this."""
    from dataclasses import replace

    return replace(options, strict=False)


def _unwrapped(optimizer):
    """accelerate wraps the torch optimizer; torch.distributed.checkpoint needs the optimizer itself."""
    return getattr(optimizer, "optimizer", optimizer)


def _rng_files(rank: int) -> tuple[str, str]:
    """Each process has its own RNG stream (dropout masks differ by rank), so each saves its own."""
    name = "rng" if _world() == 1 else f"rng-{rank}"
    return f"{name}.safetensors", f"{name}.json"


def _rank() -> int:
    import torch.distributed as dist

    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def _world() -> int:
    import torch.distributed as dist

    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def _barrier() -> None:
    import torch.distributed as dist

    if _world() > 1:
        dist.barrier()


def _read(folder: Path, name: str, reader):
    try:
        return reader(str(folder / name))
    except Exception as error:  # safetensors raises its own types for truncated or foreign files
        raise CorruptCheckpoint(f"{folder}: {name} is not a readable safetensors file ({error})") from None
