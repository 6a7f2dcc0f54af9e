"""Prefix tuning: trainable key/value vectors prepended at every layer; the model's weights stay frozen."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from honed.methods.base import BuildContext, Method, MethodConfig
from honed.methods.peft_common import load_peft, load_peft_trainable, save_peft
from honed.methods.registry import register


class PrefixConfig(MethodConfig):
    name: Literal["prefix"] = "prefix"
    num_virtual_tokens: int = Field(20, ge=1)
    """Length of the learned prefix (the chapter's 20)."""
    prefix_projection: bool = False
    """Reparameterise the prefix through an MLP (the original paper's trick for stability; more parameters)."""
    encoder_hidden_size: int | None = Field(None, ge=1)
    """Hidden size of that MLP; defaults to the model's hidden size."""


def _wrap(model, config: PrefixConfig, context: BuildContext):
    import peft

    extra = {"encoder_hidden_size": config.encoder_hidden_size} if config.encoder_hidden_size else {}
    peft_config = peft.PrefixTuningConfig(
        task_type=peft.TaskType.CAUSAL_LM,
        num_virtual_tokens=config.num_virtual_tokens,
        prefix_projection=config.prefix_projection,
        **extra,
    )
    return peft.get_peft_model(model, peft_config)


METHOD = register(
    Method(
        name="prefix",
        display_order=3,
        summary="Prefix tuning: learned key/value vectors at every layer steer a frozen model; tiny, cannot merge.",
        config_cls=PrefixConfig,
        default_learning_rate=1e-2,
        lr_reason="only a few vectors learn, so they need large steps to move the frozen model",
        wrap=_wrap,
        save=save_peft,
        load=load_peft,
        load_trainable=load_peft_trainable,
        unmergeable_because="prefix tuning's learned keys and values are extra attention inputs,"
        " not weights of the model",
        can_pack=False,
        starts_as_base=False,
    )
)
