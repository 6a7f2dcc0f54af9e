"""`honed review --export preferences|kto`: the reviewers' majority per item becomes training data; the rest is
counted on stderr."""

from __future__ import annotations

import json

from honed.cli.main import main
from honed.review import Store
from honed.review.preferences import export_rows, majority
from tiny import write_jsonl

SYSTEM = {"role": "system", "content": "You are Brightwave's support assistant."}
ITEMS = [(f"Question {i}?", f"Reference {i}.", f"A answers {i}.", f"B answers {i}.") for i in range(1, 6)]
ITEMS.append(("Question 6?", "Reference 6.", "Same answer.", "Same answer."))
CONVERSATIONS = [[SYSTEM, {"role": "user", "content": prompt}] for prompt, *_ in ITEMS]
# item -> the three reviewers' choices (a/b already undone from left/right)
VOTES = {1: ["a", "a", "b"], 2: ["b", "b", "b"], 3: ["a", "b", "tie"], 4: ["tie", "tie", "a"],
         5: ["both_bad", "both_bad", "a"], 6: ["a", "a", "a"]}


def _store(tmp_path, conversations=CONVERSATIONS) -> Store:
    store = Store(tmp_path / "review.sqlite")
    store.setup("sft", "base", ITEMS, conversations)
    for item_id, choices in VOTES.items():
        for reviewer, choice in zip(("ann", "bob", "cy"), choices, strict=True):
            store.rate(item_id, reviewer, choice, True, {}, None)
    return store


def test_majority_needs_more_than_half():
    assert majority(["a", "a", "b"]) == "a"
    assert majority(["a", "b"]) is None and majority(["a", "b", "tie"]) is None
    assert majority(["both_bad"]) == "both_bad"


def test_preferences_keep_items_whose_majority_prefers_one_answer(tmp_path):
    rows, tally = export_rows(_store(tmp_path), "preferences")
    assert rows == [
        {"prompt": CONVERSATIONS[0], "chosen": [{"role": "assistant", "content": "A answers 1."}],
         "rejected": [{"role": "assistant", "content": "B answers 1."}]},
        {"prompt": CONVERSATIONS[1], "chosen": [{"role": "assistant", "content": "B answers 2."}],
         "rejected": [{"role": "assistant", "content": "A answers 2."}]},
    ]
    assert (tally.rated, tally.exported_items, tally.split, tally.ties, tally.both_bad, tally.same_answers) == \
        (6, 2, 1, 1, 1, 1)
    assert tally.line("preferences") == ("exported 2 pairs from 2 of 6 rated items; left out: 1 tie, 1 both bad, "
                                         "1 without a majority, 1 with identical answers")


def test_kto_rows_from_wins_and_both_bad(tmp_path):
    rows, tally = export_rows(_store(tmp_path), "kto")
    flat = [(row["prompt"][-1]["content"], row["completion"][0]["content"], row["label"]) for row in rows]
    assert flat == [("Question 1?", "A answers 1.", True), ("Question 1?", "B answers 1.", False),
                    ("Question 2?", "B answers 2.", True), ("Question 2?", "A answers 2.", False),
                    ("Question 5?", "A answers 5.", False), ("Question 5?", "B answers 5.", False)]
    assert (tally.exported_items, tally.rows, tally.both_bad) == (3, 6, 0)


def test_a_review_without_kept_conversations_exports_the_prompt_text(tmp_path):
    rows, _ = export_rows(_store(tmp_path, conversations=None), "preferences")
    assert rows[0] == {"prompt": "Question 1?", "chosen": "A answers 1.", "rejected": "B answers 1."}


def test_an_older_review_gets_its_conversations_when_set_up_again(tmp_path):
    _store(tmp_path, conversations=None)
    store = Store(tmp_path / "review.sqlite")
    store.setup("sft", "base", ITEMS, CONVERSATIONS)  # same comparison: ratings kept, prompts now known
    rows, _ = export_rows(store, "preferences")
    assert rows[0]["prompt"] == CONVERSATIONS[0] and len(store.ratings()) == 18


def test_cli_prints_jsonl_and_reports_what_was_left_out(tmp_path, capsys):
    rows = [{"index": i, "prompt": p, "reference": r, "prediction": answer, "messages": conv}
            for i, ((p, r, answer, _), conv) in enumerate(zip(ITEMS, CONVERSATIONS, strict=True))]
    a = write_jsonl(tmp_path / "a.jsonl", rows)
    b = write_jsonl(tmp_path / "b.jsonl", [{**row, "prediction": item[3]} for row, item in zip(rows, ITEMS)])
    db = tmp_path / "r.sqlite"
    assert main(["review", str(a), str(b), "--db", str(db), "--results"]) == 0
    store = Store(db)
    for item_id, choices in VOTES.items():
        for reviewer, choice in zip(("ann", "bob", "cy"), choices, strict=True):
            store.rate(item_id, reviewer, choice, False, {}, None)
    capsys.readouterr()
    assert main(["review", str(a), str(b), "--db", str(db), "--export", "preferences"]) == 0
    out, err = capsys.readouterr()
    exported = [json.loads(line) for line in out.splitlines()]
    assert [row["chosen"][0]["content"] for row in exported] == ["A answers 1.", "B answers 2."]
    assert exported[0]["prompt"] == CONVERSATIONS[0]
    assert err.strip() == ("exported 2 pairs from 2 of 6 rated items; left out: 1 tie, 1 both bad, 1 without a "
                           "majority, 1 with identical answers")
