"""How rows become batches: padding-free packing under a token budget, or length-grouped padded batches.

Packing concatenates a batch's rows into one sequence whose position ids restart at every row; transformers then
builds a block-diagonal causal mask from those position ids, so no row attends to another and no token is padding.
Prefix and prompt tuning prepend virtual tokens to each row and cannot pack; they fall back to length grouping.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

log = logging.getLogger("honed")


class TokenBudgetBatchSampler:
    """Row indices grouped into batches of at most `max_tokens` tokens (a longer row gets a batch of its own).

    The batches are formed once from a seeded shuffle, so every epoch has the same number of steps (the Trainer
    and AdaLoRA's budget need it up front); their order is reshuffled each epoch.
    """

    def __init__(self, lengths: list[int], max_tokens: int, seed: int):
        order = list(range(len(lengths)))
        random.Random(seed).shuffle(order)
        self.batches: list[list[int]] = []
        current: list[int] = []
        used = 0
        for index in order:
            if current and used + lengths[index] > max_tokens:
                self.batches.append(current)
                current, used = [], 0
            current.append(index)
            used += lengths[index]
        if current:
            self.batches.append(current)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        order = list(range(len(self.batches)))
        random.Random(self.seed + self.epoch).shuffle(order)
        for position in order:
            yield self.batches[position]


@dataclass(frozen=True)
class BatchPlan:
    packing: bool
    batch_tokens: int | None  # token budget per packed micro-batch
    reason: str

    def batches_per_epoch(self, lengths: list[int], batch_size: int, seed: int) -> int:
        if self.packing:
            return len(TokenBudgetBatchSampler(lengths, self.batch_tokens, seed))
        return -(-len(lengths) // batch_size)


def plan_batches(training, method, lengths: list[int], model) -> BatchPlan:
    """Pack when the technique can, the user did not say no, and the model is checked to keep packed rows apart."""
    if training.packing is False:
        return BatchPlan(False, None, "packing off (training.packing: false); length-grouped padded batches")
    if not method.can_pack:
        if training.packing:
            log.warning("%s cannot pack (it prepends virtual tokens to each row); using length-grouped batches",
                        method.name)
        return BatchPlan(False, None, f"{method.name} prepends virtual tokens per row: length-grouped padded batches")
    if not packing_is_exact(model):
        log.warning("this model does not keep packed rows apart (its attention ignores position ids); "
                    "using length-grouped padded batches")
        return BatchPlan(False, None, "model cannot pack: length-grouped padded batches")
    budget = training.batch_tokens or max(max(lengths), round(training.batch_size * sum(lengths) / len(lengths)))
    return BatchPlan(True, budget, f"padding-free packing, {budget} tokens per micro-batch")


def packing_is_exact(model) -> bool:
    """Run two short rows packed and alone on the real model; packing is used only if the logits agree.

    Agreement is up to float noise (about 1e-4 on logits of magnitude 30 for SmolLM2); a model that lets rows see
    each other differs by whole units.
    """
    import torch

    rows = [[11, 12, 13, 14, 15], [21, 22, 23]]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            alone = [model(input_ids=torch.tensor([r]), use_cache=False).logits[0] for r in rows]
            packed = model(
                input_ids=torch.tensor([rows[0] + rows[1]]),
                position_ids=torch.tensor([list(range(len(rows[0]))) + list(range(len(rows[1])))]),
                use_cache=False,
            ).logits[0]
    except Exception as error:  # an architecture that rejects position_ids simply does not pack
        log.debug("packing check failed: %s", error)
        return False
    finally:
        model.train(was_training)
    return bool(torch.allclose(packed, torch.cat(alone), rtol=1e-4, atol=1e-3))
