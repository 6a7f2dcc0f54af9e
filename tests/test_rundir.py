"""The run directory as a module: train writes it, and every reader loads runs through the same names and loaders."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from honed.errors import UserError
from honed.training import fit
from tiny import MEMORISE, write_jsonl


def _train(tiny_model, tmp_path: Path, name: str, method: str, steps: int = 3) -> Path:
    """A short run that learns to answer every prompt with its own name, so two runs differ."""
    data = write_jsonl(tmp_path / f"{name}.jsonl", [{**row, "completion": name} for row in MEMORISE])
    return fit({"model": str(tiny_model), "method": {"name": method}, "data": {"train": str(data)},
                "training": {"max_steps": steps, "batch_size": 2, "learning_rate": 5e-2, "warmup": 0},
                "output": str(tmp_path / name)}).run_dir


def test_readers_of_a_run_never_import_the_training_stack(tiny_model, tmp_path):
    """evaluate, serve, export and review read runs through honed.rundir, which sits below training."""
    run = _train(tiny_model, tmp_path, "run", "lora", steps=1)
    code = f"""
import sys
from honed.evaluation.subjects import load_subject
from honed.export import export
from honed.review.sides import side_labels
from honed.serve.pool import load_pool
load_subject({str(run)!r})
load_pool([{str(run)!r}])
export({str(run)!r}, {str(tmp_path / "exported")!r}, adapter_only=True)
side_labels({str(run)!r}, "base")
print(sorted(m for m in sys.modules if m.startswith("honed.training")))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("method", ["lora", "ia3"])
def test_runs_on_one_base_answer_as_each_run_alone(method, tiny_model, tmp_path):
    import torch

    from honed.rundir import load_run, load_runs_on_one_base

    paths = [_train(tiny_model, tmp_path, name, method) for name in ("first", "second")]
    shared = load_runs_on_one_base(paths)
    assert [run.run_dir for run in shared] == paths and shared[0].model is shared[1].model
    ids = torch.tensor([shared[0].tokenizer("Where is my order?")["input_ids"]])
    alone = []
    with torch.inference_mode():
        for path, run in zip(paths, shared, strict=True):
            run.model.set_adapter(path.name)  # adapters are named after their run folders
            expected = load_run(path).model(input_ids=ids).logits
            alone.append(expected)
            torch.testing.assert_close(run.model(input_ids=ids).logits, expected)
    assert not torch.allclose(alone[0], alone[1])  # two different runs, so the check above can tell them apart


def test_only_runs_of_one_shareable_technique_and_base_share_it(tiny_model, tmp_path):
    from honed.rundir import load_runs_on_one_base

    lora = _train(tiny_model, tmp_path, "lora", "lora", steps=1)
    prompt = _train(tiny_model, tmp_path, "prompt", "prompt", steps=1)
    with pytest.raises(UserError, match="cannot share"):
        load_runs_on_one_base([prompt])
    with pytest.raises(UserError, match="one technique and one base model"):
        load_runs_on_one_base([lora, _train(tiny_model, tmp_path, "ia3", "ia3", steps=1)])
