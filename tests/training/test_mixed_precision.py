"""bf16 training: frozen weights held in bf16, trainable weights and optimizer state in fp32, and the loss at
labelled positions only equal to the plain loss over every position (values and gradients)."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import TrainerCallback

from honed.methods import method_names
from honed.training import fit, load_run
from tiny import write_jsonl

ROWS = [
    {"prompt": "Where is my order?", "completion": "It ships in two days."},
    {"prompt": "How do I reset my password?", "completion": "Open settings and choose reset."},
    {"prompt": "Hi", "completion": "Hi there, thanks for contacting support."},
    {"prompt": "The quick brown fox", "completion": "jumps over the lazy dog."},
    {"prompt": "Numbers?", "completion": "12345"},
]
TEST_LR = {"full": 1e-3, "lora": 1e-2, "prefix": 3e-2, "prompt": 1e-1, "adalora": 1e-2, "adapter": 1e-2, "ia3": 5e-2}


class Record(TrainerCallback):
    """Per-step losses, and the gradients and dtypes just before the first optimizer step."""

    def __init__(self):
        self.losses, self.grads, self.dtypes = [], {}, {}

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        if not self.grads:
            self.grads = {n: p.grad.detach().float().clone() for n, p in model.named_parameters() if p.grad is not None}
            self.dtypes = {n: p.dtype for n, p in model.named_parameters()}

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.losses.append(logs["loss"])


def _run(tiny_model, tmp_path, label, method="lora", **training):
    data = write_jsonl(tmp_path / "rows.jsonl", ROWS)
    record = Record()
    trained = fit({
        "model": str(tiny_model), "method": {"name": method, **({"dropout": 0.0} if method == "lora" else {})},
        "output": str(tmp_path / label), "data": {"train": str(data), "validation": str(data)},
        "training": {"max_steps": 3, "batch_size": 2, "learning_rate": TEST_LR[method], "logging_steps": 1,
                     "warmup": 0, "max_grad_norm": 1e9, **training},
    }, callbacks=[record])
    return trained, record


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("packing, grad_accum", [(True, 1), (True, 2), (False, 1), (False, 2)])
def test_loss_at_labelled_positions_equals_the_plain_loss(tiny_model, tmp_path, precision, packing, grad_accum):
    runs = {}
    for logits in ("labelled", "all"):
        runs[logits] = _run(tiny_model, tmp_path, f"{logits}", precision=precision, packing=packing,
                            grad_accum=grad_accum, logits=logits)
    (labelled, fused), (plain, reference) = runs["labelled"], runs["all"]
    assert labelled.summary["batching"]["loss"].startswith("loss on labelled positions")
    tolerance = 1e-5 if precision == "fp32" else 2e-2
    assert fused.losses == pytest.approx(reference.losses, rel=tolerance)
    assert labelled.summary["initial_val_loss"] == pytest.approx(plain.summary["initial_val_loss"], rel=tolerance)
    assert fused.grads.keys() == reference.grads.keys() and fused.grads
    for name, grad in fused.grads.items():
        torch.testing.assert_close(grad, reference.grads[name], rtol=tolerance * 10, atol=tolerance * 1e-2)


def test_adalora_keeps_its_orthogonality_penalty(tiny_model, tmp_path):
    """peft adds AdaLoRA's regulariser to a loss the model computes itself; honed adds the same term to its own."""
    fused = _run(tiny_model, tmp_path, "labelled", method="adalora", precision="fp32")[1]
    plain = _run(tiny_model, tmp_path, "all", method="adalora", precision="fp32", logits="all")[1]
    assert fused.losses == pytest.approx(plain.losses, rel=1e-5)


@pytest.mark.parametrize("name", method_names())
def test_every_technique_trains_in_bf16_with_fp32_master_weights(name, tiny_model, tmp_path):
    trained, record = _run(tiny_model, tmp_path, name, method=name, precision="bf16", max_steps=8,
                           batch_size=len(ROWS))  # the same batch every step: the loss must fall
    assert trained.summary["precision"] == "bf16" and "measured" in trained.summary["precision_reason"]
    assert record.losses[-1] < record.losses[0], f"{name}: loss did not fall: {record.losses}"
    model = trained.model
    trainable = {n: p.dtype for n, p in model.named_parameters() if p.requires_grad}
    frozen = {n: p.dtype for n, p in model.named_parameters() if not p.requires_grad}
    assert trainable and set(trainable.values()) == {torch.float32}, "trainable weights must stay fp32"
    if name != "full":
        assert set(frozen.values()) == {torch.bfloat16}, f"{name}: frozen weights not held in bf16"
    # Saved artifacts keep fp32: the run reloads on an fp32 base and answers as the trained model does in bf16.
    assert record.dtypes and all(record.dtypes[n] == torch.float32 for n in trainable)
    reloaded = load_run(trained.run_dir).model
    ids = torch.tensor([[5, 6, 7, 8, 9, 10]])
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        in_training = trained.model(input_ids=ids).logits.float()
    with torch.no_grad():
        after_reload = reloaded(input_ids=ids).logits
    assert after_reload.dtype == torch.float32
    torch.testing.assert_close(after_reload, in_training, atol=0.1, rtol=0.05)


def test_summary_says_what_auto_chose_and_why(tiny_model, tmp_path):
    trained, _ = _run(tiny_model, tmp_path, "auto", precision="auto")
    summary = json.loads((trained.run_dir / "summary.json").read_text())
    # The test fixture's CPU measures bf16 no faster than fp32 (tests/conftest.py).
    assert summary["precision"] == "fp32" and summary["precision_reason"].startswith("auto: bf16 matmul measured 1.00x")
    assert summary["matmul_gflops"] == {"fp32": 100.0, "bf16": 100.0, "fp16": 2.0}
