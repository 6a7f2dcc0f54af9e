"""Full fine-tuning: every weight trains; the run saves a whole model."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from honed.methods.base import BuildContext, Method, MethodConfig
from honed.methods.registry import register


class FullConfig(MethodConfig):
    name: Literal["full"] = "full"


def _wrap(model, config: FullConfig, context: BuildContext):
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    return model


def _save(model, path: Path) -> None:
    model.save_pretrained(str(path), safe_serialization=True)


def _load(base_model, path: Path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(path), use_safetensors=True)  # never a pickled .bin


METHOD = register(
    Method(
        name="full",
        display_order=1,
        summary="Full fine-tuning: every weight of the model trains. Most capacity, most memory; saves a whole model.",
        config_cls=FullConfig,
        default_learning_rate=5e-5,
        lr_reason="all weights move, so a small step keeps the model's general skills",
        wrap=_wrap,
        save=_save,
        load=_load,
        artifact_dir="model",
        uses_peft=False,
        standalone=True,
        trains_base_weights=True,
        unmergeable_because="full fine-tuning trains the weights themselves: its run already holds a whole model",
    )
)
