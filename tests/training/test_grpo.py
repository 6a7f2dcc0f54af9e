"""GRPO on tiny models: answers sampled through honed's engine, scored by the reward registry, rewards rising; the
registry of objectives; and bad input refused in one line before anything is written."""

from __future__ import annotations

import json
import typing

import pytest

from honed.config.schema import TrainingConfig
from honed.errors import UserError
from honed.training import fit
from honed.training.objectives import OBJECTIVES, get_objective
from tiny import write_jsonl

PROMPTS = [{"prompt": f"Say yes to ticket {i}.", "completion": "yes"} for i in range(8)]
# Every answer has a vowel; short ones lose nothing to the length penalty: groups differ, so there is a signal.
REWARDS = [{"name": "regex", "pattern": "[aeiou]"}, {"name": "length", "max_words": 1}]


def _grpo(tiny_model, data, out, **training):
    return fit({"model": str(tiny_model), "method": "lora", "data": {"train": str(data)}, "output": str(out),
                "training": {"objective": "grpo", "rewards": REWARDS, "max_steps": 3, "batch_size": 2,
                             "generations": 4, "completion_tokens": 8, "logging_steps": 1, "learning_rate": 1e-2,
                             "warmup": 0, **training}})


def test_every_objective_the_config_offers_is_in_the_registry():
    offered = typing.get_args(TrainingConfig.model_fields["objective"].annotation)
    assert set(offered) == set(OBJECTIVES)
    assert [get_objective(name).name for name in OBJECTIVES] == list(OBJECTIVES)


def test_grpo_samples_through_honeds_engine_and_its_rewards_rise(tiny_model, tmp_path):
    data = write_jsonl(tmp_path / "prompts.jsonl", PROMPTS)
    trained = _grpo(tiny_model, data, tmp_path / "run")
    steps = [json.loads(line) for line in (trained.run_dir / "metrics.jsonl").read_text().splitlines()]
    logged = [step for step in steps if "reward" in step]
    assert len(logged) == 3 and logged[-1]["reward"] > logged[0]["reward"]
    assert all("rewards/regex/mean" in step and "rewards/length/mean" in step for step in logged)
    assert trained.summary["real_tokens"] > 0  # counted by honed's rollout: the engine answered, not TRL's generate
    assert trained.summary["objective"] == "grpo" and trained.summary["generations"] == 4
    assert [r["name"] for r in trained.summary["rewards"]] == ["regex", "length"]
    samples = [json.loads(line) for line in (trained.run_dir / "completions.jsonl").read_text().splitlines()]
    assert {s["reward"] for s in samples} == {"regex", "length"} and all("completion" in s for s in samples)
    assert (trained.run_dir / "adapter" / "adapter_model.safetensors").is_file()


@pytest.mark.parametrize("rows, training, message", [
    ([{"text": "just text"}], {}, "objective grpo needs prompts to answer"),
    (PROMPTS, {"rewards": ["json_vaild"]}, "reward 'json_vaild' does not exist (did you mean 'json_valid'?)"),
    (PROMPTS, {"rewards": ["python: no_such_module:fn"]}, "cannot import no_such_module"),
    (PROMPTS, {"rewards": [{"name": "json_schema", "schema": "{schema}"}]}, "not a valid JSON Schema"),
])
def test_bad_grpo_input_is_one_line_and_nothing_is_written(tiny_model, tmp_path, rows, training, message):
    data = write_jsonl(tmp_path / "rows.jsonl", rows)
    schema = tmp_path / "schema.json"
    schema.write_text('{"type": 12}')
    if "rewards" in training:
        training["rewards"] = [{**r, "schema": str(schema)} if isinstance(r, dict) else r for r in training["rewards"]]
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        _grpo(tiny_model, data, tmp_path / "run", **training)
    assert not (tmp_path / "run").exists()


def test_grpo_keys_are_refused_by_other_objectives_and_grpo_needs_a_reward():
    from honed.config import load_config

    with pytest.raises(UserError, match="generations: used by objective grpo only"):
        load_config(values={"training": {"generations": 8}})
    with pytest.raises(UserError, match="objective grpo needs at least one reward"):
        load_config(values={"training": {"objective": "grpo"}})


def _rewards(run) -> list[tuple[int, float, float]]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [(row["step"], row["reward"], row["loss"]) for row in rows if "reward" in row]


def test_sigkill_then_resume_of_a_grpo_run_equals_the_uninterrupted_run(tiny_model, tmp_path):
    """4 steps an epoch (8 prompts, 2 a step), killed after step 5 with the last checkpoint at step 4, resumed
    over the epoch boundary: each step samples from its own seed and the weights it starts from, so the same
    answers, rewards, losses and weights follow."""
    from test_resume import _assert_same, _finish, _run, _start, _tensors

    from honed.training.checkpoint import list_checkpoints

    data = write_jsonl(tmp_path / "prompts.jsonl", PROMPTS)
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    config = {"model": str(tiny_model), "method": "lora", "data": {"train": str(data)}, "output": str(killed),
              "training": {"objective": "grpo", "rewards": REWARDS, "max_steps": 7, "batch_size": 2,
                           "generations": 4, "completion_tokens": 8, "logging_steps": 1, "learning_rate": 1e-2,
                           "warmup": 0, "save_steps": 2, "keep_checkpoints": 10}}
    uninterrupted = _start({**config, "output": str(reference)}, tmp_path)
    assert _run(config, tmp_path, "kill", 5).returncode == -9
    assert _finish(uninterrupted).returncode == 0
    assert [p.name for p in list_checkpoints(killed / "checkpoints")] == ["step-0000002", "step-0000004"]
    resumed = _run({**config, "training": {**config["training"], "resume": "auto"}}, tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert _rewards(killed) == _rewards(reference) and len(_rewards(reference)) == 7
    adapter = "adapter/adapter_model.safetensors"
    _assert_same(_tensors(killed / adapter), _tensors(reference / adapter))
