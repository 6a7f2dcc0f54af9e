"""Invalid configs are refused before any model loads: one line naming the key path and what is allowed."""

from __future__ import annotations

import pytest
import yaml

from honed.cli.main import main

# (config, the key path the error must name, a word of what is allowed or wrong)
INVALID = [
    ({"method": "lorra"}, "method", "did you mean 'lora'"),
    ({"method": {"name": "lora", "rr": 8}}, "method.rr", "did you mean 'r'"),
    ({"method": {"name": "lora", "r": 0}}, "method.r", "greater than"),
    ({"method": {"name": "lora", "r": "eight"}}, "method.r", "integer"),
    ({"method": {"name": "prefix", "num_virtual_tokens": -1}}, "method.num_virtual_tokens", "greater than"),
    ({"training": {"learning_rate": 0}}, "training.learning_rate", "greater than 0"),
    ({"training": {"learning_rate": -1e-4}}, "training.learning_rate", "greater than 0"),
    ({"training": {"batch_size": 0}}, "training.batch_size", "greater than or equal to 1"),
    ({"training": {"grad_accum": 0}}, "training.grad_accum", "greater than or equal to 1"),
    ({"training": {"epochs": 0}}, "training.epochs", "greater than 0"),
    ({"training": {"max_steps": -5}}, "training.max_steps", "greater than or equal to 1"),
    ({"training": {"warmup": 2.5}}, "training.warmup", "whole"),
    ({"training": {"scheduler": "cosine_annealing"}}, "training.scheduler", "'cosine'"),
    ({"training": {"precision": "fp8"}}, "training.precision", "'bf16'"),
    ({"training": {"optimizer": "sgd"}}, "training.optimizer", "adamw_torch"),
    ({"training": {"max_grad_norm": 0}}, "training.max_grad_norm", "greater than 0"),
    ({"training": {"packing": False, "batch_tokens": 512}}, "training", "packing is false"),
    ({"training": {"batch_tokens": 4}}, "training.batch_tokens", "greater than or equal to 8"),
    ({"training": {"resume": "/no/such/checkpoint"}}, "training.resume", "'auto'"),
    ({"training": {"deepspeed": "missing_ds_config.json"}}, "training.deepspeed", "JSON file"),
    ({"training": {"deepspeed": 1}}, "training.deepspeed", "2 or 3"),
    ({"training": {"deepspeed": 2, "fsdp": True}}, "training", "choose one"),
    ({"training": {"deepspeed": 2, "save_steps": 10}}, "training", "not supported yet"),
    ({"training": {"deepspeed": 3, "resume": "auto"}}, "training", "not supported yet"),
    ({"training": {"fsdp": {"fsdp_cpu_offload": True, "banana": 1}}}, "training.fsdp", "known:"),
    ({"training": {"fsdp": "full_shard"}}, "training.fsdp", "boolean"),
    ({"training": {"save_steps": 0}}, "training.save_steps", "greater than or equal to 1"),
    ({"training": {"keep_checkpoints": 0}}, "training.keep_checkpoints", "greater than or equal to 1"),
    ({"training": {"nonfinite": "ignore"}}, "training.nonfinite", "'abort'"),
    ({"training": {"eval_steps": 10}}, "config", "needs data.validation"),
    ({"training": {"early_stopping_metric": "eval_rougeL", "eval_steps": 5}, "data": {"val_fraction": 0.1}},
     "config", "eval.during_training"),
    ({"training": {"threads": 0}}, "training.threads", "greater than or equal to 1"),
    ({"training": "fast"}, "training", "dictionary"),
    ({"data": {"val_fraction": 1.5}}, "data.val_fraction", "less than 1"),
    ({"data": {"format": "xml"}}, "data.format", "'messages'"),
    ({"data": {"max_length": 0}}, "data.max_length", "greater than"),
    ({"data": {"train_on": "everything"}}, "data.train_on", "'all'"),
    ({"eval": {"generation": {"temperature": -1}}}, "eval.generation.temperature", "greater than or equal to 0"),
    ({"eval": {"generation": {"top_p": 1.5}}}, "eval.generation.top_p", "less than or equal to 1"),
    ({"eval": {"metrics": ["bleu", "meteor"]}}, "eval.metrics.1", "'rouge'"),
    ({"compare": {"budget": "huge"}}, "compare.budget", "'quick'"),
    ({"compare": {"techniques": ["lora", "lora"]}}, "compare", "label"),
    ({"compare": {"techniques": [{"method": "lora", "label": "has space"}]}}, "compare.techniques.0.label", "pattern"),
    ({"trainig": {"epochs": 2}}, "trainig", "did you mean 'training'"),
    ({"trust_remote_code": "yes please"}, "trust_remote_code", "boolean"),
]


@pytest.mark.parametrize(("raw", "key", "hint"), INVALID, ids=[case[1] + f"-{i}" for i, case in enumerate(INVALID)])
def test_invalid_config_is_refused_before_loading_anything(raw, key, hint, tmp_path, capsys, tiny_model):
    data = tmp_path / "train.jsonl"
    data.write_text('{"prompt": "a", "completion": "b"}\n')
    config = {"model": str(tiny_model), "data": {"train": str(data)}, "output": str(tmp_path / "run")}
    for section, value in raw.items():
        if isinstance(value, dict) and isinstance(config.get(section), dict):
            config[section] = {**config[section], **value}
        else:
            config[section] = value
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["train", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {path}")
    assert f": {key}:" in err[0] or f": {key} " in err[0] or (key == "config" and hint in err[0]), err[0]
    assert hint in err[0], err[0]
    assert not (tmp_path / "run").exists()


def test_there_are_at_least_thirty_cases():
    assert len(INVALID) >= 30
