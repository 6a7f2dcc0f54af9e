"""Shared by the benchmarks: text datasets built from the bundled support data, and loss/memory probes."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import random
import resource
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def even_texts(tokenizer, count: int, seed: int = 0, low: int = 60, high: int = 400) -> list[str]:
    """Texts whose token lengths are spread uniformly over [low, high]: lengths vary little against their mean, so
    packing saves little padding and the per-token cost of training shows."""
    rng = random.Random(seed)
    return [_text_of(tokenizer, rng, rng.randint(low, high)) for _ in range(count)]


def long_tailed_texts(tokenizer, count: int, seed: int = 0, low: int = 16, high: int = 512) -> list[str]:
    """Texts whose token lengths follow a log-normal (median ~80) clipped to [low, high], like real instruction
    data: most rows short, a few long. Built from the support answers so the text is natural."""
    rng = random.Random(seed)
    return [_text_of(tokenizer, rng, int(min(high, max(low, rng.lognormvariate(4.4, 0.8))))) for _ in range(count)]


def _text_of(tokenizer, rng: random.Random, target: int) -> str:
    ids: list[int] = []
    while len(ids) < target:
        ids += tokenizer(rng.choice(_answers()) + "\n", add_special_tokens=False)["input_ids"]
    return tokenizer.decode(ids[: target - 1])  # room for the EOS every recipe appends


@functools.cache
def _answers() -> list[str]:
    return [
        json.loads(line)["messages"][-1]["content"]
        for line in (ROOT / "examples/data/support/train.jsonl").read_text(encoding="utf-8").splitlines()
    ]


def mean_token_loss(model, tokenizer, texts: list[str]) -> float:
    """Teacher-forced loss per token over the texts, each alone with EOS: the same yardstick for every recipe (plain
    torch, so it measures any honed version's model alike)."""
    import torch

    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for text in texts:
            ids = torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]],
                               device=model.device)  # where the trainer left it (TRL moves it to the GPU)
            logits = model(input_ids=ids).logits.float()
            total += float(torch.nn.functional.cross_entropy(logits[0, :-1], ids[0, 1:], reduction="sum"))
            count += ids.shape[1] - 1
    return total / count


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextlib.contextmanager
def environment_of(revision: str | None, threads: int | None = None):
    """The environment a subprocess runs honed at `revision` in (a git worktree first on PYTHONPATH, removed
    afterwards), or this checkout when None: how the benchmarks measure "before" side by side with now."""
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    if not revision:
        yield env
        return
    prepared = Path(tempfile.gettempdir()) / f"honed-before-{revision}"
    if (prepared / "src" / "honed").is_dir():  # checked out already: train_throughput's worktree, or gpu_check.sh's
        yield dict(env, PYTHONPATH=f"{prepared}/src")  # copy on a machine the repository's .git does not reach
        return
    with tempfile.TemporaryDirectory() as tmp:
        tree = f"{tmp}/before"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", tree, revision], check=True,
                       capture_output=True)
        try:
            yield dict(env, PYTHONPATH=f"{tree}/src")
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", tree], check=False,
                           capture_output=True)
