"""The next-token loss of a causal LM, computed only where labels are set.

A training row's loss falls on its answer only: on short-answer data 16% of positions carry a label, on the bundled
support data 68%. The plain path projects every position onto the vocabulary (49k entries for SmolLM2, 152k for
Qwen2.5), upcasts all of it to fp32, and keeps a log-softmax of the same size for the backward pass. Here the model
is asked for logits at labelled positions only (transformers' `logits_to_keep` with a boolean mask, which slices the
hidden states before the LM head), and the cross-entropy runs over those logits in chunks, in fp32, so no
[tokens x vocab] fp32 tensor is ever held. Pure PyTorch, so it runs for every technique on any device; Liger's
fused kernel and cut-cross-entropy need Triton on a GPU.

Evaluation shares the module so that validation loss, perplexity and the training loss are one computation.
"""

from __future__ import annotations

import logging

import torch

from honed.data import IGNORE_INDEX

log = logging.getLogger("honed")

_CHUNK_BYTES = 32 * 2**20  # fp32 logits per cross-entropy chunk: a few cache-friendly rows of the vocabulary


def token_nll(logits, labels):
    """(summed negative log-likelihood, counted tokens) of next-token predictions where labels are set.

    From full logits. Prompt tuning returns logits for its virtual tokens too; the last labels.shape[1] positions are
    the input's.
    """
    logits = logits[:, -labels.shape[1] :, :]
    shifted_logits, shifted_labels = logits[:, :-1], labels[:, 1:]
    keep = shifted_labels != IGNORE_INDEX
    return chunked_cross_entropy(shifted_logits[keep], shifted_labels[keep]), int(keep.sum())


def labelled_positions(labels, prepended: int = 0):
    """Boolean mask over the model's positions: True where the next token carries a label.

    `prepended` positions (prompt tuning's virtual tokens) come before the input and are never labelled.
    """
    mask = torch.zeros(labels.shape[0], prepended + labels.shape[1], dtype=torch.bool, device=labels.device)
    mask[:, prepended : prepended + labels.shape[1] - 1] = labels[:, 1:] != IGNORE_INDEX
    return mask


def labelled_targets(labels):
    """The labels those positions predict, in the same (row-major) order as the selected logits."""
    shifted = labels[:, 1:]
    return shifted[shifted != IGNORE_INDEX]


def labelled_nll(model, features: dict, labels, prepended: int = 0):
    """(summed NLL, counted tokens, model outputs) with logits computed at labelled positions only."""
    outputs = model(**features, logits_to_keep=labelled_positions(labels, prepended))
    targets = labelled_targets(labels)
    return chunked_cross_entropy(outputs.logits, targets), int(targets.numel()), outputs


def chunked_cross_entropy(logits, targets, rows: int | None = None):
    """Summed cross-entropy of [N, vocab] logits (any float dtype) against [N] targets, accumulated in fp32,
    `rows` logits at a time (default: about 32 MB of fp32)."""
    if logits.numel() == 0:
        return logits.sum().float()
    rows = rows or max(1, _CHUNK_BYTES // (4 * logits.shape[-1]))
    if torch.is_grad_enabled() and logits.requires_grad:
        return _ChunkedCrossEntropy.apply(logits, targets, rows)
    return _forward(logits, targets, rows)[0]


def _forward(logits, targets, rows: int):
    lse = torch.empty(logits.shape[0], dtype=torch.float32, device=logits.device)
    total = torch.zeros((), dtype=torch.float32, device=logits.device)
    for start in range(0, logits.shape[0], rows):
        part = logits[start : start + rows].float()
        part_lse = torch.logsumexp(part, dim=-1)
        lse[start : start + rows] = part_lse
        total += (part_lse - part.gather(1, targets[start : start + rows, None]).squeeze(1)).sum()
    return total, lse


class _ChunkedCrossEntropy(torch.autograd.Function):
    """Keeps only the logits (in their own dtype) and one fp32 log-sum-exp per row for the backward pass, which
    rebuilds each chunk's softmax from them: d(loss)/d(logits) = softmax - one_hot(target)."""

    @staticmethod
    def forward(ctx, logits, targets, rows):
        total, lse = _forward(logits, targets, rows)
        ctx.save_for_backward(logits, targets, lse)
        ctx.rows = rows
        return total

    @staticmethod
    def backward(ctx, grad_total):
        logits, targets, lse = ctx.saved_tensors
        grad = torch.empty_like(logits)
        for start in range(0, logits.shape[0], ctx.rows):
            end = start + ctx.rows
            part = torch.exp(logits[start:end].float() - lse[start:end, None])
            part[torch.arange(part.shape[0], device=part.device), targets[start:end]] -= 1
            grad[start:end] = part.mul_(grad_total)
        return grad, None, None


def selects_logits(model, prepended: int = 0) -> bool:
    """Whether this model honours a boolean `logits_to_keep` (checked on the model itself, as packing is): the logits
    it returns for a mask must be those of the full forward at the masked positions."""
    ids = torch.tensor([[11, 12, 13, 14, 15, 16], [21, 22, 23, 24, 25, 26]])
    labels = torch.tensor([[IGNORE_INDEX, IGNORE_INDEX, 13, 14, IGNORE_INDEX, 16],
                           [IGNORE_INDEX, 22, 23, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX]])
    device = next(model.parameters()).device
    ids, labels = ids.to(device), labels.to(device)
    mask = labelled_positions(labels, prepended)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            full = model(input_ids=ids, use_cache=False).logits
            selected = model(input_ids=ids, use_cache=False, logits_to_keep=mask).logits
    except (TypeError, ValueError, RuntimeError, IndexError) as error:
        log.debug("logits_to_keep check failed: %s", error)
        return False
    finally:
        model.train(was_training)
    expected = full[mask]
    if selected.shape != expected.shape:
        return False
    tolerance = 1e-4 if full.dtype == torch.float32 else 2e-2
    return bool(torch.allclose(selected.float(), expected.float(), rtol=tolerance, atol=tolerance * 10))
