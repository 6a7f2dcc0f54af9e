"""Evaluation end to end on tiny models: through the CLI, for every technique, with the same prompts as training."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from honed.data import prompt_ids
from honed.data.encoding import IGNORE_INDEX, encode_row
from honed import evaluate
from honed.generation import left_pad
from honed.methods import method_names
from honed.training import fit
from tiny import write_jsonl

ROWS = [
    {"messages": [{"role": "user", "content": "Where is my order?"}, {"role": "assistant", "content": "It ships."}]},
    {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Reset?"},
                  {"role": "assistant", "content": "Open settings."}]},
    {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hi there, thanks."}]},
]


def _train(tiny_model, data, out, method="lora", steps=2):
    return fit({
        "model": str(tiny_model), "method": method, "data": {"train": str(data)},
        "training": {"max_steps": steps, "batch_size": 2}, "output": str(out),
    })


def test_prompts_rendered_for_eval_equal_the_training_prompt(tiny_model, tmp_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model))
    for row in ROWS:
        encoded = encode_row(tokenizer, row, "completion", 512)
        first_label = next(i for i, label in enumerate(encoded.labels) if label != IGNORE_INDEX)
        assert prompt_ids(tokenizer, row["messages"]) == encoded.input_ids[:first_label]


def test_left_padding_puts_pads_first():
    ids, mask = left_pad([[5, 6, 7], [8]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1]]


@pytest.mark.parametrize("method", method_names())
def test_every_technique_run_can_be_evaluated(method, tiny_model, tmp_path):
    data = write_jsonl(tmp_path / "chat.jsonl", ROWS)
    run = _train(tiny_model, data, tmp_path / method, method).run_dir
    result = evaluate(str(run), data=str(data), settings=None)
    assert len(result.target.predictions) == len(ROWS)
    assert set(result.target.metrics) >= {"bleu", "chrf", "rougeL", "exact_match", "perplexity", "mean_words"}
    assert (run / "eval" / "eval.json").is_file()


def test_eval_cli_with_baseline_writes_outputs(tiny_model, tmp_path):
    data = write_jsonl(tmp_path / "chat.jsonl", ROWS)
    run = _train(tiny_model, data, tmp_path / "run", steps=3).run_dir
    done = subprocess.run(
        [sys.executable, "-m", "honed", "eval", str(run), "--data", str(data), "--baseline", "base",
         "--max-new-tokens", "6", "--examples", "2"],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "| metric |" in done.stdout and "delta" in done.stdout
    summary = json.loads((run / "eval" / "eval.json").read_text())
    assert summary["rows"] == 3 and len(summary["data_sha256"]) == 64
    assert set(summary["delta"]) == set(summary["metrics"])
    assert summary["settings"]["generation"]["max_new_tokens"] == 6
    assert summary["generation"].startswith("fused decoder, fp32") and summary["baseline"]["generation"]
    predictions = [json.loads(line) for line in (run / "eval" / "predictions.jsonl").read_text().splitlines()]
    assert [p["reference"] for p in predictions] == [r["messages"][-1]["content"] for r in ROWS]
    assert all("baseline_prediction" in p and "rougeL" in p["scores"] for p in predictions)
    assert (run / "eval" / "report.md").read_text().startswith("# Evaluation of")
    # every delta has its paired interval; with 3 prompts none excludes zero, so none is marked
    assert set(summary["intervals"]) == set(summary["delta"]) and summary["bootstrap"]["resamples"] == 1000
    for key, interval in summary["intervals"].items():
        assert interval["low"] <= interval["delta"] <= interval["high"], key
    assert all(p["loss"]["tokens"] > 0 and p["baseline_loss"]["nll"] > 0 for p in predictions)
    table = done.stdout.split("## ")[0]
    assert "95% interval" in table and "No significant difference on 3 prompts" in table


def test_a_delta_is_marked_only_where_its_interval_excludes_zero(tmp_path):
    """A report over a made-up result: a clear gain is ✓, a clear loss ✗, a one-prompt gain carries no mark."""
    from honed.evaluation.report import metrics_table
    from honed.evaluation.runner import EvalResult, Scored
    from honed.evaluation.significance import Interval

    result = EvalResult(tmp_path, Scored("tuned", {"rougeL": 40.0, "perplexity": 9.0, "bleu": 12.0}, [], []),
                        Scored("base", {"rougeL": 20.0, "perplexity": 7.0, "bleu": 11.5}, [], []), ["p"] * 16, [])
    result.intervals = {"rougeL": Interval(20.0, 14.0, 26.0, 0.001), "perplexity": Interval(2.0, 0.5, 3.5, 0.01),
                        "bleu": Interval(0.5, -1.0, 2.0, 0.4)}
    result.resamples = 1000
    table = metrics_table(result)
    assert "| rougeL | 20.00 | 40.00 | +20.00 ✓ | [+14.00, +26.00] |" in table
    assert "| perplexity | 7.00 | 9.00 | +2.00 ✗ |" in table  # lower is better: a significant rise is worse
    assert "| bleu | 11.50 | 12.00 | +0.50 | [-1.00, +2.00] |" in table
    assert "No significant difference on 16 prompts: bleu." in table and "tested at once" in table


def test_text_only_test_file_is_refused(tiny_model, tmp_path):
    chat = write_jsonl(tmp_path / "chat.jsonl", ROWS)
    run = _train(tiny_model, chat, tmp_path / "run").run_dir
    text = write_jsonl(tmp_path / "text.jsonl", [{"text": "just text"}])
    done = subprocess.run([sys.executable, "-m", "honed", "eval", str(run), "--data", str(text)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "text" in done.stderr and "Traceback" not in done.stderr


def test_missing_run_directory_is_a_one_line_error(tmp_path):
    done = subprocess.run([sys.executable, "-m", "honed", "eval", str(tmp_path / "no-such-run"), "--data", "x.jsonl"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "no such model folder or run directory" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_test_file_without_references_names_what_is_missing(tiny_model, tmp_path):
    chat = write_jsonl(tmp_path / "chat.jsonl", ROWS)
    run = _train(tiny_model, chat, tmp_path / "run").run_dir
    prompts_only = write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": "Where is my order?"}])
    done = subprocess.run([sys.executable, "-m", "honed", "eval", str(run), "--data", str(prompts_only)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert f"{prompts_only}:1: has 'prompt' but no 'completion'" in done.stderr


def _greedy_by_forward(model, prompt: list[int], steps: int, stop: list[int]) -> list[int]:
    """The ground truth: the model's own forward pass (the one training uses), one token at a time, no cache."""
    import torch

    sequence = torch.tensor([prompt])
    new: list[int] = []
    with torch.inference_mode():
        for _ in range(steps):
            token = int(model(input_ids=sequence, attention_mask=torch.ones_like(sequence)).logits[0, -1].argmax())
            new.append(token)
            if token in stop:
                break
            sequence = torch.cat([sequence, torch.tensor([[token]])], dim=1)
    return new


@pytest.mark.parametrize("method", method_names())
def test_batched_cached_generation_equals_the_models_own_forward(method, tiny_model, tmp_path):
    """Left padding and the KV cache change nothing. peft's own generate failed this for prompt tuning (cached: every
    token after the first garbled) and prefix tuning (cached: the prefix dropped, base-model answers; uncached: wrong
    after the first token), so honed generates for both through the base model with the learned part supplied."""
    from honed.config import GenerationConfig
    from honed.generation import generate, stop_token_ids
    from honed.training import load_run

    data = write_jsonl(tmp_path / "chat.jsonl", ROWS)
    run = load_run(_train(tiny_model, data, tmp_path / method, method, steps=3).run_dir)
    model, tokenizer = run.model, run.tokenizer
    prompts = [prompt_ids(tokenizer, row["messages"]) for row in ROWS]
    batched = generate(model, tokenizer, prompts, GenerationConfig(max_new_tokens=8, batch_size=len(prompts)))
    stop = stop_token_ids(tokenizer, model)
    for prompt, text in zip(prompts, batched, strict=True):
        expected = _greedy_by_forward(model, prompt, 8, stop)
        assert text == tokenizer.decode(expected, skip_special_tokens=True).strip()


def test_rows_without_a_reference_token_are_left_out_of_perplexity_and_counted(tiny_model, tmp_path):
    """A row whose reference is truncated away has no perplexity; scoring it 0 would read as a perfect answer."""
    from honed.config import DataConfig, EvalConfig
    from honed.evaluation import evaluate_subject, load_base_subject

    cut = {"messages": [{"role": "user", "content": "Where is my order? " * 20},
                        {"role": "assistant", "content": "It ships."}]}
    subject = load_base_subject(str(tiny_model), data=DataConfig(max_length=24))
    settings = EvalConfig(metrics=["perplexity"], generation={"max_new_tokens": 1})

    def run(rows, name):
        return evaluate_subject(subject, str(write_jsonl(tmp_path / f"{name}.jsonl", rows)), settings=settings,
                                output=tmp_path / name)

    mixed, alone, only_cut = run([ROWS[0], cut], "mixed"), run([ROWS[0]], "alone"), run([cut], "cut")
    assert "perplexity" not in mixed.target.per_example[1]
    assert mixed.target.per_example[0]["perplexity"] == alone.target.per_example[0]["perplexity"] > 1
    assert mixed.target.metrics["perplexity"] == alone.target.metrics["perplexity"]
    assert "perplexity" not in only_cut.target.metrics  # no row to measure: no perplexity, not 0
    assert json.loads((tmp_path / "mixed" / "eval.json").read_text())["perplexity_excluded_rows"] == 1
    assert json.loads((tmp_path / "alone" / "eval.json").read_text())["perplexity_excluded_rows"] == 0
    assert "Perplexity leaves out 1 of 2 rows" in (tmp_path / "mixed" / "report.md").read_text()


def test_json_answers_are_scored_field_by_field_and_by_the_runs_own_rewards(tiny_model, tmp_path):
    """The run's config names its rewards (eval.rewards); honed eval reports them, and JSON validity and field
    accuracy because every reference is a JSON object."""
    rows = [{"prompt": f"Ticket {i}", "completion": json.dumps({"category": "billing", "order_id": f"BW-00000{i}",
                                                                "summary": "a refund for a double charge"})}
            for i in range(3)]
    data = write_jsonl(tmp_path / "tickets.jsonl", rows)
    run = fit({"model": str(tiny_model), "data": {"train": str(data)}, "output": str(tmp_path / "run"),
               "training": {"max_steps": 1, "batch_size": 3},
               "eval": {"rewards": ["json_valid", {"name": "regex", "pattern": "BW-", "weight": 2}]}}).run_dir
    result = evaluate(str(run), data=str(data), settings=None)
    metrics = result.target.metrics
    assert {"reward_json_valid", "reward_regex", "json_valid", "field_accuracy", "field_category",
            "field_order_id", "summary_rougeL"} <= set(metrics)
    valid = [float(p.strip().startswith("{") and p.strip().endswith("}")) for p in result.target.predictions]
    assert metrics["reward_json_valid"] <= max(valid) and metrics["json_valid"] == 100 * metrics["reward_json_valid"]
    assert all(set(scores) >= {"reward_json_valid", "field_accuracy"} for scores in result.target.per_example)
    summary = json.loads((run / "eval" / "eval.json").read_text())
    assert summary["settings"]["rewards"][1] == {"name": "regex", "weight": 2.0, "schema": None, "pattern": "BW-",
                                                 "max_words": None}
