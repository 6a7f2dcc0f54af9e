"""honed compare end to end on a tiny model: two techniques, one made to fail, re-runs that skip finished work."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from honed.compare import compare
from honed.config import load_config
from honed.errors import UserError
from honed.methods import get_method
from tiny import write_jsonl

ROWS = [{"prompt": f"Where is order {i}?", "completion": f"Order {i} ships in {i % 4 + 1} days."} for i in range(24)]


@pytest.fixture
def recipe(tmp_path, tiny_model) -> Path:
    write_jsonl(tmp_path / "train.jsonl", ROWS[:20])
    write_jsonl(tmp_path / "test.jsonl", ROWS[20:])
    path = tmp_path / "recipe.yaml"
    path.write_text(f"""model: {tiny_model}
data: {{train: train.jsonl, test: test.jsonl}}
compare:
  budget: quick
  techniques:
    - lora
    - prompt
    - {{method: {{name: lora, target_modules: [no_such_layer]}}, label: impossible}}
""")
    return path


def _mtime(path: Path) -> int:
    return path.stat().st_mtime_ns


def test_compare_measures_each_technique_and_reports_a_failure_without_sinking_the_others(recipe, tmp_path):
    out = tmp_path / "cmp"
    comparison = compare(load_config(recipe), out, source=str(recipe))
    by_label = {r.label: r for r in comparison.results}
    assert list(by_label) == ["base", "lora", "prompt", "impossible"]
    assert by_label["impossible"].status == "failed"
    assert "no_such_layer" in by_label["impossible"].error
    for label in ("base", "lora", "prompt"):
        assert by_label[label].ok, by_label[label].error
        assert {"rougeL", "bleu", "chrf", "exact_match", "perplexity"} <= set(by_label[label].metrics)
    lora, prompt = by_label["lora"], by_label["prompt"]
    assert lora.steps == prompt.steps == 10  # the quick budget, for both
    assert 0 < prompt.trainable_params < lora.trainable_params < lora.total_params
    assert lora.saved_bytes > prompt.saved_bytes > 0
    assert lora.peak_rss_mb > 100 and lora.train_time_s > 0 and lora.tokens_per_s > 0
    assert lora.learning_rate == get_method("lora").default_learning_rate  # each technique's own default
    assert prompt.learning_rate == get_method("prompt").default_learning_rate
    assert (out / "lora" / "run" / "adapter").is_dir() and (out / "lora" / "run" / "eval" / "eval.json").is_file()
    predictions = (out / "base" / "eval" / "predictions.jsonl").read_text().splitlines()
    assert len(predictions) == 4
    for name in ("report.md", "report.html", "loss_curves.png", "quality_vs_params.png", "time_memory.png"):
        assert (out / name).stat().st_size > 0
    assert "impossible**: NoMatchingPeftModuleError" in (out / "report.md").read_text()
    # each technique's paired intervals against the base and against the best technique, in results.json and the table
    rows = {row["label"]: row for row in json.loads((out / "results.json").read_text())}
    best = max(("lora", "prompt"), key=lambda label: rows[label]["metrics"]["rougeL"])
    other = "prompt" if best == "lora" else "lora"
    for label in ("lora", "prompt"):
        interval = rows[label]["vs_base"]["rougeL"]
        assert interval["low"] <= interval["delta"] <= interval["high"]
        assert interval["delta"] == pytest.approx(rows[label]["metrics"]["rougeL"] - rows["base"]["metrics"]["rougeL"])
        assert set(rows[label]["vs_base"]) == {"bleu", "chrf", "rougeL", "perplexity"}
        low, high = rows[label]["own_interval"]
        assert low <= rows[label]["metrics"]["rougeL"] <= high
    assert rows[best]["vs_best"] == {} and set(rows[other]["vs_best"]) == {"bleu", "chrf", "rougeL", "perplexity"}
    assert rows["base"]["vs_base"] == {} and rows["impossible"]["vs_base"] == {}
    table = (out / "report.md").read_text()
    assert "ROUGE-L vs base | ROUGE-L vs best |" in table and "intervals do not make groups" in table
    line = next(row for row in table.splitlines() if row.startswith(f"| {best} |"))
    assert line.rstrip(" |").endswith("best")

    # A re-run measures only what is not done: the failure again, nothing else.
    done = {label: _mtime(out / label / "result.json") for label in ("base", "lora", "prompt")}
    again = compare(load_config(recipe), out, source=str(recipe))
    assert [r.label for r in again.results] == list(by_label)
    assert {label: _mtime(out / label / "result.json") for label in done} == done
    assert again.results[1] == lora

    # --force measures again what it is asked to.
    forced = compare(load_config(recipe), out, only=["prompt"], force=True, source=str(recipe))
    assert [r.label for r in forced.results] == ["base", "prompt"]
    report = (out / "report.md").read_text()
    assert "| lora | ok |" in report and "| prompt | ok |" in report  # the report still holds every technique
    assert _mtime(out / "prompt" / "result.json") != done["prompt"]
    assert _mtime(out / "base" / "result.json") == done["base"]


def test_a_folder_that_is_not_a_comparison_is_never_written_into(recipe, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(UserError, match="not a honed comparison"):
        compare(load_config(recipe), out, source=str(recipe))
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_cli_prints_the_table_and_the_report_paths(recipe, tmp_path, capsys):
    from honed.cli.main import main

    out = tmp_path / "cli"
    assert main(["compare", str(recipe), "--methods", "prompt", "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| prompt | ok |" in printed and "| base | ok |" in printed
    assert str(out / "report.html") in printed
    assert json.loads((out / "compare.json").read_text())["budget"]["name"] == "quick"


def test_cli_refuses_an_unknown_technique_in_one_line(recipe, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "honed", "compare", str(recipe), "--methods", "lorra", "--output", str(tmp_path / "x")],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: --methods: unknown technique 'lorra' (did you mean 'lora'?); valid: lora, prompt, impossible, "
        "full, prefix, adapter, adalora, ia3"  # the config's own entries, then the rest in the registry's order
    ]
    assert not (tmp_path / "x").exists()


def test_the_configs_output_is_the_comparison_folder(recipe, tmp_path):
    """`output:` in the config is honoured as `--output` is (the flag wins when both are given), never ignored."""
    config = recipe.read_text() + "output: chosen\n"
    recipe.write_text(config)
    result = subprocess.run([sys.executable, "-m", "honed", "compare", str(recipe), "--methods", "base"],
                            capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "chosen" / "compare.json").is_file() and (tmp_path / "chosen" / "report.md").is_file()
    assert not (tmp_path / "runs").exists()

    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("keep me")
    recipe.write_text(config.replace("output: chosen", f"output: {taken}"))
    result = subprocess.run([sys.executable, "-m", "honed", "compare", str(recipe), "--methods", "base"],
                            capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 2 and f"{taken}: folder exists and is not a honed comparison" in result.stderr
    assert [p.name for p in taken.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("setting, key", [
    ("training: {epochs: 2}", "training.epochs"),
    ("training: {max_steps: 50}", "training.max_steps"),
    ("training: {early_stopping_patience: 5}", "training.early_stopping_patience"),
    ("eval: {limit: 3}", "eval.limit"),
])
def test_keys_the_budget_decides_are_refused_not_silently_overridden(recipe, tmp_path, setting, key):
    recipe.write_text(recipe.read_text() + setting + "\n")
    result = subprocess.run([sys.executable, "-m", "honed", "compare", str(recipe), "--output", str(tmp_path / "x")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    line, = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {key}: honed compare sets this from the budget") and "--budget" in line
    assert not (tmp_path / "x").exists()


def test_drift_settings_are_refused_by_compare_which_does_not_measure_drift(recipe, tmp_path):
    from honed.compare.contestants import refuse_what_compare_decides

    recipe.write_text(recipe.read_text() + "eval: {drift: full}\n")
    with pytest.raises(UserError, match="eval.drift: honed compare does not measure drift"):
        refuse_what_compare_decides(load_config(recipe))


def test_the_use_case_configs_compare_as_they_are():
    for case in ("support", "medical", "content", "triage"):
        config = load_config(Path(__file__).parents[2] / "examples" / "usecases" / f"{case}.yaml")
        from honed.compare.contestants import refuse_what_compare_decides

        refuse_what_compare_decides(config)
