"""Perplexity of the references, teacher-forced, with exactly the masking used in training."""

from __future__ import annotations

import math

from honed.data import IGNORE_INDEX
from honed.data.encoding import encode_row
from honed.models.loss import token_nll


def reference_losses(model, tokenizer, rows: list[dict], train_on: str, max_length: int) -> list[tuple[float, int]]:
    """(summed negative log-likelihood, supervised tokens) per row; one row at a time so prompt-learning
    techniques, which prepend virtual tokens, are scored exactly as they train."""
    import torch

    device = next(model.parameters()).device
    results = []
    for row in rows:
        encoded = encode_row(tokenizer, row, train_on, max_length)
        count = sum(label != IGNORE_INDEX for label in encoded.labels[1:])
        if count == 0:
            results.append((0.0, 0))
            continue
        ids = torch.tensor([encoded.input_ids], device=device)
        labels = torch.tensor([encoded.labels], device=device)
        with torch.inference_mode():
            # From the logits, not `.loss`: AdaLoRA adds its regulariser to `.loss`, even in eval mode.
            logits = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
            nll, _ = token_nll(logits, labels)
        results.append((float(nll), count))
    return results


def perplexity(losses: list[tuple[float, int]]) -> float:
    total, count = sum(nll for nll, _ in losses), sum(n for _, n in losses)
    if count == 0:
        return 0.0
    return math.exp(min(total / count, 50.0))  # capped: exp(50) already says "useless" and stays finite
