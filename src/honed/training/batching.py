"""How rows become batches: padding-free packing under a token budget, or length-grouped padded batches.

Packing concatenates rows into sequences whose position ids restart at every row; transformers then builds a
block-diagonal causal mask from those position ids, so no row attends to another. Prefix and prompt tuning prepend
virtual tokens to each row and cannot pack; they fall back to length grouping.
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

    def sampler(self, lengths: list[int], seed: int) -> TokenBudgetBatchSampler:
        """The packed micro-batches; the same ones whether counted up front or trained on."""
        return TokenBudgetBatchSampler(lengths, self.batch_tokens, seed)

    def batches_per_epoch(self, lengths: list[int], batch_size: int, seed: int) -> int:
        if self.packing:
            return len(self.sampler(lengths, seed))
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

    Agreement is up to float noise (about 1e-4 on logits of magnitude 30 for SmolLM2 in fp32, a few bf16 steps of
    0.125-0.25 at that magnitude in half precision); a model that lets rows see each other differs by whole units
    (16 on SmolLM2).
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
    alone = torch.cat(alone)
    if packed.dtype == torch.float32:
        return bool(torch.allclose(packed, alone, rtol=1e-4, atol=1e-3))
    return bool((packed.float() - alone.float()).abs().max() <= 0.03 * alone.float().abs().max())


class PackedLinesCollator:
    """A micro-batch's rows packed into the line width that costs least, each line's rows apart by position ids.

    transformers' DataCollatorWithFlattening makes one line of the whole batch; without variable-length attention
    kernels (CPUs) attention then costs (sum of lengths)^2 instead of the sum of squares. Narrow lines of the longest
    row's width keep attention cheap but leave padding. The width chosen minimises the estimated cost of the matmuls
    on every position plus attention over each line: lines x width x (1 + width / attention_scale), where
    attention_scale ~ 6 x hidden size is the width at which a token's attention costs as much as its matmuls.
    Padding is a trailing segment of its own whose labels are ignored.
    """

    def __init__(self, pad_id: int, ignore_index: int, tally=None, attention_scale: int = 3456):
        self.pad_id = pad_id
        self.ignore_index = ignore_index
        self.tally = tally
        self.attention_scale = attention_scale

    def __call__(self, features: list[dict]) -> dict:
        import torch

        rows = [(list(f["input_ids"]), list(f["labels"])) for f in features]
        lines = self.cheapest_lines([len(ids) for ids, _ in rows])
        width = max(sum(len(rows[i][0]) for i in line) for line in lines)
        batch = {"input_ids": [], "labels": [], "position_ids": []}
        for line in lines:
            ids, labels, positions = [], [], []
            for index in line:
                row_ids, row_labels = rows[index]
                ids += row_ids
                labels += [self.ignore_index, *row_labels[1:]]  # the first token is never predicted across rows
                positions += range(len(row_ids))
            padding = width - len(ids)
            batch["input_ids"].append(ids + [self.pad_id] * padding)
            batch["labels"].append(labels + [self.ignore_index] * padding)
            batch["position_ids"].append(positions + list(range(padding)))
        if self.tally is not None:
            self.tally.collated(real=sum(len(ids) for ids, _ in rows), positions=width * len(lines))
        return {key: torch.tensor(value, dtype=torch.long) for key, value in batch.items()}

    def cheapest_lines(self, lengths: list[int]) -> list[list[int]]:
        longest, total = max(lengths), sum(lengths)
        best, best_cost = None, float("inf")
        for width in sorted({*(longest * k for k in range(1, 9) if longest * k < total), total}):
            lines = best_fit_decreasing(lengths, width)
            used = max(sum(lengths[i] for i in line) for line in lines)
            cost = len(lines) * used * (1 + used / self.attention_scale)
            if cost < best_cost:
                best, best_cost = lines, cost
        return best


def best_fit_decreasing(lengths: list[int], capacity: int) -> list[list[int]]:
    """Indices grouped into bins of at most `capacity`, longest first, each into the fullest bin it fits."""
    bins: list[list[int]] = []
    room: list[int] = []
    for index in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        fits = [b for b in range(len(bins)) if room[b] >= lengths[index]]
        if fits:
            best = min(fits, key=lambda b: room[b])
            bins[best].append(index)
            room[best] -= lengths[index]
        else:
            bins.append([index])
            room.append(capacity - lengths[index])
    return bins
