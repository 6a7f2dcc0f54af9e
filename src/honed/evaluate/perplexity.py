"""Perplexity of the references, teacher-forced, with exactly the masking used in training."""

from __future__ import annotations

import math

from honed.data import IGNORE_INDEX
from honed.data.encoding import encode_row


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
            # The loss is computed here, not taken from the model: AdaLoRA adds its regulariser to `.loss`, and
            # prompt tuning returns logits for its virtual tokens too (the last len(ids) positions are ours).
            logits = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits[:, -ids.shape[1] :]
            nll = torch.nn.functional.cross_entropy(
                logits[0, :-1].float(), labels[0, 1:], ignore_index=IGNORE_INDEX, reduction="sum"
            )
        results.append((float(nll), count))
    return results


def perplexity(losses: list[tuple[float, int]]) -> float:
    total, count = sum(nll for nll, _ in losses), sum(n for _, n in losses)
    if count == 0:
        return 0.0
    return math.exp(min(total / count, 50.0))  # capped: exp(50) already says "useless" and stays finite
