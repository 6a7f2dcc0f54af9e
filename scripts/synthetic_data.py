"""Helpers shared by the synthetic dataset generators in this folder.

make_support_data.py, make_medical_data.py and make_content_data.py each
define their own topics, templates and house style. This module holds what
must work the same way in all three: the chat-row shape, how rows are spread
over topics, how one template per topic is held out for the test split and
filled with fresh questions, and how the splits are written.

The scripts are run as files (`python scripts/make_X_data.py`), which puts
this folder on sys.path, so they import it as `synthetic_data`. It is stdlib
only, like the scripts.

Every dataset's bytes depend on the order of the random draws made here:
changing that order changes all three datasets, so regenerate them and
review the diff.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable
from pathlib import Path

# Draws per row before a topic is declared exhausted.
TRIES = 200


def chat_row(system: str, user: str, assistant: str) -> dict:
    return {"messages": [
        {"role": "system", "content": system},
        {"role": "user", "content": user},
        {"role": "assistant", "content": assistant},
    ]}


def split_counts(total: int, n_groups: int) -> list[int]:
    base, extra = divmod(total, n_groups)
    return [base + (1 if i < extra else 0) for i in range(n_groups)]


def add_tone(rng: random.Random, question: str, prefixes: list[str], suffixes: list[str]) -> str:
    """Sometimes prepend a prefix or append a suffix, so one template reads a little differently."""
    roll = rng.random()
    if roll < 0.15:
        question = rng.choice(prefixes) + question
    elif roll < 0.30:
        question = question + rng.choice(suffixes)
    return question


def generate_splits(
    rng: random.Random,
    groups: list[dict],
    n_train: int,
    n_test: int,
    *,
    system: str,
    templates_key: str,
    sample: Callable[[random.Random, dict], dict],
    render: Callable[[random.Random, str, dict], str],
    answer: Callable[[dict, dict], str],
    noun: str = "question",
    prefer_fresh_train_answers: bool = False,
    check: Callable[[dict, dict, str, str], None] | None = None,
) -> tuple[list[dict], list[dict]]:
    """Build shuffled train and test rows from template groups (topics).

    Each group is a dict with a "name", its templates under templates_key,
    and whatever sample(rng, group) needs to draw slots; render(rng,
    template, slots) makes the question and answer(group, slots) the reply.
    Every question within a group is unique. Test answers prefer slot
    combinations whose answer never appeared in train; with
    prefer_fresh_train_answers, train rows prefer answers not yet used in
    train too. check(group, slots, question, answer), if given, validates
    every row.
    """
    n = len(groups)
    train_counts = split_counts(n_train, n)
    # Hand the extra test rows to the groups that got the fewest train rows.
    test_counts = split_counts(n_test, n)[::-1]

    def add_row(rows: list[dict], group: dict, template: str, seen_q: set[str],
                avoid: set[str] | frozenset[str], what: str) -> str:
        # A fresh question is required; prefer one whose answer is not in
        # avoid, else keep the last fresh question drawn.
        best = None
        for _ in range(TRIES):
            s = sample(rng, group)
            q = render(rng, template, s)
            if q in seen_q:
                continue
            a = answer(group, s)
            best = (s, q, a)
            if a not in avoid:
                break
        if best is None:
            raise RuntimeError(f"could not find a fresh {what} for {group['name']}")
        s, q, a = best
        if check is not None:
            check(group, s, q, a)
        seen_q.add(q)
        rows.append(chat_row(system, q, a))
        return a

    train, test = [], []
    for k, (g, n_tr, n_te) in enumerate(zip(groups, train_counts, test_counts)):
        templates = g[templates_key]
        # Hold out one template per group, rotating the index so the test
        # split mixes tones rather than always using the same style.
        held = (len(templates) - 1 - k) % len(templates)
        test_tpl = templates[held]
        train_tpls = [q for i, q in enumerate(templates) if i != held]
        seen_q: set[str] = set()
        train_answers: set[str] = set()
        # Without the preference, an empty avoid set takes the first fresh question.
        train_avoid = train_answers if prefer_fresh_train_answers else frozenset()
        for i in range(n_tr):
            tpl = train_tpls[i % len(train_tpls)]
            train_answers.add(add_row(train, g, tpl, seen_q, train_avoid, noun))
        for _ in range(n_te):
            add_row(test, g, test_tpl, seen_q, train_answers, f"test {noun}")
    rng.shuffle(train)
    rng.shuffle(test)
    return train, test


def output_dir(default: Path) -> Path:
    """The folder given as the script's only argument, else `default` (the bundled dataset's folder): a test
    regenerates each dataset elsewhere and compares it with the bundled one byte for byte."""
    if len(sys.argv) > 2:
        raise SystemExit(f"usage: {sys.argv[0]} [OUT_DIR]")
    return Path(sys.argv[1]) if len(sys.argv) == 2 else default


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def write_splits(out_dir: Path, train: list[dict], test: list[dict], n_train: int, n_test: int) -> None:
    assert len(train) == n_train and len(test) == n_test
    write_jsonl(out_dir / "train.jsonl", train)
    write_jsonl(out_dir / "test.jsonl", test)
    print(f"train: {len(train)} rows -> {out_dir / 'train.jsonl'}")
    print(f"test:  {len(test)} rows -> {out_dir / 'test.jsonl'}")
