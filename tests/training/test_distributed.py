"""`honed train --nproc 2`: DDP over gloo on this CPU equals one process with the same global batch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tiny import write_jsonl

ROWS = [{"prompt": f"Question {i}: where is parcel {i}?", "completion": f"Parcel {i} arrives in {i % 5 + 1} days."}
        for i in range(32)]


def _train(tiny_model, data, out, *flags) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "honed", "train", "--model", str(tiny_model), "--data", str(data),
               "--output", str(out), "--max-steps", "4", "--lr", "5e-3", "--set", "training.logging_steps=1",
               "--set", "training.warmup=0", "--set", "method.dropout=0", *flags]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def _losses(run: Path) -> list[float]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [row["loss"] for row in rows if "loss" in row]


@pytest.mark.parametrize(
    ("single", "per_process"),
    [
        (["--batch-size", "4", "--set", "training.packing=false"], ["--batch-size", "2", "--set", "training.packing=false"]),
        (["--grad-accum", "2", "--set", "training.batch_tokens=60"], ["--set", "training.batch_tokens=60"]),
        (["--grad-accum", "2", "--set", "training.batch_tokens=60", "--precision", "bf16"],
         ["--set", "training.batch_tokens=60", "--precision", "bf16"]),
    ],
    ids=["padded", "packed", "packed-bf16"],
)
def test_two_processes_match_one_with_the_same_global_batch(tiny_model, tmp_path, single, per_process):
    data = write_jsonl(tmp_path / "train.jsonl", ROWS)
    one = _train(tiny_model, data, tmp_path / "one", "--set", "training.group_by_length=false", *single)
    assert one.returncode == 0, one.stderr
    two = _train(tiny_model, data, tmp_path / "two", "--nproc", "2", "--set", "training.group_by_length=false",
                 *per_process)
    assert two.returncode == 0, two.stderr
    expected, got = _losses(tmp_path / "one"), _losses(tmp_path / "two")
    assert len(got) == len(expected) == 4  # one process logged, not two
    tolerance = 1e-2 if "bf16" in single else 1e-4  # bf16: two half-size batches round differently from one
    assert max(abs(a - b) for a, b in zip(expected, got, strict=True)) < tolerance
    assert two.stdout.strip().splitlines() == [str(tmp_path / "two")]  # rank 1 says nothing
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())
    summary = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert summary["steps"] == 4


def test_the_chapters_deepspeed_file_is_accepted_and_a_missing_package_is_one_clear_line(tiny_model, tmp_path):
    import importlib.util

    if importlib.util.find_spec("deepspeed") is not None:
        pytest.skip("deepspeed is installed here")
    data = write_jsonl(tmp_path / "train.jsonl", ROWS)
    (tmp_path / "ds_config.json").write_text(json.dumps({"zero_optimization": {"stage": 2},
                                                         "train_micro_batch_size_per_gpu": "auto"}))
    result = _train(tiny_model, data, tmp_path / "run", "--set", f"training.deepspeed={tmp_path / 'ds_config.json'}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: training.deepspeed: needs the deepspeed package (pip install 'honed[deepspeed]', on a machine with "
        "GPUs); without it, --nproc N trains with plain DDP"
    ]
    assert not (tmp_path / "run").exists()


def test_sharding_settings_reach_the_trainer_arguments(tmp_path):
    from honed.config import validate
    from honed.training.precision import choose_precision
    from honed.training.trainer import deepspeed_config, fsdp_arguments, training_arguments

    zero3 = deepspeed_config(3)
    assert zero3["zero_optimization"]["stage"] == 3 and zero3["train_micro_batch_size_per_gpu"] == "auto"
    assert deepspeed_config("ds.json") == "ds.json"  # the chapter's form: handed over as is
    assert fsdp_arguments(False) == {}
    assert fsdp_arguments({"cpu_offload": True}) == {
        "fsdp": True, "fsdp_config": {"reshard_after_forward": True, "version": 2, "cpu_offload": True}}
    config = validate({"training": {"fsdp": True, "save_steps": 3}})
    args = training_arguments(config, choose_precision("fp32"), tmp_path, 1e-3, has_eval=False)
    assert args.fsdp and args.save_steps == 3 and args.save_strategy == "steps"
