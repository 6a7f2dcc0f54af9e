"""Checkpoints honed can trust: safetensors and JSON only, written atomically, verified before they are used.

The Trainer's own checkpoints pickle the optimizer, scheduler and RNG state (`optimizer.pt`, `rng_state.pth`,
`training_args.bin`), and a pickle runs code when loaded. honed writes the same state as tensors plus JSON instead:

    checkpoints/step-0000040/
        weights.safetensors     the trainable parameters (adapter, prompt, or every weight for full fine-tuning)
        optimizer.safetensors   optimizer state tensors      optimizer.json   its param groups and scalars
        rng.safetensors         torch RNG states             rng.json         python and numpy RNG states
        scheduler.json  trainer_state.json
        shards/                 under FSDP, in place of weights and optimizer: each process's shard (safetensors,
                                written with torch.distributed.checkpoint), optimizer_groups.json, rng-<rank>.*
        extra.safetensors       technique state, e.g. AdaLoRA's importance averages; extra.json its rank pattern
        COMPLETE.json           written last: the step and a SHA-256 of every file above

A checkpoint is written into `.step-0000040.partial/` and renamed into place only when complete, so a crash or a
second signal mid-save leaves at worst a partial folder that is never taken for a checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import shutil
from pathlib import Path

from honed.errors import UserError

log = logging.getLogger("honed")

CHECKPOINTS_DIR = "checkpoints"
MARKER = "COMPLETE.json"
TRAINER_STATE = "trainer_state.json"
_NAME = re.compile(r"^step-(\d{7,})$")


class CorruptCheckpoint(UserError):
    """A checkpoint folder that is incomplete or whose files do not match their recorded digests."""


def checkpoint_name(step: int) -> str:
    return f"step-{step:07d}"


def step_of(path: Path) -> int:
    return int(_NAME.match(path.name).group(1))


def list_checkpoints(root: Path) -> list[Path]:
    """Checkpoint folders, oldest first (complete or not: verify() tells)."""
    if not root.is_dir():
        return []
    return sorted((p for p in root.iterdir() if p.is_dir() and _NAME.match(p.name)), key=step_of)


def write_checkpoint(root: Path, step: int, writers: list) -> Path:
    """Each writer puts its files into the folder it is given; the marker and the rename come after all of them."""
    partial = start_checkpoint(root, step)
    for write in writers:
        write(partial)
    return commit_checkpoint(root, step)


def partial_folder(root: Path, step: int) -> Path:
    return root / f".{checkpoint_name(step)}.partial"


def start_checkpoint(root: Path, step: int) -> Path:
    """An empty partial folder for this step's files (in a multi-process save, made by rank 0 before the others
    write into it)."""
    root.mkdir(parents=True, exist_ok=True)
    partial = partial_folder(root, step)
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    return partial


def commit_checkpoint(root: Path, step: int) -> Path:
    """Digest every file of the partial folder into its marker, then rename it into place: done once, by one
    process, after every writer has finished."""
    final = root / checkpoint_name(step)
    partial = partial_folder(root, step)
    digests = {}
    for name in _files(partial):
        _fsync(partial / name)
        digests[name] = _sha256(partial / name)
    marker = partial / MARKER
    marker.write_text(json.dumps({"step": step, "files": digests}, indent=2) + "\n")
    _fsync(marker)
    _replace_dir(partial, final)
    _fsync(root)
    return final


def verify(path: Path) -> dict:
    """The checkpoint's marker if every file is there and unchanged; CorruptCheckpoint naming the problem if not."""
    marker = path / MARKER
    if not marker.is_file():
        raise CorruptCheckpoint(f"{path}: incomplete checkpoint (no {MARKER}; the save was interrupted)")
    try:
        recorded = json.loads(marker.read_text())
        files = recorded["files"]
    except (ValueError, KeyError, TypeError):
        raise CorruptCheckpoint(f"{path}: {MARKER} is unreadable") from None
    for name, digest in files.items():
        file = path / name
        if not file.is_file():
            raise CorruptCheckpoint(f"{path}: {name} is missing")
        if _sha256(file) != digest:
            raise CorruptCheckpoint(f"{path}: {name} does not match its recorded SHA-256 (damaged or replaced)")
    # The folder holds exactly what was committed: the Trainer's resume would load a scaler.pt it found there.
    foreign = sorted(set(_files(path)) - set(files) - {MARKER})
    if foreign:
        raise CorruptCheckpoint(f"{path}: {foreign[0]} was not written with this checkpoint (not in {MARKER})")
    return recorded


def choose_checkpoint(run_dir: Path, request: str) -> Path | None:
    """`auto`: the newest intact checkpoint, skipping damaged ones with a warning; a path: that one, or an error."""
    if request != "auto":
        path = Path(request)
        if not path.is_dir():
            raise UserError(f"--resume {request}: no such checkpoint folder")
        verify(path)
        return path
    for path in reversed(list_checkpoints(run_dir / CHECKPOINTS_DIR)):
        try:
            verify(path)
        except CorruptCheckpoint as problem:
            log.warning("skipping checkpoint %s: %s", path.name, str(problem).split(": ", 1)[-1])
            continue
        return path
    return None


def prune(root: Path, keep: int) -> None:
    """Keep the newest `keep` complete checkpoints; partial folders of interrupted saves go too."""
    for stale in root.glob(".step-*.partial"):
        shutil.rmtree(stale, ignore_errors=True)
    complete = [p for p in list_checkpoints(root) if (p / MARKER).is_file()]
    for old in complete[:-keep] if keep else []:
        shutil.rmtree(old, ignore_errors=True)


# State <-> safetensors + JSON


def save_tensors_and_json(tensors_path: Path, json_path: Path, state: dict) -> None:
    """Split a nested state dict into its tensors (safetensors) and everything else (JSON)."""
    from safetensors.torch import save_file

    tensors: dict = {}
    skeleton = _split(state, "", tensors)
    save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tensors_path))
    json_path.write_text(json.dumps(skeleton))


def load_tensors_and_json(tensors_path: Path, json_path: Path) -> dict:
    from safetensors.torch import load_file

    tensors = load_file(str(tensors_path))
    return _join(json.loads(json_path.read_text()), tensors)


def _split(value, key: str, tensors: dict):
    import torch

    if torch.is_tensor(value):
        tensors[key] = value
        return {"__tensor__": key}
    if isinstance(value, dict):
        return {"__dict__": [[_json_key(k), _split(v, f"{key}/{k}", tensors)] for k, v in value.items()]}
    if isinstance(value, tuple):
        return {"__tuple__": [_split(v, f"{key}/{i}", tensors) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_split(v, f"{key}/{i}", tensors) for i, v in enumerate(value)]
    if type(value).__module__ == "numpy":
        return {"__numpy__": value.tolist(), "dtype": str(value.dtype)}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot store {type(value).__name__} in a checkpoint")


def _json_key(key):
    return key if isinstance(key, (str, int)) else str(key)


def _join(value, tensors: dict):
    if isinstance(value, list):
        return [_join(v, tensors) for v in value]
    if isinstance(value, dict):
        if "__tensor__" in value:
            return tensors[value["__tensor__"]]
        if "__dict__" in value:
            return {k: _join(v, tensors) for k, v in value["__dict__"]}
        if "__tuple__" in value:
            return tuple(_join(v, tensors) for v in value["__tuple__"])
        if "__numpy__" in value:
            import numpy as np

            return np.asarray(value["__numpy__"], dtype=value["dtype"])
    return value


def rng_state() -> dict:
    import numpy as np
    import torch

    state = {"python": random.getstate(), "numpy": np.random.get_state(), "cpu": torch.random.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    import numpy as np
    import torch

    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np.random.set_state(tuple(state["numpy"]))
    torch.random.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _files(folder: Path) -> list[str]:
    """Every file under the folder, subfolders included (sharded checkpoints keep their shards in one)."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace_dir(source: Path, target: Path) -> None:
    """Rename a finished folder into place, even over an older save of the same step."""
    if target.exists():
        trash = target.with_name(f".{target.name}.old")
        shutil.rmtree(trash, ignore_errors=True)
        os.replace(target, trash)
        os.replace(source, target)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(source, target)
