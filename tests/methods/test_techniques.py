"""Every registered technique trains a tiny model for real, keeps the base frozen, and reloads exactly."""

from __future__ import annotations

import json
import math

import pytest
import torch
from transformers import TrainerCallback

from honed.methods import get_method, method_names
from honed.models import load_model
from honed.training import fit, load_run

# Learning rates that make 20 steps visibly move a tiny random model; the point is the mechanics, not quality.
TEST_LR = {"full": 1e-3, "lora": 1e-2, "prefix": 3e-2, "prompt": 1e-1, "adalora": 1e-2, "adapter": 1e-2, "ia3": 5e-2}


class SnapshotTrainable(TrainerCallback):
    """Copies the trainable parameters as they are when training starts."""

    def __init__(self):
        self.initial: dict[str, torch.Tensor] = {}

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.initial = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def _config(tiny_model, data, out, name: str, steps: int = 20) -> dict:
    return {
        "model": str(tiny_model),
        "method": name,
        "data": {"train": str(data)},
        "training": {"max_steps": steps, "batch_size": 2, "learning_rate": TEST_LR[name], "logging_steps": 1,
                     "warmup": 0},
        "output": str(out),
    }


def _base_name(name: str) -> str:
    """Parameter name in the plain model, from its name inside a peft layer or honed adapter wrapper."""
    return name.replace(".base_layer.", ".").replace(".base.", ".")


def test_registry_has_the_chapter_techniques():
    assert {"full", "lora", "prefix", "prompt", "adapter", "adalora", "ia3"} <= set(method_names())


@pytest.mark.parametrize("name", method_names())
def test_technique_trains_freezes_base_and_reloads(name, tiny_model, memorise_file, tmp_path):
    base = {n: p.detach().clone() for n, p in load_model(str(tiny_model)).named_parameters()}
    snapshot = SnapshotTrainable()
    trained = fit(_config(tiny_model, memorise_file, tmp_path / name, name), callbacks=[snapshot])

    rows = [json.loads(line) for line in (trained.run_dir / "metrics.jsonl").read_text().splitlines()]
    losses = [row["loss"] for row in rows if "loss" in row]
    assert len(losses) == 20 and all(math.isfinite(loss) for loss in losses)
    assert losses[-1] < losses[0], f"{name}: loss did not fall: {losses}"

    params = dict(trained.model.named_parameters())
    moved = [n for n, before in snapshot.initial.items() if not torch.equal(params[n].detach(), before)]
    assert moved, f"{name}: no trainable parameter changed"
    if name != "full":
        inner = trained.model.get_base_model() if hasattr(trained.model, "get_base_model") else trained.model
        frozen = {_base_name(n): p for n, p in inner.named_parameters() if not p.requires_grad}
        compared = [n for n in base if n in frozen]
        assert len(compared) >= len(base) - 1, f"{name}: base parameters not found: {set(base) - set(frozen)}"
        assert all(torch.equal(frozen[n].detach(), base[n]) for n in compared), f"{name}: base weights changed"

    summary = json.loads((trained.run_dir / "summary.json").read_text())
    assert summary["technique"] == name
    assert 0 < summary["parameters"]["trainable"] <= summary["parameters"]["total"]
    assert summary["real_tokens"] > 0 and summary["final_train_loss"] == pytest.approx(losses[-1])

    reloaded = load_run(trained.run_dir)
    ids = torch.tensor([[5, 6, 7, 8, 9, 10]])
    with torch.no_grad():
        expected = trained.model(input_ids=ids).logits
        actual = reloaded.model(input_ids=ids).logits
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", [n for n in method_names() if get_method(n).uses_peft])
def test_peft_artifacts_load_with_plain_peft(name, tiny_model, memorise_file, tmp_path):
    from peft import PeftModel

    trained = fit(_config(tiny_model, memorise_file, tmp_path / name, name, steps=3))
    model = PeftModel.from_pretrained(load_model(str(tiny_model)), str(trained.run_dir / "adapter"))
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=ids).logits, trained.model(input_ids=ids).logits)


def test_run_dir_holds_the_contract(tiny_model, memorise_file, tmp_path):
    run = fit(_config(tiny_model, memorise_file, tmp_path / "lora", "lora", steps=2)).run_dir
    for name in ("config.yaml", "summary.json", "metrics.jsonl", "adapter/adapter_config.json",
                 "adapter/adapter_model.safetensors", "tokenizer/tokenizer.json"):
        assert (run / name).is_file(), name
    assert not list(run.rglob("*.bin")) and not list(run.rglob("*.pt")), "only safetensors and JSON are written"


def test_adalora_reallocates_ranks_during_training(tiny_model, memorise_file, tmp_path):
    """The Trainer never calls update_and_allocate; honed's callback must, or no rank is ever pruned."""
    trained = fit(_config(tiny_model, memorise_file, tmp_path / "adalora", "adalora"))
    pattern = trained.model.peft_config["default"].rank_pattern
    assert pattern, "no rank pattern: update_and_allocate was not called"
    kept = sum(int(sum(mask)) for mask in pattern.values())
    assert kept < len(pattern) * 12, "ranks were not pruned below init_r"


def test_validation_loss_is_the_plain_lm_loss_for_adalora(tiny_model, memorise_file, tmp_path):
    """AdaLoRA starts as the base model (its singular values are zero), so before training its validation loss
    must equal the base model's; peft's `.loss` would add the orthogonality regulariser on top."""
    config = _config(tiny_model, memorise_file, tmp_path / "adalora", "adalora", steps=1)
    config["data"]["validation"] = str(memorise_file)
    base_config = {**config, "method": "full", "output": str(tmp_path / "full")}
    adalora = fit(config).summary["initial_val_loss"]
    base = fit(base_config).summary["initial_val_loss"]
    assert adalora == pytest.approx(base, abs=1e-5)
