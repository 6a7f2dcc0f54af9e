"""Insert, save and load bottleneck adapters in a peft-like layout (adapter_config.json + adapter_model.safetensors).

peft has no bottleneck adapter and cannot register a method from outside its own enum, so this is honed's own.
"""

from __future__ import annotations

import json
from pathlib import Path

from torch import nn

from honed.errors import UserError
from honed.methods.adapter.config import AdapterConfig
from honed.methods.adapter.layer import BottleneckAdapter

CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
PEFT_TYPE = "HONED_BOTTLENECK"

# Module-name suffixes of the attention and MLP output projections across common architectures
# (Llama/Mistral/Qwen, GPT-2, GPT-NeoX/Phi, OPT).
ATTENTION_OUTPUTS = ("self_attn.o_proj", "attn.c_proj", "attention.dense", "self_attn.out_proj")
MLP_OUTPUTS = ("mlp.down_proj", "mlp.c_proj", "mlp.fc2", "mlp.dense_4h_to_h", "fc2")


def target_suffixes(config: AdapterConfig) -> tuple[str, ...]:
    if config.target_modules:
        return tuple(config.target_modules)
    return {"both": ATTENTION_OUTPUTS + MLP_OUTPUTS, "attention": ATTENTION_OUTPUTS, "mlp": MLP_OUTPUTS}[
        config.placement
    ]


def matching_modules(model: nn.Module, suffixes: tuple[str, ...]) -> list[str]:
    return [
        name
        for name, module in model.named_modules()
        if any(name == s or name.endswith("." + s) for s in suffixes) and not isinstance(module, BottleneckAdapter)
    ]


def add_adapters(model: nn.Module, config: AdapterConfig) -> list[str]:
    """Freeze the model and wrap each target projection with a trainable adapter; returns the wrapped names."""
    names = matching_modules(model, target_suffixes(config))
    if not names:
        raise UserError(
            f"adapter: no module of {type(model).__name__} matches {list(target_suffixes(config))}; "
            "set method.target_modules to the names of the output projections"
        )
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        adapter = BottleneckAdapter(
            getattr(parent, child), config.bottleneck_size, config.non_linearity, config.dropout, config.scaling
        )
        setattr(parent, child, adapter)
    return names


def adapter_state_dict(model: nn.Module) -> dict:
    return {k: v.detach().contiguous() for k, v in model.state_dict().items() if ".adapter_" in k}


def save_adapters(model: nn.Module, path: Path) -> None:
    from safetensors.torch import save_file

    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, BottleneckAdapter)]
    if not layers:
        raise ValueError("the model has no bottleneck adapters to save")
    path.mkdir(parents=True, exist_ok=True)
    save_file(adapter_state_dict(model), str(path / WEIGHTS_FILE))
    config = {
        "peft_type": PEFT_TYPE,
        "base_model_name_or_path": getattr(getattr(model, "config", None), "_name_or_path", None),
        "target_modules": [name for name, _ in layers],
        **layers[0][1].hyperparameters,
    }
    (path / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")


def load_adapters(base_model: nn.Module, path: Path) -> nn.Module:
    from safetensors.torch import load_file

    saved = json.loads((path / CONFIG_FILE).read_text())
    if saved.get("peft_type") != PEFT_TYPE:
        raise UserError(f"{path / CONFIG_FILE}: not a honed bottleneck adapter (peft_type={saved.get('peft_type')})")
    config = AdapterConfig(
        bottleneck_size=saved["bottleneck_size"],
        non_linearity=saved["non_linearity"],
        dropout=saved["dropout"],
        scaling=saved["scaling"],
        target_modules=saved["target_modules"],
    )
    add_adapters(base_model, config)
    weights = load_file(str(path / WEIGHTS_FILE))
    missing = set(adapter_state_dict(base_model)) - set(weights)
    if missing:
        raise UserError(f"{path / WEIGHTS_FILE}: missing adapter weights, e.g. {sorted(missing)[0]}")
    base_model.load_state_dict(weights, strict=False)
    return base_model
