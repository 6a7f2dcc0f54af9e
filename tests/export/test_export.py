"""honed export: merged weights give the adapter's logits; what cannot merge says why and exports its adapter."""

from __future__ import annotations

import json

import pytest
import torch

from honed.cli.main import main
from honed.training import fit, load_run
from tiny import MEMORISE, write_jsonl


def _run(tiny_model, tmp_path, method: str, precision: str = "auto"):
    data = write_jsonl(tmp_path / "train.jsonl", MEMORISE * 4)
    return fit({"model": str(tiny_model), "method": method, "data": {"train": str(data)},
                "training": {"max_steps": 3, "batch_size": 2, "learning_rate": 5e-2, "precision": precision},
                "output": str(tmp_path / method)})


def _logits(model, ids):
    with torch.no_grad():
        return model(input_ids=ids).logits


@pytest.mark.parametrize("method, precision", [("lora", "auto"), ("adalora", "auto"), ("ia3", "auto"), ("full", "auto"),
                                               ("lora", "bf16"), ("full", "bf16")])
def test_merged_model_loads_with_plain_transformers_and_gives_the_same_logits(tiny_model, tmp_path, method,
                                                                             precision, capsys):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run_dir = _run(tiny_model, tmp_path, method, precision).run_dir
    out = tmp_path / "merged"
    assert main(["export", str(run_dir), "--merge", str(out)]) == 0
    merged = AutoModelForCausalLM.from_pretrained(str(out)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(out))
    assert tokenizer.chat_template  # the run's chat template travels with the model
    ids = torch.tensor([tokenizer("Where is my order? It ships soon.")["input_ids"]])
    tuned = load_run(run_dir).model
    base = AutoModelForCausalLM.from_pretrained(str(tiny_model)).eval()
    expected = _logits(tuned, ids)
    assert (expected - _logits(base, ids)).abs().max() > 1e-3  # training moved the model, so the check means something
    assert (_logits(merged, ids) - expected).abs().max() < 1e-4
    assert not list(out.glob("*.bin")) and list(out.glob("*.safetensors"))
    assert json.loads((out / "honed_export.json").read_text())["merged"] is True


@pytest.mark.parametrize("method", ["prefix", "prompt", "adapter"])
def test_what_cannot_merge_explains_and_exports_its_adapter(tiny_model, tmp_path, method, capsys):
    run_dir = _run(tiny_model, tmp_path, method).run_dir
    out = tmp_path / "exported"
    assert main(["export", str(run_dir), "--merge", str(out)]) == 0
    note = capsys.readouterr().out
    assert "not merged" in note
    info = json.loads((out / "honed_export.json").read_text())
    assert info["merged"] is False and (out / "tokenizer").is_dir()
    if method != "adapter":
        from peft import PeftModel
        from transformers import AutoModelForCausalLM

        PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(tiny_model)), str(out))


def test_adapter_only_copies_peft_format_and_refuses_to_overwrite(tiny_model, tmp_path, capsys):
    run_dir = _run(tiny_model, tmp_path, "lora").run_dir
    out = tmp_path / "adapter"
    assert main(["export", str(run_dir), "--adapter-only", str(out)]) == 0
    assert (out / "adapter_model.safetensors").is_file() and (out / "adapter_config.json").is_file()
    assert main(["export", str(run_dir), "--adapter-only", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["export", str(run_dir), "--adapter-only", str(out), "--overwrite"]) == 0
