"""Runs that survive: SIGKILL then --resume gives the uninterrupted run's weights, optimizer state and losses;
signals save a complete checkpoint first; a NaN stops the run at its step."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from honed.rundir import LOG_FILE, read_status
from honed.training.checkpoint import list_checkpoints, verify
from honed.training.guards import EXIT_NONFINITE, EXIT_SIGINT, EXIT_SIGTERM
from tiny import write_jsonl

HERE = Path(__file__).parent
ROWS = [{"prompt": f"Question {i}: where is parcel {i}?", "completion": f"Parcel {i} arrives in {i % 5 + 1} days."}
        for i in range(20)]


def _config(tiny_model, data, out, method: dict | None = None, **training) -> dict:
    settings = {"max_steps": 8, "batch_size": 2, "grad_accum": 2, "save_steps": 2, "keep_checkpoints": 10,
                "logging_steps": 1, "learning_rate": 5e-3, "warmup": 0.0, **training}
    return {"model": str(tiny_model), "method": method or {"name": "lora", "dropout": 0.1},
            "data": {"train": str(data)}, "training": settings, "output": str(out)}


def _start(config: dict, tmp_path: Path, fault: str = "none", step: int = 0) -> subprocess.Popen:
    path = tmp_path / f"config-{abs(hash((json.dumps(config), fault, step)))}.json"
    path.write_text(json.dumps(config))
    return subprocess.Popen([sys.executable, str(HERE / "interrupt.py"), str(path), fault, str(step)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(process: subprocess.Popen) -> subprocess.CompletedProcess:
    stdout, stderr = process.communicate(timeout=600)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def _run(config: dict, tmp_path: Path, fault: str = "none", step: int = 0) -> subprocess.CompletedProcess:
    return _finish(_start(config, tmp_path, fault, step))


def _losses(run: Path) -> list[tuple[int, float]]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [(row["step"], row["loss"]) for row in rows if "loss" in row]


def _adapter_config(run: Path) -> dict:
    return json.loads((run / "adapter" / "adapter_config.json").read_text())


def _tensors(path: Path) -> dict:
    return load_file(str(path))


def _assert_same(a: dict, b: dict, tolerance: float = 1e-6) -> None:
    assert a.keys() == b.keys() and a
    for key in a:
        assert (a[key] - b[key]).abs().max().item() <= tolerance, key


@pytest.fixture
def data(tmp_path) -> Path:
    return write_jsonl(tmp_path / "train.jsonl", ROWS)


LORA = {"name": "lora", "dropout": 0.1}
ARTIFACTS = {"full": "model/model.safetensors"}


@pytest.mark.parametrize(
    ("method", "packing", "precision"),
    [(LORA, True, "fp32"), ({"name": "prefix"}, False, "fp32"), (LORA, True, "bf16"),
     ({"name": "adalora", "dropout": 0.1}, True, "fp32"), ({"name": "full"}, True, "fp32")],
    ids=["lora-packed", "prefix-padded", "lora-packed-bf16", "adalora", "full"],
)
def test_sigkill_then_resume_equals_the_uninterrupted_run(tiny_model, data, tmp_path, method, packing, precision):
    """Dropout on, gradient accumulation 2, killed mid-epoch (5 optimizer steps an epoch, killed after step 5 with
    the last checkpoint at step 4), over an epoch boundary. Equal per-step losses also mean the same data order.
    Bit for bit within one precision: bf16 keeps fp32 master weights, which the checkpoint holds. AdaLoRA's run is
    scaled to tinit=0, tfinal=4: it prunes ranks at steps 1-3, fixes its pattern at step 4 from the importance
    averages the checkpoint holds, and masks by that pattern after it."""
    artifact = ARTIFACTS.get(method["name"], "adapter/adapter_model.safetensors")
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    from honed.training import fit

    config = _config(tiny_model, data, killed, method, packing=packing, precision=precision)
    result = _run(config, tmp_path, "kill", 5)
    assert result.returncode == -9
    assert read_status(killed)["state"] == "interrupted"  # said running, but its process is gone
    fit({**config, "output": str(reference)})  # in this process: the reference needs no process of its own
    assert not (killed / artifact).parent.exists()
    assert [p.name for p in list_checkpoints(killed / "checkpoints")] == ["step-0000002", "step-0000004"]

    result = _run({**config, "training": {**config["training"], "resume": "auto"}}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "resuming from" in result.stderr and "step-0000004" in result.stderr

    assert _losses(killed) == _losses(reference)
    same = ("state", "step", "max_steps", "precision", "trainable")
    assert [read_status(killed)[key] for key in same] == [read_status(reference)[key] for key in same]
    assert read_status(killed)["state"] == "finished" and read_status(killed)["step"] == read_status(killed)["max_steps"]
    _assert_same(_tensors(killed / artifact), _tensors(reference / artifact))
    if method["name"] == "adalora":  # the pattern fixed at step 4 from the restored averages, as saved
        pattern = _adapter_config(reference)["rank_pattern"]
        assert pattern and _adapter_config(killed)["rank_pattern"] == pattern
    last = "checkpoints/step-0000008"
    _assert_same(_tensors(killed / last / "optimizer.safetensors"), _tensors(reference / last / "optimizer.safetensors"))
    assert json.loads((killed / last / "scheduler.json").read_text()) == \
        json.loads((reference / last / "scheduler.json").read_text())


@pytest.mark.parametrize(("fault", "code"), [("term", EXIT_SIGTERM), ("int", EXIT_SIGINT), ("term-twice", EXIT_SIGTERM)])
def test_a_signal_saves_a_complete_checkpoint_and_exits_with_its_code(tiny_model, data, tmp_path, fault, code):
    out = tmp_path / "run"
    result = _run(_config(tiny_model, data, out, save_steps=100), tmp_path, fault, 3)
    assert result.returncode == code, result.stderr
    assert "stopped at step 3 by a signal" in result.stderr and "--resume auto" in result.stderr
    checkpoints = list_checkpoints(out / "checkpoints")
    assert [p.name for p in checkpoints] == ["step-0000003"]
    assert verify(checkpoints[0])["step"] == 3
    assert not list((out / "checkpoints").glob(".*"))  # no partial or old folder left behind
    assert not (out / "adapter").exists()  # an interrupted run is not a finished one
    status = read_status(out)
    assert (status["state"], status["step"]) == ("stopped", 3) and "stopped at step 3" in status["error"]
    assert "stopped: stopped at step 3 by a signal" in (out / LOG_FILE).read_text()


def test_nan_gradient_aborts_at_its_step_and_leaves_the_last_checkpoint_untouched(tiny_model, data, tmp_path):
    out = tmp_path / "run"
    result = _run(_config(tiny_model, data, out), tmp_path, "nan-grad", 5)
    assert result.returncode == EXIT_NONFINITE
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("error: step 5: gradient norm is not finite (nan)") and "step-0000004" in error
    assert [p.name for p in list_checkpoints(out / "checkpoints")] == ["step-0000002", "step-0000004"]
    verify(out / "checkpoints" / "step-0000004")
    status = read_status(out)
    assert status["state"] == "failed" and status["error"].startswith("step 5: gradient norm is not finite")


def test_skip_policy_drops_the_bad_step_and_finishes(tiny_model, data, tmp_path):
    out = tmp_path / "run"
    result = _run(_config(tiny_model, data, out, nonfinite="skip"), tmp_path, "nan-grad", 5)
    assert result.returncode == 0, result.stderr
    assert "step 5: gradient norm is not finite (nan); step skipped" in result.stderr
    weights = _tensors(out / "adapter" / "adapter_model.safetensors")
    assert all(t.isfinite().all() for t in weights.values())
    rows = {row["step"]: row for row in map(json.loads, (out / "metrics.jsonl").read_text().splitlines())
            if "loss" in row}
    assert rows[5]["grad_norm"] != rows[5]["grad_norm"]  # the skipped step's NaN is logged as NaN, never hidden
    assert all(row["grad_norm"] == row["grad_norm"] for step, row in rows.items() if step != 5)


def test_exploding_loss_stops_the_cli_with_a_one_line_error(tiny_model, data, tmp_path):
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "honed", "train", "--model", str(tiny_model), "--data", str(data), "--output", str(out),
         "--max-steps", "6", "--lr", "1e30", "--set", "training.warmup=0", "--set", "training.max_grad_norm=1e30"],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == EXIT_NONFINITE, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: step ") and "not finite" in lines[-1] and "Traceback" not in result.stderr
