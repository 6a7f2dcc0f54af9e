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
        default_learning_rate=1.5e-4,
        lr_reason="every weight moves, so its steps are the smallest; a third of this (the chapter's and Trainer's "
        "5e-5) learned too little in the 24-step budget on all three use cases",
        lr_measured={
            "support": {1.7e-05: 33.8, 5e-05: 39.8, 0.00015: 43.2},
            "medical": {1.7e-05: 37.1, 5e-05: 51.7, 0.00015: 55.9},
            "content": {1.7e-05: 25.2, 5e-05: 37.5, 0.00015: 56.0},
        },
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
