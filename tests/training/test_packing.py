"""Padding-free packing is exact: same logits and losses as rows alone, no attention across rows, and gradient
accumulation over packed micro-batches equals one big batch."""

from __future__ import annotations

import pytest
import torch
from transformers import DataCollatorWithFlattening, TrainerCallback

from honed.data import IGNORE_INDEX
from honed.models import load_model
from honed.training import fit
from honed.training.batching import PackedLinesCollator, TokenBudgetBatchSampler, best_fit_decreasing, packing_is_exact
from honed.models.loss import token_nll
from tiny import write_jsonl

ROWS = [[5, 9, 14, 22, 31, 40, 41], [7, 8, 9], [50, 60, 70, 80, 90]]


def _packed(rows):
    batch = DataCollatorWithFlattening(return_position_ids=True, separator_id=IGNORE_INDEX)(
        [{"input_ids": r, "labels": r} for r in rows]
    )
    return batch["input_ids"], batch["position_ids"], batch["labels"]


def test_packed_rows_give_the_logits_and_losses_of_rows_alone(tiny_model):
    model = load_model(str(tiny_model)).eval()
    ids, positions, labels = _packed(ROWS)
    with torch.no_grad():
        packed = model(input_ids=ids, position_ids=positions, use_cache=False).logits[0]
        start = 0
        for row in ROWS:
            alone = model(input_ids=torch.tensor([row]), use_cache=False).logits[0]
            torch.testing.assert_close(packed[start : start + len(row)], alone, atol=1e-5, rtol=1e-5)
            row_labels = torch.tensor([row])
            nll_alone, count = token_nll(alone[None], row_labels)
            nll_packed, _ = token_nll(packed[None, start : start + len(row)], row_labels)
            assert count == len(row) - 1
            assert float(nll_packed) == pytest.approx(float(nll_alone), abs=1e-5)
            start += len(row)


def test_no_token_attends_across_a_row_boundary(tiny_model):
    model = load_model(str(tiny_model)).eval()
    changed_first_row = [[99, 98, 97, 96, 95, 94, 93], *ROWS[1:]]
    with torch.no_grad():
        a = model(input_ids=_packed(ROWS)[0], position_ids=_packed(ROWS)[1], use_cache=False).logits[0]
        b = model(input_ids=_packed(changed_first_row)[0], position_ids=_packed(changed_first_row)[1],
                  use_cache=False).logits[0]
    first = len(ROWS[0])
    assert not torch.allclose(a[:first], b[:first])
    torch.testing.assert_close(a[first:], b[first:], atol=1e-6, rtol=1e-6)


def test_the_packing_check_accepts_llama(tiny_model):
    assert packing_is_exact(load_model(str(tiny_model)))


def test_token_budget_batches_cover_every_row_once_and_respect_the_budget():
    lengths = [5, 30, 12, 7, 7, 40, 3, 18]
    sampler = TokenBudgetBatchSampler(lengths, max_tokens=32, seed=1)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in b) <= 32 or len(b) == 1 for b in batches)
    sampler.set_epoch(1)
    assert len(list(sampler)) == len(batches) and sorted(map(tuple, sampler)) == sorted(map(tuple, batches))


class CaptureGradients(TrainerCallback):
    def __init__(self):
        self.grads = {}

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        self.grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


def test_gradient_accumulation_over_packed_micro_batches_equals_one_big_batch(tiny_model, tmp_path):
    """Rows of 8 and 20+ tokens: per-micro-batch means would weight them differently; per-token normalisation
    across the accumulated batch (what honed relies on the Trainer for) gives exactly the big batch's gradient."""
    data = write_jsonl(tmp_path / "rows.jsonl", [
        {"text": "Hi"}, {"text": "Where is my order? It ships in two days, thanks for contacting support."},
    ])
    grads = []
    for accum, budget in ((1, 4096), (2, 8)):  # budget 8: every row is a micro-batch of its own
        capture = CaptureGradients()
        fit({
            "model": str(tiny_model), "method": "full", "output": str(tmp_path / f"accum{accum}"),
            "data": {"train": str(data)},
            "training": {"max_steps": 1, "batch_size": 2, "grad_accum": accum, "batch_tokens": budget,
                         "packing": True, "max_grad_norm": 1e9, "warmup": 0},
        }, callbacks=[capture])
        grads.append(capture.grads)
    assert grads[0].keys() == grads[1].keys() and grads[0]
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], atol=1e-6, rtol=1e-4)


def test_prompt_learning_falls_back_to_length_grouping(tiny_model, memorise_file, tmp_path):
    summary = fit({
        "model": str(tiny_model), "method": "prompt", "output": str(tmp_path / "prompt"),
        "data": {"train": str(memorise_file)}, "training": {"max_steps": 1, "batch_size": 2},
    }).summary
    assert summary["batching"]["packing"] is False
    lora = fit({
        "model": str(tiny_model), "method": "lora", "output": str(tmp_path / "lora"),
        "data": {"train": str(memorise_file)}, "training": {"max_steps": 1, "batch_size": 2},
    }).summary
    assert lora["batching"]["packing"] is True and lora["batching"]["padding_share"] < 0.1


def test_rows_pack_into_lines_no_longer_than_the_longest_row(tiny_model):
    """honed's collator: best-fit-decreasing lines, position ids restarting per row, first tokens and padding
    unlabelled; and the logits of every row equal the row alone."""
    rows = [[5, 9, 14, 22, 31, 40, 41], [7, 8, 9], [50, 60, 70], [33, 34]]
    # Attention priced high (scale 4), so the narrowest lines win: [7], [3 + 3, 1 pad], [2, 5 pad].
    collate = PackedLinesCollator(pad_id=0, ignore_index=IGNORE_INDEX, attention_scale=4)
    batch = collate([{"input_ids": r, "labels": r} for r in rows])
    assert batch["input_ids"].shape == (3, 7)
    model = load_model(str(tiny_model)).eval()
    with torch.no_grad():
        packed = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits
        for line in range(batch["input_ids"].shape[0]):
            positions = batch["position_ids"][line].tolist()
            starts = [i for i, p in enumerate(positions) if p == 0] + [len(positions)]
            for start, end in zip(starts, starts[1:]):
                ids = batch["input_ids"][line, start:end]
                if batch["labels"][line, start:end].ne(IGNORE_INDEX).any():  # a real row, not the padding
                    alone = model(input_ids=ids[None], use_cache=False).logits[0]
                    torch.testing.assert_close(packed[line, start:end], alone, atol=1e-5, rtol=1e-5)
                    assert batch["labels"][line, start] == IGNORE_INDEX
                    assert batch["labels"][line, start + 1 : end].tolist() == ids[1:].tolist()
    real = sum(map(len, rows))
    assert batch["labels"].ne(IGNORE_INDEX).sum() == real - len(rows)


def test_best_fit_decreasing_fills_bins_without_overflow():
    lengths = [7, 3, 3, 2, 6, 1]
    bins = best_fit_decreasing(lengths, capacity=7)
    assert sorted(i for b in bins for i in b) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in b) <= 7 for b in bins) and len(bins) == 4  # 22 tokens need 4 bins of 7


def test_line_width_trades_padding_against_attention():
    lengths = [300, 40, 40, 30, 20]
    cheap_attention = PackedLinesCollator(0, IGNORE_INDEX, attention_scale=10**9).cheapest_lines(lengths)
    assert len(cheap_attention) == 1  # no padding at all when attention is nearly free
    dear_attention = PackedLinesCollator(0, IGNORE_INDEX, attention_scale=10).cheapest_lines(lengths)
    assert max(sum(lengths[i] for i in line) for line in dear_attention) == 300
