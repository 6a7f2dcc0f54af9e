"""MaskDropout: the dropout of LoRA's adapter branch, with a mask from a quarter of the random draws."""

from __future__ import annotations

import pytest
import torch

from honed.methods.dropout import MaskDropout, use_mask_dropout


@pytest.mark.parametrize("p", [0.05, 0.1, 0.5])
def test_keeps_one_minus_p_and_scales_the_kept(p):
    torch.manual_seed(0)
    x = torch.ones(400, 1000)
    out = MaskDropout(p).train()(x)
    kept = out != 0
    assert abs(kept.float().mean().item() - (1 - p)) < 0.003  # 400k draws: 3 standard deviations at p=0.5
    assert torch.allclose(out[kept], torch.full_like(out[kept], 1 / (1 - p)))


def test_masks_are_independent_across_positions_and_calls():
    torch.manual_seed(0)
    first = MaskDropout(0.5).train()(torch.ones(100_000)) != 0
    second = MaskDropout(0.5).train()(torch.ones(100_000)) != 0
    assert abs((first & second).float().mean().item() - 0.25) < 0.01
    assert abs((first[:-1] & first[1:]).float().mean().item() - 0.25) < 0.01  # neighbours (one draw's four slices)


def test_gradient_is_the_mask_times_the_scale_and_eval_is_identity():
    torch.manual_seed(1)
    x = torch.randn(64, 32, dtype=torch.bfloat16, requires_grad=True)
    dropout = MaskDropout(0.1).train()
    out = dropout(x)
    out.float().sum().backward()
    expected = (out != 0).to(torch.bfloat16) / 0.9
    torch.testing.assert_close(x.grad, expected)
    assert dropout.eval()(x) is x


def test_seeded_masks_repeat():
    masks = []
    for _ in range(2):
        torch.manual_seed(7)
        masks.append(MaskDropout(0.1).train()(torch.ones(1000)))
    assert torch.equal(*masks)


def test_lora_layers_get_it_in_their_adapter_branch(tiny_model):
    """peft keeps each adapter's dropout in a public `lora_dropout` ModuleDict; if that changes, this fails."""
    import peft

    from honed.models import load_model

    model = peft.get_peft_model(load_model(str(tiny_model)), peft.LoraConfig(
        task_type=peft.TaskType.CAUSAL_LM, r=2, lora_dropout=0.1, target_modules="all-linear"))
    swapped = use_mask_dropout(model)
    adapted = [m for m in model.modules() if isinstance(getattr(m, "lora_dropout", None), torch.nn.ModuleDict)]
    assert swapped == len(adapted) > 0
    assert all(isinstance(m.lora_dropout["default"], MaskDropout) for m in adapted)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32, torch.float64])
def test_the_mask_is_exactly_zero_or_the_scale_in_every_dtype(dtype):
    torch.manual_seed(3)
    x = torch.randn(300, 40).to(dtype)
    out = MaskDropout(0.1).train()(x)
    kept = out != 0
    expected = (x * (1 / 0.9)).to(dtype)  # the scale applied as torch applies a Python float to this dtype
    assert torch.equal(out[kept], expected[kept])
    assert 0.85 < kept.float().mean().item() < 0.95
