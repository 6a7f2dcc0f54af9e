"""Narrow packed lines in bf16 on a CPU run eager attention, wider ones the model's own sdpa; nothing else changes."""

from __future__ import annotations

import torch

from honed.models import load_model
from honed.training.attention import EAGER_UP_TO, plan_attention
from honed.precision import Precision


def _implementation(model) -> str:
    return model.config._attn_implementation


def test_bf16_on_a_cpu_switches_by_width_and_restores(tiny_model):
    model = load_model(str(tiny_model))
    plan = plan_attention(model, Precision("bf16", "cpu", "test"))
    assert plan is not None and _implementation(model) == "sdpa"
    plan.apply(model, EAGER_UP_TO)
    assert _implementation(model) == "eager"
    plan.apply(model, EAGER_UP_TO + 1)
    assert _implementation(model) == "sdpa"
    plan.apply(model, 16)
    plan.restore(model)
    assert _implementation(model) == "sdpa"


def test_fp32_and_gpus_keep_the_models_own(tiny_model):
    model = load_model(str(tiny_model))
    assert plan_attention(model, Precision("fp32", "cpu", "test")) is None
    assert plan_attention(model, Precision("bf16", "cuda", "test")) is None


def test_both_kernels_give_the_same_packed_logits(tiny_model):
    model = load_model(str(tiny_model), dtype=torch.bfloat16).eval()
    plan = plan_attention(model, Precision("bf16", "cpu", "test"))
    ids = torch.tensor([[5, 6, 7, 8, 9, 10, 11, 12]])
    positions = torch.tensor([[0, 1, 2, 3, 0, 1, 2, 3]])
    logits = {}
    for width in (8, EAGER_UP_TO + 1):
        plan.apply(model, width)
        with torch.no_grad():
            logits[_implementation(model)] = model(input_ids=ids, position_ids=positions).logits.float()
    torch.testing.assert_close(logits["eager"], logits["sdpa"], atol=0.05, rtol=0.02)
