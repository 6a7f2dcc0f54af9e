"""honed's bottleneck adapter: a real Houlsby/Pfeiffer adapter, identity at start, saved in a peft-like layout."""

from __future__ import annotations

import json

import pytest
import torch

from honed.errors import UserError
from honed.methods.adapter.config import AdapterConfig
from honed.methods.adapter.layer import BottleneckAdapter
from honed.methods.adapter.model import add_adapters, load_adapters, save_adapters
from honed.methods.adalora import fit_schedule
from honed.models import load_model


@pytest.mark.parametrize("placement, expected", [("both", 4), ("attention", 2), ("mlp", 2)])
def test_placement_wraps_attention_and_or_mlp_outputs(placement, expected, tiny_model):
    model = load_model(str(tiny_model))
    names = add_adapters(model, AdapterConfig(placement=placement, bottleneck_size=8))
    assert len(names) == expected
    if placement == "attention":
        assert all(n.endswith("self_attn.o_proj") for n in names)
    if placement == "mlp":
        assert all(n.endswith("mlp.down_proj") for n in names)


def test_adapter_starts_as_identity_and_only_it_trains(tiny_model):
    model = load_model(str(tiny_model))
    ids = torch.tensor([[3, 4, 5, 6]])
    with torch.no_grad():
        before = model(input_ids=ids).logits
    add_adapters(model, AdapterConfig(bottleneck_size=8))
    with torch.no_grad():
        after = model(input_ids=ids).logits
    torch.testing.assert_close(after, before)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(".adapter_" in n for n in trainable)
    layer = next(m for m in model.modules() if isinstance(m, BottleneckAdapter))
    assert layer.adapter_down.out_features == 8 and torch.count_nonzero(layer.adapter_up.weight) == 0


def test_save_and_load_round_trip(tiny_model, tmp_path):
    model = load_model(str(tiny_model))
    add_adapters(model, AdapterConfig(bottleneck_size=4, non_linearity="gelu", placement="mlp"))
    for p in model.parameters():
        if p.requires_grad:
            torch.nn.init.normal_(p)
    save_adapters(model, tmp_path)
    saved = json.loads((tmp_path / "adapter_config.json").read_text())
    assert saved["peft_type"] == "HONED_BOTTLENECK" and saved["non_linearity"] == "gelu"
    assert (tmp_path / "adapter_model.safetensors").is_file()
    reloaded = load_adapters(load_model(str(tiny_model)), tmp_path)
    ids = torch.tensor([[3, 4, 5]])
    with torch.no_grad():
        torch.testing.assert_close(reloaded(input_ids=ids).logits, model(input_ids=ids).logits)


def test_no_matching_module_is_a_clear_error(tiny_model):
    with pytest.raises(UserError, match="target_modules"):
        add_adapters(load_model(str(tiny_model)), AdapterConfig(target_modules=["nonexistent"]))


@pytest.mark.parametrize("tinit, tfinal, total", [(200, 1000, 20), (200, 1000, 1), (200, 1000, 1201), (0, 0, 5)])
def test_adalora_schedule_always_leaves_a_budgeting_phase(tinit, tfinal, total):
    new_tinit, new_tfinal = fit_schedule(tinit, tfinal, total)
    assert new_tinit < total - new_tfinal
    if tinit < total - tfinal:
        assert (new_tinit, new_tfinal) == (tinit, tfinal)
