"""Reward accuracy on preference pairs: DPO's implicit reward beta * (log pi - log pi_ref) of the answer tokens."""

from __future__ import annotations

import json

import pytest
import torch

import honed
from honed.errors import UserError
from honed.rundir import load_run
from honed.training import fit
from tiny import write_jsonl

PAIRS = [{"prompt": f"Where is parcel {i}?", "chosen": f"Parcel {i} ships in two days.", "rejected": "No idea."}
         for i in range(6)]


@pytest.fixture(scope="module")
def runs(tiny_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("rewards")
    pairs = write_jsonl(folder / "pairs.jsonl", PAIRS)
    sft_rows = write_jsonl(folder / "sft.jsonl", [{"prompt": p["prompt"], "completion": p["chosen"]} for p in PAIRS])
    sft = fit({"model": str(tiny_model), "data": {"train": str(sft_rows)}, "output": str(folder / "sft"),
               "training": {"max_steps": 2, "learning_rate": 5e-3}}).run_dir
    dpo = fit({"from_run": str(sft), "data": {"train": str(pairs)}, "output": str(folder / "dpo"),
               "training": {"objective": "dpo", "max_steps": 3, "batch_size": 2, "learning_rate": 2e-2,
                            "beta": 0.5}}).run_dir
    return sft, dpo, pairs


def _answer_logp(run, pair: dict, side: str) -> float:
    """Computed apart from honed's encoding: the chat template's own tokens, plain log-softmax."""
    loaded = load_run(run)
    tokenizer = loaded.tokenizer
    prompt = [{"role": "user", "content": pair["prompt"]}]
    answer = [{"role": "assistant", "content": pair[side]}]
    prompt_ids = tokenizer.apply_chat_template(prompt, tokenize=True, add_generation_prompt=True, return_dict=True)
    full_ids = tokenizer.apply_chat_template(prompt + answer, tokenize=True, return_dict=True)["input_ids"]
    start = len(prompt_ids["input_ids"])
    with torch.no_grad():
        logits = loaded.model(input_ids=torch.tensor([full_ids])).logits[0].log_softmax(-1)
    return float(sum(logits[position - 1, full_ids[position]] for position in range(start, len(full_ids))))


def test_rewards_are_beta_times_the_log_ratio_to_the_from_run(runs):
    sft, dpo, pairs = runs
    result = honed.evaluate_preferences(dpo, data=pairs)
    assert result.reference_label.endswith("sft") and result.beta == 0.5  # the run's --from run and its beta
    assert result.metrics["pairs"] == len(PAIRS)
    first = result.pairs[0]
    assert first["logps"]["chosen"] == pytest.approx(_answer_logp(dpo, PAIRS[0], "chosen"), abs=1e-4)
    assert first["logps"]["ref_rejected"] == pytest.approx(_answer_logp(sft, PAIRS[0], "rejected"), abs=1e-4)
    assert first["chosen_reward"] == pytest.approx(0.5 * (first["logps"]["chosen"] - first["logps"]["ref_chosen"]))
    margins = [pair["margin"] for pair in result.pairs]
    assert result.metrics["reward_accuracy"] == pytest.approx(100 * sum(m > 0 for m in margins) / len(margins))
    assert result.metrics["reward_margin"] == pytest.approx(sum(margins) / len(margins))
    written = json.loads((dpo / "eval-preferences" / "eval.json").read_text())
    assert written["metrics"] == pytest.approx(result.metrics)
    assert len((dpo / "eval-preferences" / "rewards.jsonl").read_text().splitlines()) == len(PAIRS)


def test_against_itself_every_reward_is_zero(runs):
    _, dpo, pairs = runs
    result = honed.evaluate_preferences(dpo, data=pairs, baseline=dpo, output=dpo / "self")
    assert result.metrics["reward_margin"] == 0.0 and result.metrics["reward_accuracy"] == 0.0


def test_generation_eval_of_preference_data_points_to_reward_accuracy(runs):
    _, dpo, pairs = runs
    with pytest.raises(UserError, match="honed.evaluate_preferences"):
        honed.evaluate(dpo, data=pairs)
