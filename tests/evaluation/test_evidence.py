"""The evidence on the default model (slow): the demo's gain over its base is significant on every headline metric
and it drifts outside its domain where a barely trained run does not; two demo runs that differ only in their seed
are not told apart."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from honed.cli.main import main
from honed.metrics import HEADLINE_SCORES, score

ROOT = Path(__file__).resolve().parents[2]
DEMO_EVAL = ["--limit", "16", "--max-new-tokens", "64", "--examples", "0"]  # what make demo evaluates


def _eval(target: Path, baseline: str, out: Path) -> tuple[dict, str]:
    assert main(["eval", str(target), "--baseline", baseline, *DEMO_EVAL, "--output", str(out)]) == 0
    return json.loads((out / "eval.json").read_text()), (out / "report.md").read_text()


@pytest.mark.slow
def test_the_demos_gain_over_its_base_is_significant_on_every_headline_metric_and_it_drifts(demo_run, tmp_path):
    summary, report = _eval(demo_run, "base", tmp_path / "eval")
    assert summary["bootstrap"]["prompts"] == 16
    for key in HEADLINE_SCORES:
        interval = summary["intervals"][key]
        better = interval["low"] > 0 if score(key).higher_is_better else interval["high"] < 0
        assert better, (key, interval)
        assert f"| {key} |" in report and f"{interval['delta']:+.2f} ✓ |" in report
    _the_demo_drifts_outside_its_domain_and_a_barely_trained_run_does_not(summary["drift"], report, tmp_path)


def _the_demo_drifts_outside_its_domain_and_a_barely_trained_run_does_not(demo: dict, report: str, tmp_path):
    """Measured by default against the base, the demo opens general answers as support tickets; a run of 2 steps at
    1e-6 leaves the base's answers as likely; the base against itself moves exactly zero. (In the test above, so
    the demo's evaluation is not run twice.)"""
    from honed import load_config
    from honed.config import EvalConfig
    from honed.evaluation import load_subject
    from honed.evaluation.drift import FLAG_LOGLIK, measure_drift
    from honed.evaluation.subjects import load_baseline
    from honed.training import fit

    assert "## Outside the domain (bundled general-v1.jsonl)" in report
    barely = fit(load_config(ROOT / "examples" / "support.yaml", [
        "training.max_steps=2", "training.learning_rate=1e-6", f"output={tmp_path / 'barely'}"])).run_dir
    target = load_subject(str(barely))
    base = load_baseline("base", target)
    weak = measure_drift(target, base, EvalConfig(), progress=False)
    assert demo["loglik"] < FLAG_LOGLIK < weak.loglik and demo["high"] < weak.low
    assert demo["opening"] == "hi there thanks for contacting" and demo["opening_share"] >= 0.5
    assert weak.opening_share == demo["base_opening_share"] == 0.0
    assert demo["flagged"] and not weak.flagged
    general = tmp_path / "four.txt"
    general.write_text("Name a river.\nHow do clouds form?\nWrite a haiku about rain.\nWhat is 12 times 7?\n")
    itself = measure_drift(base, base, EvalConfig(), full=True, general=str(general), progress=False)
    assert itself.loglik == 0.0 and itself.rouge_vs_base == 100.0


@pytest.mark.slow
def test_two_demo_runs_that_differ_only_in_seed_are_not_told_apart_on_rouge_l(demo_run, tmp_path):
    other = tmp_path / "seed-2"
    done = subprocess.run([sys.executable, "-m", "honed", "train", "examples/support.yaml", "--set", "training.seed=2",
                           "--output", str(other)], capture_output=True, text=True, timeout=1800, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    summary, report = _eval(other, str(demo_run), tmp_path / "eval")
    rouge_l = summary["intervals"]["rougeL"]
    assert rouge_l["low"] <= 0 <= rouge_l["high"] and summary["delta"]["rougeL"] != 0  # different answers, same skill
    assert f"| rougeL | {summary['baseline']['metrics']['rougeL']:.2f} | {summary['metrics']['rougeL']:.2f} | " \
           f"{rouge_l['delta']:+.2f} |" in report
    assert "No significant difference on 16 prompts:" in report and "rougeL" in report.split("No significant")[1]
