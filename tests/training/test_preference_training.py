"""Preference objectives on TRL's trainers with honed's behaviours: DPO from a finished LoRA run trains that run's
adapter against a frozen copy of it (no second model), KTO learns from labelled rows, and a DPO run survives
SIGKILL, SIGTERM and NaNs exactly as a supervised run does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from transformers import TrainerCallback

from honed.training import fit
from honed.training.checkpoint import list_checkpoints
from honed.training.guards import EXIT_NONFINITE, EXIT_SIGTERM
from test_resume import _assert_same, _finish, _losses, _run, _start, _tensors
from tiny import write_jsonl

PAIRS = [{"prompt": f"Question {i}: where is parcel {i}?", "chosen": f"Parcel {i} arrives in {i % 5 + 1} days.",
          "rejected": f"I do not know where parcel {i} is."} for i in range(20)]
SFT_ROWS = [{"prompt": row["prompt"], "completion": row["chosen"]} for row in PAIRS]
ADAPTER = "adapter/adapter_model.safetensors"


@pytest.fixture(scope="module")
def sft_run(tiny_model, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("sft")
    data = write_jsonl(folder / "sft.jsonl", SFT_ROWS)
    return fit({"model": str(tiny_model), "method": {"name": "lora", "r": 4, "dropout": 0.1},
                "data": {"train": str(data)}, "training": {"max_steps": 3, "learning_rate": 5e-3, "warmup": 0.0},
                "output": str(folder / "run")}).run_dir


@pytest.fixture
def pairs(tmp_path) -> Path:
    return write_jsonl(tmp_path / "pairs.jsonl", PAIRS)


class SeesTheModel(TrainerCallback):
    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.adapters = sorted(model.peft_config)
        self.trainable = sorted(n for n, p in model.named_parameters() if p.requires_grad)
        self.frozen_ref = all(not p.requires_grad for n, p in model.named_parameters() if ".ref." in n)


def test_dpo_from_a_lora_run_trains_its_adapter_against_a_frozen_copy(tiny_model, sft_run, pairs, tmp_path):
    seen = SeesTheModel()
    trained = fit({"from_run": str(sft_run), "data": {"train": str(pairs)}, "output": str(tmp_path / "dpo"),
                   "training": {"objective": "dpo", "max_steps": 2, "batch_size": 2, "logging_steps": 1,
                                "learning_rate": 5e-3}}, callbacks=[seen])
    run = trained.run_dir
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["model"] == str(tiny_model) and config["method"]["r"] == 4  # inherited from the --from run
    assert trained.summary["objective"] == "dpo" and trained.summary["beta"] == 0.1
    assert trained.summary["from_run"] == str(sft_run)
    # the reference is a frozen copy of the starting adapter, beside it in the one model: no second model
    assert seen.adapters == ["default", "ref"] and seen.frozen_ref
    assert seen.trainable and all(".default." in name for name in seen.trainable)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    first = next(row for row in rows if "loss" in row and row["step"] == 1)
    # step 1 is scored before any update: policy and reference are the same (SFT) model, so rewards are 0, the
    # loss is log 2; a reference of the base model (adapter disabled) would give the SFT adapter's log-ratio here
    assert first["rewards/chosen"] == pytest.approx(0, abs=1e-6) and first["rewards/rejected"] == pytest.approx(0, abs=1e-6)
    assert first["loss"] == pytest.approx(0.6931, abs=1e-4)
    saved = _tensors(run / ADAPTER)
    before = _tensors(sft_run / ADAPTER)
    assert saved.keys() == before.keys()  # the adapter alone; TRL's "ref" copy is not saved
    assert any((saved[k] - before[k]).abs().max() > 0 for k in saved)
    assert not (run / "adapter" / "ref").exists()


def test_kto_learns_from_labelled_rows(tiny_model, tmp_path):
    rows = [{"prompt": row["prompt"], "completion": row[key], "label": key == "chosen"}
            for row in PAIRS[:8] for key in ("chosen", "rejected")]
    data = write_jsonl(tmp_path / "kto.jsonl", rows)
    trained = fit({"model": str(tiny_model), "data": {"train": str(data)}, "output": str(tmp_path / "kto"),
                   "training": {"objective": "kto", "max_steps": 2, "batch_size": 4, "logging_steps": 1}})
    assert trained.summary["data"]["train"] == {"rows": 16, "dropped_identical": 0, "dropped_too_long": 0,
                                                "desirable": 8, "undesirable": 8}
    logged = [json.loads(line) for line in (trained.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert any("kl" in row for row in logged) and (trained.run_dir / ADAPTER).is_file()
    assert trained.summary["learning_rate"] == pytest.approx(2e-5)  # lora's 1e-3, a fiftieth for preference objectives


def _dpo_config(sft_run, data, out, **training) -> dict:
    settings = {"objective": "dpo", "max_steps": 8, "batch_size": 2, "grad_accum": 2, "save_steps": 2,
                "keep_checkpoints": 10, "logging_steps": 1, "learning_rate": 5e-3, "warmup": 0.0, **training}
    return {"from_run": str(sft_run), "data": {"train": str(data)}, "training": settings, "output": str(out)}


def test_sigkill_then_resume_of_a_dpo_run_equals_the_uninterrupted_run(sft_run, pairs, tmp_path):
    """As test_resume does for supervised runs: 5 optimizer steps an epoch, killed after step 5 with the last
    checkpoint at step 4, resumed over the epoch boundary; same per-step losses, rewards, weights, optimizer."""
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    config = _dpo_config(sft_run, pairs, killed)
    uninterrupted = _start({**config, "output": str(reference)}, tmp_path)
    assert _run(config, tmp_path, "kill", 5).returncode == -9
    result = _finish(uninterrupted)
    assert result.returncode == 0, result.stderr
    assert [p.name for p in list_checkpoints(killed / "checkpoints")] == ["step-0000002", "step-0000004"]
    result = _run({**config, "training": {**config["training"], "resume": "auto"}}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "resuming from" in result.stderr and "step-0000004" in result.stderr
    assert _losses(killed) == _losses(reference)
    assert _rewards(killed) == _rewards(reference)
    _assert_same(_tensors(killed / ADAPTER), _tensors(reference / ADAPTER))
    last = "checkpoints/step-0000008"
    _assert_same(_tensors(killed / last / "optimizer.safetensors"), _tensors(reference / last / "optimizer.safetensors"))


def _rewards(run: Path) -> list[tuple[int, float]]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [(row["step"], row["rewards/margins"]) for row in rows if "rewards/margins" in row]


def test_sigterm_saves_and_a_nan_aborts_a_dpo_run_as_a_supervised_one(sft_run, pairs, tmp_path):
    term = _run(_dpo_config(sft_run, pairs, tmp_path / "term", save_steps=100), tmp_path, "term", 3)
    assert term.returncode == EXIT_SIGTERM, term.stderr
    assert [p.name for p in list_checkpoints(tmp_path / "term" / "checkpoints")] == ["step-0000003"]
    nan = _run(_dpo_config(sft_run, pairs, tmp_path / "nan"), tmp_path, "nan-grad", 3)
    assert nan.returncode == EXIT_NONFINITE
    assert nan.stderr.strip().splitlines()[-1].startswith("error: step 3: gradient norm is not finite (nan)")
