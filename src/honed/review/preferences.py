"""Training data from a review: what reviewers preferred becomes DPO pairs or KTO rows.

Each item's verdict is the choice more than half of its reviewers made. Only a clear verdict is exported: an item
whose reviewers split has none, and a tie says neither answer is better. For DPO a "both bad" verdict has no
preferred answer either; for KTO it gives two undesirable rows, a win one desirable and one undesirable row. What
was left out is counted, for the one line the command prints on stderr.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from honed.review.store import Item, Store

EXPORTS = ("preferences", "kto")


@dataclass
class ExportTally:
    rated: int = 0  # items with at least one rating
    exported_items: int = 0
    rows: int = 0
    ties: int = 0
    both_bad: int = 0  # not exported for DPO (no preferred answer)
    split: int = 0  # no choice made by more than half of the item's reviewers
    same_answers: int = 0  # both sides gave the same text: no preference to learn

    def line(self, kind: str) -> str:
        left = [f"{count} {what}" for count, what in ((self.ties, "tie"), (self.both_bad, "both bad"),
                                                      (self.split, "without a majority"),
                                                      (self.same_answers, "with identical answers")) if count]
        return (f"exported {self.rows} {'pairs' if kind == 'preferences' else 'rows'} from {self.exported_items} of "
                f"{self.rated} rated items" + (f"; left out: {', '.join(left)}" if left else ""))


def majority(choices: list[str]) -> str | None:
    """The choice more than half of an item's reviewers made; None when they split."""
    choice, count = Counter(choices).most_common(1)[0]
    return choice if 2 * count > len(choices) else None


def export_rows(store: Store, kind: str, with_judge: bool = False) -> tuple[list[dict], ExportTally]:
    """`kind` 'preferences': {prompt, chosen, rejected}; 'kto': {prompt, completion, label}. The prompt is chat
    messages where the review kept them (then answers are assistant turns), else the prompt's text."""
    choices: dict[int, list[str]] = {}
    for rating in store.ratings(with_judge):  # a judge's verdicts only when asked: never training data by accident
        choices.setdefault(rating["item_id"], []).append(rating["choice"])
    tally, rows = ExportTally(rated=len(choices)), []
    for item_id in sorted(choices):
        made = _rows(store.item(item_id), majority(choices[item_id]), kind, tally)
        tally.exported_items += bool(made)
        rows += made
    tally.rows = len(rows)
    return rows, tally


def _rows(item: Item, verdict: str | None, kind: str, tally: ExportTally) -> list[dict]:
    if verdict is None:
        tally.split += 1
        return []
    if verdict == "tie":
        tally.ties += 1
        return []
    if verdict == "both_bad":
        if kind == "preferences":
            tally.both_bad += 1
            return []
        return [_row(item, "completion", item.answer_a, label=False), _row(item, "completion", item.answer_b, label=False)]
    better, worse = (item.answer_a, item.answer_b) if verdict == "a" else (item.answer_b, item.answer_a)
    if better == worse:
        tally.same_answers += 1
        return []
    if kind == "preferences":
        return [{**_row(item, "chosen", better), **_row(item, "rejected", worse)}]
    return [_row(item, "completion", better, label=True), _row(item, "completion", worse, label=False)]


def _row(item: Item, key: str, answer: str, **extra) -> dict:
    messages = item.prompt_messages()
    if messages is None:
        return {"prompt": item.prompt, key: answer, **extra}
    return {"prompt": messages, key: [{"role": "assistant", "content": answer}], **extra}
