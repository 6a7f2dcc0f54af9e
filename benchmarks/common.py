"""Shared by the benchmarks: a long-tailed text dataset from the bundled support data, and loss/memory probes."""

from __future__ import annotations

import json
import random
import resource
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def long_tailed_texts(tokenizer, count: int, seed: int = 0, low: int = 16, high: int = 512) -> list[str]:
    """Texts whose token lengths follow a log-normal (median ~80) clipped to [low, high], like real instruction
    data: most rows short, a few long. Built from the support answers so the text is natural."""
    rng = random.Random(seed)
    answers = [
        json.loads(line)["messages"][-1]["content"]
        for line in (ROOT / "examples/data/support/train.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    texts = []
    for _ in range(count):
        target = int(min(high, max(low, rng.lognormvariate(4.4, 0.8))))
        ids: list[int] = []
        while len(ids) < target:
            ids += tokenizer(rng.choice(answers) + "\n", add_special_tokens=False)["input_ids"]
        texts.append(tokenizer.decode(ids[: target - 1]))  # room for the EOS every recipe appends
    return texts


def mean_token_loss(model, tokenizer, texts: list[str]) -> float:
    """Teacher-forced loss per token over the texts, each alone with EOS: the same yardstick for every recipe."""
    import torch

    from honed.models.loss import token_nll

    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for text in texts:
            ids = torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]])
            nll, n = token_nll(model(input_ids=ids).logits, ids)
            total, count = total + float(nll), count + n
    return total / count


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
