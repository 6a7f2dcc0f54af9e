"""The loss at labelled positions only equals the plain loss over all logits, values and gradients."""

from __future__ import annotations

import pytest
import torch

from honed.data import IGNORE_INDEX
from honed.models import load_model
from honed.models.loss import (
    chunked_cross_entropy,
    labelled_nll,
    labelled_positions,
    selects_logits,
    token_nll,
)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("rows", [1, 3, 1000])
def test_chunked_cross_entropy_equals_torch(dtype, rows):
    torch.manual_seed(0)
    logits = (torch.randn(17, 50) * 4).to(dtype).requires_grad_()
    targets = torch.randint(0, 50, (17,))
    ours = chunked_cross_entropy(logits, targets, rows=rows)
    (grad_ours,) = torch.autograd.grad(ours * 0.5, logits)
    reference = torch.nn.functional.cross_entropy(logits.float(), targets, reduction="sum")
    (grad_reference,) = torch.autograd.grad(reference * 0.5, logits)
    assert ours.dtype == torch.float32
    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-4)
    assert grad_ours.dtype == dtype
    tolerance = 1e-6 if dtype == torch.float32 else 1e-2
    torch.testing.assert_close(grad_ours.float(), grad_reference.float(), rtol=tolerance, atol=tolerance)


def test_no_labelled_position_is_a_zero_loss_with_a_gradient():
    logits = torch.randn(0, 50, requires_grad=True)
    loss = chunked_cross_entropy(logits, torch.zeros(0, dtype=torch.long))
    loss.backward()
    assert loss.item() == 0.0 and logits.grad is not None


def test_mask_marks_positions_that_predict_a_label_after_prepended_ones():
    labels = torch.tensor([[IGNORE_INDEX, 5, 6, IGNORE_INDEX], [IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, 7]])
    assert labelled_positions(labels).tolist() == [[True, True, False, False], [False, False, True, False]]
    assert labelled_positions(labels, prepended=2)[:, :2].sum() == 0
    assert labelled_positions(labels, prepended=2)[:, 2:].tolist() == labelled_positions(labels).tolist()


def _batch():
    ids = torch.tensor([[11, 12, 13, 14, 15, 16, 17, 18], [21, 22, 23, 24, 25, 26, 27, 28]])
    labels = ids.clone()
    labels[0, :3] = IGNORE_INDEX
    labels[1, :5] = IGNORE_INDEX
    labels[1, 7] = IGNORE_INDEX
    positions = torch.tensor([[0, 1, 2, 3, 0, 1, 2, 3], list(range(8))])  # the first line holds two packed rows
    return ids, labels, positions


@pytest.mark.parametrize("packed", [True, False])
def test_labelled_loss_and_gradients_equal_the_plain_path(tiny_model, packed):
    model = load_model(str(tiny_model))
    ids, labels, positions = _batch()
    features = {"input_ids": ids, **({"position_ids": positions} if packed else {})}
    plain_nll, plain_count = token_nll(model(**features).logits, labels)
    plain_grads = torch.autograd.grad(plain_nll, list(model.parameters()))
    nll, count, _ = labelled_nll(model, features, labels)
    grads = torch.autograd.grad(nll, list(model.parameters()))
    assert count == plain_count == 7
    torch.testing.assert_close(nll, plain_nll, rtol=1e-5, atol=1e-5)
    for ours, reference in zip(grads, plain_grads, strict=True):
        torch.testing.assert_close(ours, reference, rtol=1e-4, atol=1e-6)


def test_models_that_honour_a_boolean_logits_to_keep_are_recognised(tiny_model):
    model = load_model(str(tiny_model))
    assert selects_logits(model)

    class IgnoresIt(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = model

        def forward(self, input_ids, use_cache=False, logits_to_keep=0):
            return self.inner(input_ids=input_ids)  # every position, whatever was asked

    assert not selects_logits(IgnoresIt())
