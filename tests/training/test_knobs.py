"""Training knobs reach the Trainer and do what they say, on a tiny model."""

from __future__ import annotations

import json
import math

import pytest

from honed.config import validate
from honed.training import fit
from honed.training.trainer import optimizer_steps
from tiny import write_jsonl

ROWS = [{"prompt": f"Question {i}?", "completion": f"Answer number {i}."} for i in range(10)]


def test_gradient_checkpointing_accumulation_and_periodic_validation(tiny_model, tmp_path):
    data = write_jsonl(tmp_path / "rows.jsonl", ROWS)
    trained = fit({
        "model": str(tiny_model), "method": "lora", "output": str(tmp_path / "run"),
        "data": {"train": str(data), "val_fraction": 0.2},
        "training": {"max_steps": 4, "batch_size": 2, "grad_accum": 2, "gradient_checkpointing": True,
                     "eval_steps": 2, "logging_steps": 1, "learning_rate": 1e-2, "scheduler": "linear"},
    })
    rows = [json.loads(line) for line in (trained.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "eval_loss" in r and r["step"] > 0][:2] == [2, 4]
    assert all(math.isfinite(r["loss"]) for r in rows if "loss" in r)
    summary = trained.summary
    assert summary["data"]["train"]["rows"] == 8 and summary["data"]["validation"]["rows"] == 2
    assert summary["steps"] == 4 and summary["final_val_loss"] is not None


@pytest.mark.parametrize("batches, accum, epochs, expected", [(5, 1, 1, 5), (5, 2, 1, 3), (3, 1, 2, 6), (1, 4, 1, 1)])
def test_optimizer_steps_from_micro_batches(batches, accum, epochs, expected):
    training = validate({"training": {"grad_accum": accum, "epochs": epochs}}).training
    assert optimizer_steps(batches, training) == expected


@pytest.mark.parametrize("packing", [True, False])
def test_planned_steps_are_the_steps_the_trainer_runs(packing, tiny_model, tmp_path):
    """AdaLoRA's budget is set from the planned step count, so it must be what the Trainer then runs."""
    data = write_jsonl(tmp_path / "rows.jsonl", ROWS)
    summary = fit({
        "model": str(tiny_model), "method": "adalora", "output": str(tmp_path / "run"), "data": {"train": str(data)},
        "training": {"epochs": 2, "batch_size": 3, "grad_accum": 2, "packing": packing},
    }).summary
    total_step = json.loads((tmp_path / "run" / "adapter" / "adapter_config.json").read_text())["total_step"]
    assert summary["steps"] == total_step


def test_generation_metrics_during_training_and_early_stopping(tiny_model, tmp_path):
    data = write_jsonl(tmp_path / "rows.jsonl", ROWS)
    trained = fit({
        "model": str(tiny_model), "method": "lora", "output": str(tmp_path / "run"),
        "data": {"train": str(data), "val_fraction": 0.3},
        "eval": {"during_training": True, "sample": 2, "generation": {"max_new_tokens": 4}},
        # A learning rate this small cannot move ROUGE-L on a tiny random model: patience 1 must stop the run.
        "training": {"max_steps": 40, "batch_size": 2, "eval_steps": 2, "learning_rate": 1e-9,
                     "early_stopping_metric": "eval_rougeL", "early_stopping_patience": 1},
    })
    rows = [json.loads(line) for line in (trained.run_dir / "metrics.jsonl").read_text().splitlines()]
    evaluations = [r for r in rows if "eval_rougeL" in r]
    assert evaluations and all({"eval_bleu", "eval_chrf", "eval_loss"} <= set(r) for r in evaluations)
    assert trained.summary["stopped_early"] and trained.summary["steps"] < 40


@pytest.mark.parametrize("training, problem", [
    ({"eval_steps": 2}, "needs data.validation"),
    ({"early_stopping_metric": "eval_rougeL", "eval_steps": 2}, "needs eval.during_training"),
    ({"early_stopping_metric": "eval_nonsense", "eval_steps": 2}, "use eval_loss or one of"),
    ({"early_stopping_metric": "eval_loss"}, "need training.eval_steps"),
])
def test_evaluation_settings_that_cannot_work_are_refused(training, problem):
    from honed.errors import UserError

    raw = {"training": training, "data": {"val_fraction": 0.1} if "needs data" not in problem else {}}
    with pytest.raises(UserError, match=problem):
        validate(raw)
