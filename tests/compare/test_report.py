"""Table, reports and plots rendered from hand-made results: no training needed to check what a reader sees."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from honed.compare.budget import BUDGETS
from honed.compare.plots import draw_plots
from honed.compare.report import write_reports
from honed.compare.results import ContestantResult, read_result, write_result
from honed.compare.table import table
from honed.config import validate

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _run_dir(tmp_path: Path, label: str, losses: list[float]) -> str:
    run = tmp_path / label / "run"
    run.mkdir(parents=True)
    rows = [{"step": i + 1, "loss": loss} for i, loss in enumerate(losses)] + [{"step": len(losses), "eval_loss": 1}]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(run)


@pytest.fixture
def results(tmp_path) -> list[ContestantResult]:
    common = {"fingerprint": "f", "total_params": 1000}
    return [
        ContestantResult(label="base", method=None, status="ok", trainable_params=0,
                         metrics={"rougeL": 10.0, "bleu": 1.0}, **common),
        ContestantResult(label="lora", method="lora", status="ok", trainable_params=40, saved_bytes=2**20,
                         peak_rss_mb=900, train_time_s=30, tokens_per_s=100, final_train_loss=1.5,
                         initial_val_loss=2.5, final_val_loss=1.6, metrics={"rougeL": 30.0, "bleu": 9.0},
                         run_dir=_run_dir(tmp_path, "lora", [2.4, 2.0, 1.5]), learning_rate=2e-4, **common),
        ContestantResult(label="prompt", method="prompt", status="ok", trainable_params=4, saved_bytes=2**10,
                         peak_rss_mb=800, train_time_s=20, tokens_per_s=120, final_train_loss=2.2,
                         initial_val_loss=3.9, final_val_loss=2.3, metrics={"rougeL": 20.0, "bleu": 4.0},
                         run_dir=_run_dir(tmp_path, "prompt", [3.9, 3.0, 2.2]), learning_rate=3e-2, **common),
        ContestantResult(label="broken", method="lora", status="failed",
                         error="ValueError: <script>alert(1)</script> is not a layer", **common),
    ]


def test_table_has_every_column_and_marks_the_best_trained_value(results):
    headers, cells, best = table(results)
    for column in ["trainable params", "% trainable", "saved MB", "peak RAM MB", "train time s", "tokens/s",
                   "train loss", "val loss", "perplexity", "BLEU", "chrF", "ROUGE-L", "exact match"]:
        assert column in headers
    rouge = headers.index("ROUGE-L")
    assert [row[rouge] for row in cells] == ["10.00", "30.00", "20.00", "—"]
    assert [marks[rouge] for marks in best] == [False, True, False, False]  # the base row is a reference, not a contestant
    assert best[2][headers.index("train time s")] and best[2][headers.index("saved MB")]
    assert cells[0][headers.index("val loss")] == "2.500"  # LoRA starts as the base model: its initial loss is the base's
    assert cells[1][headers.index("% trainable")] == "4.000"
    assert cells[3][headers.index("status")] == "failed"


def test_reports_show_the_table_failures_and_plots(tmp_path, results):
    config = validate({"data": {"train": "t.jsonl", "test": "x.jsonl"}})
    paths = write_reports(tmp_path, results, BUDGETS["quick"], config, "examples/usecases/support.yaml")
    names = {p.name for p in paths}
    assert {"report.md", "report.html", "results.csv", "results.json", "loss_curves.png",
            "quality_vs_params.png", "time_memory.png"} <= names
    md = (tmp_path / "report.md").read_text()
    assert "| lora | ok | 40 |" in md and "**30.00**" in md
    assert "broken**: ValueError" in md and "![loss_curves](loss_curves.png)" in md
    assert "honed compare examples/usecases/support.yaml --budget quick" in md
    page = (tmp_path / "report.html").read_text()
    assert "<script>" not in page and "&lt;script&gt;" in page  # an error message is text, never markup
    assert page.count("data:image/png;base64,") == 3  # one self-contained file
    rows = list(csv.reader((tmp_path / "results.csv").open()))
    assert rows[0][0] == "technique" and rows[-1][0] == "broken" and "not a layer" in rows[-1][-1]
    assert [r["label"] for r in json.loads((tmp_path / "results.json").read_text())] == [r.label for r in results]


def test_plots_are_valid_non_empty_pngs(tmp_path, results):
    from matplotlib.image import imread

    paths = draw_plots(tmp_path, results)
    assert len(paths) == 3
    for path in paths:
        data = path.read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 5000
        pixels = imread(path)
        assert pixels.shape[0] > 200 and pixels.shape[1] > 300
        assert pixels.std() > 0.05  # something is drawn, not a blank canvas


def test_no_plots_when_nothing_trained(tmp_path, results):
    assert draw_plots(tmp_path, [results[0], results[3]]) == []


def test_result_files_round_trip_and_unreadable_ones_count_as_not_done(tmp_path, results):
    write_result(tmp_path / "lora", results[1])
    assert read_result(tmp_path / "lora") == results[1]
    assert not list((tmp_path / "lora").glob(".*partial"))
    (tmp_path / "lora" / "result.json").write_text('{"label": "lora", "status": "ok"')
    assert read_result(tmp_path / "lora") is None
    assert read_result(tmp_path / "missing") is None
