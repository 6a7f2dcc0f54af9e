"""Checkpoint storage: atomic, verified, pickle-free."""

from __future__ import annotations

import json
import logging
import pickle
from pathlib import Path

import pytest
import torch

from honed.training.checkpoint import (
    MARKER,
    CorruptCheckpoint,
    choose_checkpoint,
    list_checkpoints,
    load_tensors_and_json,
    prune,
    save_tensors_and_json,
    verify,
    write_checkpoint,
)
from honed.training.resume import load_weights

SOURCE = Path(__file__).resolve().parents[2] / "src" / "honed"


def _writer(name: str, text: str):
    return lambda folder: (folder / name).write_text(text)


def _checkpoints(tmp_path: Path, steps=(2, 4, 6)) -> Path:
    root = tmp_path / "run" / "checkpoints"
    for step in steps:
        write_checkpoint(root, step, [_writer("a.json", json.dumps({"step": step})), _writer("b.json", "{}")])
    return root


def test_a_checkpoint_is_complete_or_absent(tmp_path):
    root = _checkpoints(tmp_path, steps=(2,))

    def crash(folder):
        raise KeyboardInterrupt  # the process dies mid-save

    with pytest.raises(KeyboardInterrupt):
        write_checkpoint(root, 4, [_writer("a.json", "{}"), crash])
    assert [p.name for p in list_checkpoints(root)] == ["step-0000002"]  # the half-written save is not a checkpoint
    assert verify(root / "step-0000002")["step"] == 2
    prune(root, keep=5)
    assert not list(root.glob(".*partial"))


def test_a_file_added_to_a_checkpoint_after_its_commit_is_refused(tmp_path):
    """transformers' Trainer loads a `scaler.pt` (a pickle) it finds in the resumed folder; honed's checkpoints never
    hold one, and a folder holding anything it did not commit is not taken for a checkpoint."""
    root = _checkpoints(tmp_path, steps=(2,))
    verify(root / "step-0000002")
    (root / "step-0000002" / "scaler.pt").write_bytes(pickle.dumps({"scale": 1.0}))
    with pytest.raises(CorruptCheckpoint, match="scaler.pt was not written with this checkpoint"):
        verify(root / "step-0000002")


def test_auto_resume_skips_a_damaged_newest_checkpoint_with_a_warning(tmp_path, caplog):
    root = _checkpoints(tmp_path)
    (root / "step-0000006" / "a.json").write_text('{"step": 666}')
    with caplog.at_level(logging.WARNING, logger="honed"):
        assert choose_checkpoint(tmp_path / "run", "auto") == root / "step-0000004"
    assert "step-0000006" in caplog.text and "SHA-256" in caplog.text
    (root / "step-0000004" / MARKER).unlink()
    assert choose_checkpoint(tmp_path / "run", "auto") == root / "step-0000002"


def test_a_damaged_checkpoint_asked_for_by_name_is_an_error(tmp_path):
    root = _checkpoints(tmp_path)
    (root / "step-0000004" / "b.json").unlink()
    with pytest.raises(CorruptCheckpoint, match="b.json is missing"):
        choose_checkpoint(tmp_path / "run", str(root / "step-0000004"))


def test_prune_keeps_the_newest(tmp_path):
    root = _checkpoints(tmp_path, steps=(1, 2, 3, 4))
    prune(root, keep=2)
    assert [p.name for p in list_checkpoints(root)] == ["step-0000003", "step-0000004"]


def test_optimizer_state_round_trips_through_safetensors_and_json(tmp_path):
    model = torch.nn.Linear(4, 3)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.8, 0.95))
    for _ in range(3):
        model(torch.randn(5, 4)).pow(2).sum().backward()
        optimizer.step()
    save_tensors_and_json(tmp_path / "o.safetensors", tmp_path / "o.json", optimizer.state_dict())
    restored = torch.optim.AdamW(torch.nn.Linear(4, 3).parameters(), lr=5.0)
    restored.load_state_dict(load_tensors_and_json(tmp_path / "o.safetensors", tmp_path / "o.json"))
    original, loaded = optimizer.state_dict(), restored.state_dict()
    assert loaded["param_groups"][0]["lr"] == 1e-3 and tuple(loaded["param_groups"][0]["betas"]) == (0.8, 0.95)
    for index, state in original["state"].items():
        for key, value in state.items():
            assert torch.equal(loaded["state"][index][key], value)


class _Payload:
    """A pickle that writes a file when loaded: what a malicious checkpoint would do."""

    def __init__(self, sentinel: Path):
        self.sentinel = sentinel

    def __reduce__(self):
        return (Path.write_text, (self.sentinel, "pwned"))


def test_a_pickle_in_place_of_the_weights_is_refused_and_never_runs(tmp_path):
    sentinel = tmp_path / "sentinel"
    payload = pickle.dumps(_Payload(sentinel))
    root = tmp_path / "run" / "checkpoints"
    path = write_checkpoint(root, 2, [lambda f: (f / "weights.safetensors").write_bytes(payload),
                                      lambda f: (f / "optimizer.pt").write_bytes(payload)])
    verify(path)  # digests match: the files are what was written, just not safetensors
    with pytest.raises(CorruptCheckpoint, match="not a readable safetensors file"):
        load_weights(torch.nn.Linear(2, 2), path)
    assert not sentinel.exists()


def test_honed_never_unpickles():
    offenders = []
    for path in SOURCE.rglob("*.py"):
        text = path.read_text()
        for needle in ("torch.load(", "weights_only=False", "pickle.load", "import pickle"):
            if needle in text:
                offenders.append(f"{path.relative_to(SOURCE)}: {needle}")
    assert offenders == []
