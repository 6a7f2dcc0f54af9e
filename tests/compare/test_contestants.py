"""Who competes and on what terms: the budget is imposed on every technique alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from honed.compare.budget import BUDGETS
from honed.compare.contestants import BASE_LABEL, plan_contestants
from honed.config import validate
from honed.errors import UserError
from honed.methods import method_names


def _config(tmp_path: Path, **extra):
    (tmp_path / "train.jsonl").write_text('{"prompt": "a", "completion": "b"}\n')
    (tmp_path / "test.jsonl").write_text('{"prompt": "c", "completion": "d"}\n')
    raw = {"data": {"train": str(tmp_path / "train.jsonl"), "test": str(tmp_path / "test.jsonl")}, **extra}
    return validate(raw)


def test_default_set_is_every_registered_technique_after_the_base_model(tmp_path):
    contestants = plan_contestants(_config(tmp_path), BUDGETS["quick"], tmp_path / "out")
    labels = [c.label for c in contestants]
    assert labels[0] == BASE_LABEL and not contestants[0].trains
    assert labels[1:5] == ["full", "lora", "prefix", "prompt"]  # the chapter's order first
    assert sorted(labels[1:]) == sorted(method_names())


def test_budget_is_the_same_for_every_technique(tmp_path):
    config = _config(tmp_path, training={"warmup": 0.2})  # steps and batch come from the budget alone
    budget = BUDGETS["standard"]
    contestants = plan_contestants(config, budget, tmp_path / "out")
    for contestant in contestants[1:]:
        training = contestant.config.training
        assert (training.max_steps, training.batch_size, training.warmup) == (budget.max_steps, budget.batch_size, 0.2)
        assert contestant.eval_settings.limit == budget.eval_rows
        assert contestant.eval_settings.generation.max_new_tokens == budget.max_new_tokens
        assert contestant.config.data.val_fraction == budget.val_fraction  # none configured: the budget holds out
        assert contestant.config.data.train == config.data.train
        assert contestant.test_data == config.data.test
        assert Path(contestant.config.output) == tmp_path / "out" / contestant.label / "run"
    assert len({c.config.method.name for c in contestants[1:]}) == len(contestants) - 1


def test_the_configs_own_technique_keeps_its_settings_and_learning_rate(tmp_path):
    config = _config(tmp_path, method={"name": "lora", "r": 4}, training={"learning_rate": 1e-3})
    by_label = {c.label: c for c in plan_contestants(config, BUDGETS["quick"], tmp_path / "out")}
    assert by_label["lora"].config.method.r == 4
    assert by_label["lora"].learning_rate == 1e-3
    assert by_label["prompt"].learning_rate is None  # the technique's own default, not LoRA's rate
    assert by_label["prompt"].config.training.learning_rate is None


def test_explicit_entries_carry_their_own_settings(tmp_path):
    config = _config(tmp_path, method={"name": "lora", "r": 4}, compare={"techniques": [
        "prompt", {"method": {"name": "lora", "r": 32}, "label": "lora-r32", "learning_rate": 5e-4}]})
    contestants = plan_contestants(config, BUDGETS["quick"], tmp_path / "out")
    assert [c.label for c in contestants] == [BASE_LABEL, "prompt", "lora-r32"]
    assert contestants[2].config.method.r == 32 and contestants[2].learning_rate == 5e-4


def test_methods_filter_picks_labels_or_registered_names(tmp_path):
    config = _config(tmp_path)
    contestants = plan_contestants(config, BUDGETS["quick"], tmp_path / "out", only=["ia3", "lora"])
    assert [c.label for c in contestants] == [BASE_LABEL, "ia3", "lora"]
    with pytest.raises(UserError, match="unknown technique 'lorra'.*did you mean 'lora'"):
        plan_contestants(config, BUDGETS["quick"], tmp_path / "out", only=["lorra"])


def test_comparison_without_test_data_is_refused(tmp_path):
    config = validate({"data": {"train": "x.jsonl"}})
    with pytest.raises(UserError, match="data.test"):
        plan_contestants(config, BUDGETS["quick"], tmp_path / "out")


def test_fingerprint_follows_everything_that_shapes_a_result(tmp_path):
    config = _config(tmp_path)
    quick = {c.label: c.fingerprint() for c in plan_contestants(config, BUDGETS["quick"], tmp_path / "a")}
    again = {c.label: c.fingerprint() for c in plan_contestants(config, BUDGETS["quick"], tmp_path / "b")}
    standard = {c.label: c.fingerprint() for c in plan_contestants(config, BUDGETS["standard"], tmp_path / "a")}
    assert quick == again  # the output folder is not part of it
    assert all(quick[label] != standard[label] for label in quick)
    (tmp_path / "train.jsonl").write_text('{"prompt": "a", "completion": "changed"}\n')
    changed = {c.label: c.fingerprint() for c in plan_contestants(config, BUDGETS["quick"], tmp_path / "a")}
    assert changed["lora"] != quick["lora"]
    assert changed[BASE_LABEL] == quick[BASE_LABEL]  # the untrained base never saw the training data
