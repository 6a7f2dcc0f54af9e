"""The loop closed end to end: `honed review` of two runs, two reviewers rating over HTTP as the page does,
`--export preferences`, a two-step DPO from the first run on what they preferred, and the result evaluates."""

from __future__ import annotations

import json
import threading

from honed.cli.main import main
from honed.review import Store, make_review_server
from honed.training import fit
from test_review_app import rating_form, request, same_origin
from tiny import write_jsonl

QUESTIONS = [
    {"prompt": "Where is my order?", "completion": "It ships in two days."},
    {"prompt": "How do I reset my password?", "completion": "Open settings and choose reset."},
    {"prompt": "Hi there, thanks for contacting support.", "completion": "Reply here if you need anything else."},
    {"prompt": "Custom sentence 1.", "completion": "Custom sentence 2."},
]


def _run(tiny_model, data, out, steps: int, learning_rate: float):
    return fit({"model": str(tiny_model), "method": {"name": "lora", "r": 4}, "data": {"train": str(data)},
                "training": {"max_steps": steps, "learning_rate": learning_rate, "warmup": 0.0, "batch_size": 4},
                "output": str(out)}).run_dir


def _rate_all(server, store: Store, reviewer: str, prefers) -> None:
    """Rate every item as the page does: read the page, post its form with the side showing the preferred answer."""
    while True:
        _, _, page = request(server, "GET", f"/review?reviewer={reviewer}")
        if "name=item_id" not in page:
            return
        form = rating_form(page, "left")
        item_id = int(form["item_id"])
        wanted = prefers(item_id)  # "a" or "b": the answer this reviewer prefers
        shown_left = "a" if store.a_on_left(item_id, reviewer) else "b"
        form["choice"] = "left" if wanted == shown_left else "right"
        assert request(server, "POST", "/rate", form, same_origin(server))[0] == 303


def test_review_ratings_train_a_dpo_run_that_evaluates(tiny_model, tmp_path, capsys):
    data = write_jsonl(tmp_path / "test.jsonl", QUESTIONS)
    first = _run(tiny_model, data, tmp_path / "memorised", steps=8, learning_rate=2e-2)
    second = _run(tiny_model, data, tmp_path / "barely", steps=1, learning_rate=1e-4)
    db = tmp_path / "review.sqlite"
    args = [str(first), str(second), "--db", str(db)]
    assert main(["review", *args, "--data", str(data), "--results"]) == 0  # sets the review up, answers generated
    store = Store(db)
    items = [store.item(i) for i in range(1, store.item_count() + 1)]
    differing = [item.id for item in items if item.answer_a != item.answer_b]
    assert len(differing) >= 2, "the two runs answered alike: no preference to learn"
    server = make_review_server(store, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        split = items[-1].id  # on the last item the reviewers disagree
        _rate_all(server, store, "ann", lambda item_id: "a")
        _rate_all(server, store, "bob", lambda item_id: "b" if item_id == split else "a")
    finally:
        server.shutdown()
        server.server_close()
    capsys.readouterr()

    assert main(["review", *args, "--export", "preferences"]) == 0
    out, err = capsys.readouterr()
    pairs = [json.loads(line) for line in out.splitlines()]
    agreed = [item for item in items if item.id != split and item.answer_a != item.answer_b]
    assert [pair["chosen"][0]["content"] for pair in pairs] == [item.answer_a for item in agreed]
    assert [pair["rejected"][0]["content"] for pair in pairs] == [item.answer_b for item in agreed]
    assert pairs[0]["prompt"] == [{"role": "user", "content": agreed[0].prompt}]  # as chat messages
    assert "without a majority" in err
    preferences = tmp_path / "preferences.jsonl"
    preferences.write_text(out)

    dpo = tmp_path / "dpo"
    assert main(["train", "--from", str(first), "--objective", "dpo", "--data", str(preferences), "--max-steps", "2",
                 "--batch-size", "2", "--output", str(dpo)]) == 0
    assert json.loads((dpo / "summary.json").read_text())["steps"] == 2
    capsys.readouterr()
    assert main(["eval", str(dpo), "--data", str(preferences)]) == 0
    assert "reward accuracy" in capsys.readouterr().out
    evaluation = json.loads((dpo / "eval-preferences" / "eval.json").read_text())
    assert evaluation["metrics"]["pairs"] == len(pairs) and evaluation["reference"].endswith("memorised")
    assert main(["eval", str(dpo), "--data", str(data), "--max-new-tokens", "4", "--examples", "0"]) == 0
    assert json.loads((dpo / "eval" / "eval.json").read_text())["rows"] == len(QUESTIONS)
