"""A preference stage in honed compare: SFT and SFT+DPO planned into one table."""

from __future__ import annotations

import pytest

from honed.compare.budget import BUDGETS
from honed.compare.contestants import plan_contestants
from honed.config import validate
from honed.config.schema import PREFERENCE_LR_SCALE
from honed.errors import UserError


def _config(tmp_path, techniques, **extra):
    for name in ("train", "test"):
        (tmp_path / f"{name}.jsonl").write_text('{"prompt": "a", "completion": "b"}\n')
    (tmp_path / "prefs.jsonl").write_text('{"prompt": "a", "chosen": "b", "rejected": "c"}\n')
    raw = {"method": {"name": "lora", "r": 4},
           "data": {"train": str(tmp_path / "train.jsonl"), "test": str(tmp_path / "test.jsonl")},
           "compare": {"techniques": techniques}, **extra}
    return validate(raw)


DPO_STAGE = {"method": "lora", "label": "lora-dpo", "objective": "dpo", "start_from": "lora", "beta": 0.2}


def test_a_dpo_stage_trains_on_its_own_data_from_the_earlier_contestants_run(tmp_path):
    config = _config(tmp_path, ["lora", {**DPO_STAGE, "data": str(tmp_path / "prefs.jsonl")}])
    base, sft, dpo = plan_contestants(config, BUDGETS["quick"], tmp_path / "out")
    assert dpo.config.training.objective == "dpo" and dpo.config.training.beta == 0.2
    assert dpo.config.data.train == str(tmp_path / "prefs.jsonl") and dpo.config.data.test == config.data.test
    assert dpo.config.from_run == sft.config.output and dpo.config.method == sft.config.method  # r=4, its adapter
    assert dpo.config.training.max_steps == sft.config.training.max_steps  # the same budget
    assert dpo.effective_learning_rate() == pytest.approx(sft.effective_learning_rate() * PREFERENCE_LR_SCALE)
    assert dpo.starts_from == sft.fingerprint() and dpo.test_data == sft.test_data


def test_the_stage_is_measured_again_when_its_starting_run_changes(tmp_path):
    stage = {**DPO_STAGE, "data": str(tmp_path / "prefs.jsonl")}
    before = plan_contestants(_config(tmp_path, ["lora", stage]), BUDGETS["quick"], tmp_path / "out")[2]
    changed = _config(tmp_path, ["lora", stage], method={"name": "lora", "r": 8})
    after = plan_contestants(changed, BUDGETS["quick"], tmp_path / "out")[2]
    assert before.fingerprint() != after.fingerprint()


@pytest.mark.parametrize(("techniques", "extra", "message"), [
    (["lora", {**DPO_STAGE}], {}, "objective dpo needs `data`"),
    ([{**DPO_STAGE, "data": "p.jsonl"}, "lora"], {}, "must be the label of a contestant listed before it"),
    (["lora", {**DPO_STAGE, "method": "ia3", "data": "p.jsonl"}], {}, "give it method lora"),
    (["lora"], {"training": {"objective": "dpo"}}, "set per contestant in compare.techniques"),
    (["lora", {**DPO_STAGE, "data": "p.jsonl"}], {"training": {"packing": True}}, "lora-dpo: packing: true"),
])
def test_a_stage_that_cannot_run_as_written_is_refused(tmp_path, techniques, extra, message):
    with pytest.raises((UserError, ValueError), match=message):
        plan_contestants(_config(tmp_path, techniques, **extra), BUDGETS["quick"], tmp_path / "out")


GRPO_STAGE = {"method": "lora", "label": "lora-grpo", "objective": "grpo", "start_from": "lora"}


def test_a_grpo_stage_trains_on_the_configs_prompts_with_the_rewards_every_contestant_is_scored_by(tmp_path):
    from honed.config.schema import GRPO_LR_SCALE

    config = _config(tmp_path, ["lora", GRPO_STAGE], eval={"rewards": ["json_valid", "rougeL"]})
    base, sft, grpo = plan_contestants(config, BUDGETS["quick"], tmp_path / "out")
    assert grpo.config.training.objective == "grpo" and grpo.config.from_run == sft.config.output
    assert [spec.name for spec in grpo.config.training.rewards] == ["json_valid", "rougeL"]
    assert grpo.config.data.train == config.data.train and grpo.starts_from == sft.fingerprint()
    assert grpo.effective_learning_rate() == pytest.approx(sft.effective_learning_rate() * GRPO_LR_SCALE)
    own = _config(tmp_path, ["lora", {**GRPO_STAGE, "rewards": [{"name": "regex", "pattern": "x"}]}])
    assert [spec.name for spec in plan_contestants(own, BUDGETS["quick"], tmp_path / "out")[2]
            .config.training.rewards] == ["regex"]
    with pytest.raises(UserError, match="lora-grpo: objective grpo needs rewards"):
        plan_contestants(_config(tmp_path, ["lora", GRPO_STAGE]), BUDGETS["quick"], tmp_path / "out")


def test_reward_columns_join_the_table_when_contestants_were_scored_on_them():
    from honed.compare.results import ContestantResult
    from honed.compare.table import table

    def result(label, method, metrics):
        return ContestantResult(label=label, method=method, status="ok", fingerprint=label, metrics=metrics)

    headers, cells, best = table([result("base", None, {"rougeL": 10.0}),
                                  result("lora", "lora", {"rougeL": 30.0, "reward_json_valid": 0.5,
                                                          "json_valid": 50.0, "field_accuracy": 40.0}),
                                  result("lora-grpo", "lora", {"rougeL": 31.0, "reward_json_valid": 1.0,
                                                               "json_valid": 100.0, "field_accuracy": 55.0})])
    assert headers[-4:-2] == ["JSON valid %", "field accuracy %"] and "reward: json_valid" in headers
    column = headers.index("field accuracy %")
    assert [row[column] for row in cells] == ["—", "40.00", "55.00"] and best[2][column] and not best[1][column]
