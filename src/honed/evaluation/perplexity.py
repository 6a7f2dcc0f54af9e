"""Perplexity of the references, teacher-forced, with exactly the masking used in training.

A row whose reference has no token left to score (truncated away at data.max_length) has no perplexity: it is left
out and counted, never scored 0, which would read as a perfect answer.
"""

from __future__ import annotations

import math

from honed.data import IGNORE_INDEX
from honed.data.encoding import encode_row
from honed.models.loss import token_nll

Loss = tuple[float, int]  # (summed negative log-likelihood, supervised tokens) of one row


def reference_losses(model, tokenizer, rows: list[dict], train_on: str, max_length: int,
                     engine=None) -> list[Loss | None]:
    """Each row's loss, or None for a row with no supervised token; one row at a time so prompt-learning
    techniques, which prepend virtual tokens, are scored exactly as they train. With `engine` (the one that
    generated the answers) the logits come from it, in the dtype it answers in."""
    encoded = [encode_row(tokenizer, row, train_on, max_length) for row in rows]
    return sequence_losses(model, [(row.input_ids, row.labels) for row in encoded], engine)


def sequence_losses(model, sequences: list[tuple[list[int], list[int]]], engine=None) -> list[Loss | None]:
    """(summed negative log-likelihood, scored tokens) of each (ids, labels) sequence, teacher-forced; None where no
    label is set past the first position."""
    import torch

    from honed.generation.plain import forward_logits

    results: list[Loss | None] = [None] * len(sequences)
    scored = [i for i, (_, labels) in enumerate(sequences) if any(label != IGNORE_INDEX for label in labels[1:])]
    inputs = [sequences[i][0] for i in scored]
    if engine is not None:
        all_logits = engine.logits(inputs)
    else:
        all_logits = (forward_logits(model, ids) for ids in inputs)
    for i, logits in zip(scored, all_logits, strict=True):
        with torch.inference_mode():
            nll, count = token_nll(logits, torch.tensor([sequences[i][1]], device=logits.device))
        results[i] = (float(nll), count)
    return results


def perplexity(losses: list[Loss | None]) -> float | None:
    """Over the rows that have supervised tokens; None when none has."""
    measured = [loss for loss in losses if loss is not None]
    total, count = sum(nll for nll, _ in measured), sum(n for _, n in measured)
    if count == 0:
        return None
    return math.exp(min(total / count, 50.0))  # capped: exp(50) already says "useless" and stays finite
