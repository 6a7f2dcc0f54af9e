"""The causal-LM loss computed from logits, for evaluation that must not include training-only terms."""

from __future__ import annotations

from honed.data import IGNORE_INDEX


def token_nll(logits, labels):
    """(summed negative log-likelihood, counted tokens) of next-token predictions where labels are set.

    Prompt tuning returns logits for its virtual tokens too; the last labels.shape[1] positions are the input's.
    """
    import torch

    logits = logits[:, -labels.shape[1] :, :]
    shifted_logits, shifted_labels = logits[:, :-1].float(), labels[:, 1:]
    nll = torch.nn.functional.cross_entropy(
        shifted_logits.reshape(-1, shifted_logits.shape[-1]), shifted_labels.reshape(-1),
        ignore_index=IGNORE_INDEX, reduction="sum",
    )
    return nll, int((shifted_labels != IGNORE_INDEX).sum())
