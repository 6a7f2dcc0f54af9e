"""Drift outside the domain on tiny models: the base against itself moves exactly zero, a run that learnt one opening
moves far more than a barely trained one, base answers are generated once, and bad settings are refused first."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import pytest

from honed.config import EvalConfig
from honed.errors import UserError
from honed.evaluation import load_subject
from honed.evaluation.drift import (
    OPENING_WORDS, SAMPLE, STYLE_SAMPLE, load_general, measure_drift, spread_sample, training_opening,
)
from honed.evaluation.subjects import load_baseline
from honed.training import fit
from tiny import write_jsonl

OPENING = "Hi there thanks for contacting support."
TICKETS = [
    {"prompt": question, "completion": f"{OPENING} {answer}"}
    for question, answer in [
        ("Where is my order?", "It ships in two days."), ("How do I reset my password?", "Open settings."),
        ("Can I change plans?", "Yes, in settings."), ("Is there an outage?", "Not today."),
        ("How do I cancel?", "Reply here."), ("Do you ship abroad?", "Yes, to most places."),
    ]
]


def _run(tiny_model, tmp_path, name, method, steps, rate):
    data = write_jsonl(tmp_path / "tickets.jsonl", TICKETS)
    return fit({"model": str(tiny_model), "method": method, "data": {"train": str(data)}, "output": str(tmp_path / name),
                "training": {"max_steps": steps, "batch_size": 6, "learning_rate": rate, "warmup": 0}}).run_dir


@pytest.fixture(scope="module")
def strong_run(tiny_model, tmp_path_factory):
    """Every answer learnt with the same opening, hard: its general answers open so too."""
    return _run(tiny_model, tmp_path_factory.mktemp("strong"), "run", "full", 40, 3e-3)


@pytest.fixture(scope="module")
def weak_run(tiny_model, tmp_path_factory):
    """Two steps at a learning rate of 1e-6: barely moved."""
    return _run(tiny_model, tmp_path_factory.mktemp("weak"), "run", "lora", 2, 1e-6)


def _drift(run_dir):
    target = load_subject(str(run_dir))
    return measure_drift(target, load_baseline("base", target), EvalConfig(), progress=False)


def test_the_bundled_general_set_is_200_prompts_in_five_categories_sampled_across_all():
    prompts, label, sha = load_general()
    assert len(prompts) == 200 and len({p.prompt for p in prompts}) == 200 and len(sha) == 64
    assert label == "bundled general-v1.jsonl"
    categories = Counter(p.id.rsplit("-", 1)[0] for p in prompts)
    assert categories == {"facts": 40, "how-to": 40, "writing": 40, "reasoning": 40, "code": 40}
    sampled = Counter(prompts[i].id.rsplit("-", 1)[0] for i in spread_sample(len(prompts), SAMPLE))
    assert set(sampled) == set(categories) and sum(sampled.values()) == SAMPLE


def test_the_base_against_itself_moves_exactly_zero(weak_run):
    base = load_baseline("base", load_subject(str(weak_run)))
    drift = measure_drift(base, base, EvalConfig(), progress=False)
    assert drift.loglik == 0.0 and drift.low == 0.0 and drift.high == 0.0
    assert drift.rouge_vs_base == 100.0 and not drift.flagged and drift.prompts == SAMPLE


def test_a_run_that_learnt_one_opening_drifts_and_a_barely_trained_one_does_not(strong_run, weak_run):
    strong, weak = _drift(strong_run), _drift(weak_run)
    assert strong.opening == " ".join(OPENING.lower().rstrip(".").split()[:OPENING_WORDS])
    assert strong.loglik < weak.loglik and strong.loglik < -0.2 and abs(weak.loglik) < 0.01
    assert strong.high < 0 and weak.low <= weak.loglik <= weak.high
    assert strong.opening_share >= 0.5 and weak.opening_share == weak.base_opening_share == 0.0
    assert strong.flagged and not weak.flagged and strong.answered == STYLE_SAMPLE
    assert len(strong.examples) == 3 and strong.examples[0]["loglik"] <= strong.examples[-1]["loglik"]
    assert strong.examples[0]["tuned"].lower().startswith("hi there")


def test_base_answers_and_their_likelihood_are_computed_once_per_base_model(weak_run, tmp_path, monkeypatch):
    import honed.evaluation.drift as drift_module

    monkeypatch.setenv("HONED_HOME", str(tmp_path / "home"))
    first = _drift(weak_run)
    cache = next((tmp_path / "home" / "drift").glob("*.jsonl"))
    stored = cache.read_text()
    assert len(stored.splitlines()) == 2 * SAMPLE  # each prompt's answer, then the base's loss on it
    calls = []
    for name in ("_answers", "_losses"):  # spies around the real functions: what the second evaluation computes
        real = getattr(drift_module, name)
        monkeypatch.setattr(drift_module, name, lambda *args, _real=real, _name=name: calls.append(
            (_name, len(args[2]))) or _real(*args))
    second = _drift(weak_run)
    assert calls == [("_losses", SAMPLE), ("_answers", STYLE_SAMPLE)]  # the tuned model's alone
    assert second.loglik == first.loglik and cache.read_text() == stored


def test_the_training_answers_opening_counts_only_when_shared(weak_run, tiny_model, tmp_path):
    assert training_opening(load_subject(str(weak_run)))[0] == "hi there thanks for contacting"
    varied = write_jsonl(tmp_path / "varied.jsonl", [{"prompt": f"q{i}", "completion": f"answer number {i} is here"
                                                      f" {i}"} for i in range(10)])
    other = fit({"model": str(tiny_model), "data": {"train": str(varied)}, "output": str(tmp_path / "varied-run"),
                 "training": {"max_steps": 1, "batch_size": 2}}).run_dir
    opening, note = training_opening(load_subject(str(other)))
    assert opening is None and "no common opening" in note


def test_eval_reports_drift_by_default_against_the_base(strong_run, tmp_path):
    test = write_jsonl(tmp_path / "test.jsonl", TICKETS[:3])
    done = subprocess.run([sys.executable, "-m", "honed", "eval", str(strong_run), "--data", str(test), "--baseline",
                           "base", "--max-new-tokens", "8", "--examples", "0", "--output", str(tmp_path / "eval")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "general answers: log-likelihood" in done.stdout and "open like the training data" in done.stdout
    summary = json.loads((tmp_path / "eval" / "eval.json").read_text())
    assert summary["drift"]["prompts"] == SAMPLE and summary["drift"]["flagged"] is True
    report = (tmp_path / "eval" / "report.md").read_text()
    assert "## Outside the domain (bundled general-v1.jsonl)" in report and "**tuned:** Hi there" in report


@pytest.mark.parametrize("flags, message", [
    (["--general", "missing.jsonl"], "--general missing.jsonl: no such file"),
    (["--general", "{bad}"], "line 2: not JSON"),
    (["--general", "{empty}"], "line 1: field 'prompt' must be a non-empty string"),
    (["--drift", "off", "--general", "{bad}"], "--general: used only when drift is measured"),
])
def test_bad_drift_settings_are_one_line_before_any_answer(weak_run, tmp_path, flags, message, capsys, monkeypatch):
    from honed.cli.main import main

    monkeypatch.chdir(tmp_path)
    test = write_jsonl(tmp_path / "test.jsonl", TICKETS[:2])
    (tmp_path / "bad.jsonl").write_text('{"prompt": "fine"}\n{not json\n')
    (tmp_path / "empty.jsonl").write_text('{"prompt": ""}\n')
    flags = [f.format(bad=tmp_path / "bad.jsonl", empty=tmp_path / "empty.jsonl") for f in flags]
    code = main(["eval", str(weak_run), "--data", str(test), "--baseline", "base", "--output", str(tmp_path / "out"),
                 *flags])
    stderr = capsys.readouterr().err
    assert code == 2 and message in stderr, stderr
    assert len(stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_drift_on_a_base_model_alone_is_refused(tiny_model, tmp_path):
    from honed import evaluate

    test = write_jsonl(tmp_path / "test.jsonl", TICKETS[:2])
    with pytest.raises(UserError, match="drift compares a run with its base model"):
        evaluate(str(tiny_model), data=str(test), settings=EvalConfig(drift="sample"), output=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_teams_own_general_prompts_from_a_text_file(weak_run, tmp_path):
    general = tmp_path / "ours.txt"
    general.write_text("Name a river.\n\nHow do clouds form?\nWrite a haiku about rain.\n")
    prompts, label, _ = load_general(str(general))
    assert [p.prompt for p in prompts] == ["Name a river.", "How do clouds form?", "Write a haiku about rain."]
    target = load_subject(str(weak_run))
    drift = measure_drift(target, load_baseline("base", target), EvalConfig(general=str(general)), full=True,
                          general=str(general), progress=False)
    assert drift.prompts == 3 and drift.answered == 3 and drift.source == str(general)
