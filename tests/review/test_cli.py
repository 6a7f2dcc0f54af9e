"""`honed review` from the command line: sides from predictions files or runs, results and exports without a server."""

from __future__ import annotations

import csv
import io
import json

from honed.cli.main import main
from honed.review import Store, load_answers
from honed.training import fit
from tiny import MEMORISE, write_jsonl


def _predictions(path, answers):
    rows = [{"index": i, "prompt": f"Question {i}?", "reference": "It ships.", "prediction": a}
            for i, a in enumerate(answers)]
    return write_jsonl(path, rows)


def test_results_and_exports_from_predictions_files(tmp_path, capsys):
    a = _predictions(tmp_path / "a.jsonl", ["It ships.", "Soon."])
    b = _predictions(tmp_path / "b.jsonl", ["No idea.", "Maybe."])
    db = tmp_path / "r.sqlite"
    assert main(["review", str(a), str(b), "--db", str(db), "--results"]) == 0
    assert "0 ratings of 0/2 items" in capsys.readouterr().out
    store = Store(db)
    store.rate(1, "ann", "a", True, {"a_tone": 5}, None)
    store.rate(2, "ann", "tie", False, {}, "close")
    assert main(["review", str(a), str(b), "--db", str(db), "--results"]) == 0
    report = capsys.readouterr().out
    assert "a better: 1 (50.0%" in report and "ties: 1" in report and "a tone: 5.00" in report
    assert main(["review", str(a), str(b), "--db", str(db), "--export", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["item_id"], r["winner"], r["comment"]) for r in rows] == [("1", "a", ""), ("2", "tie", "close")]
    assert main(["review", str(a), str(b), "--db", str(db), "--export", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["counts"]["a"] == 1


def test_a_different_comparison_never_reuses_a_database(tmp_path, capsys):
    a = _predictions(tmp_path / "a.jsonl", ["It ships.", "Soon."])
    b = _predictions(tmp_path / "b.jsonl", ["No idea.", "Maybe."])
    c = _predictions(tmp_path / "c.jsonl", ["Other.", "Answers."])
    db = tmp_path / "r.sqlite"
    assert main(["review", str(a), str(b), "--db", str(db), "--results"]) == 0
    assert main(["review", str(a), str(c), "--db", str(db), "--results"]) == 2
    assert "different answers" in capsys.readouterr().err


def test_bad_predictions_file_names_the_line(tmp_path, capsys):
    a = tmp_path / "a.jsonl"
    a.write_text('{"prompt": "q", "prediction": "x"}\n{"prompt": "q"}\n')
    assert main(["review", str(a), str(a), "--results", "--db", str(tmp_path / "r.sqlite")]) == 2
    assert f"{a}:2: a predictions row needs" in capsys.readouterr().err


def test_run_against_base_generates_missing_predictions(tiny_model, tmp_path):
    data = write_jsonl(tmp_path / "t.jsonl", MEMORISE * 2)
    run = fit({"model": str(tiny_model), "data": {"train": str(data)}, "training": {"max_steps": 1},
               "eval": {"generation": {"max_new_tokens": 4}}, "output": str(tmp_path / "run")}).run_dir
    label_a, label_b, items = load_answers("base", str(run), str(data))
    assert label_a.startswith("base (") and label_b == "run" and len(items) == 4
    assert (run / "eval" / "predictions.jsonl").is_file()
    assert all(prompt and isinstance(answer_a, str) for prompt, _, answer_a, _ in items)
