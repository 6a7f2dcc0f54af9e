"""Prompt tuning: trainable soft-prompt embeddings prepended to the input; the model's weights stay frozen."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from honed.methods.base import BuildContext, Method, MethodConfig
from honed.methods.peft_common import load_peft, load_peft_trainable, save_peft
from honed.methods.registry import register
from honed.methods.virtual_tokens import init_ids, init_text


class PromptConfig(MethodConfig):
    name: Literal["prompt"] = "prompt"
    num_virtual_tokens: int = Field(20, ge=1)
    """Length of the soft prompt (the chapter's 20)."""
    init_text: str | None = None
    """Start the soft prompt as this text's token embeddings; default: the system prompt the training rows share,
    else a generic instruction. Random embeddings are far from any token the model knows."""


def _wrap(model, config: PromptConfig, context: BuildContext):
    """Initialised from text with honed's tokenizer: peft's own TEXT init re-loads the tokenizer by name, which
    fails offline."""
    import peft
    import torch

    peft_config = peft.PromptTuningConfig(task_type=peft.TaskType.CAUSAL_LM,
                                          num_virtual_tokens=config.num_virtual_tokens)
    wrapped = peft.get_peft_model(model, peft_config)
    ids = init_ids(context.tokenizer, init_text(config.init_text, context), config.num_virtual_tokens)
    embeddings = wrapped.get_input_embeddings()(torch.tensor(ids, device=model.device)).detach()
    encoder = wrapped.prompt_encoder[wrapped.active_adapter]
    encoder.embedding.weight.data.copy_(embeddings.to(encoder.embedding.weight.dtype))
    return wrapped


def _virtual_tokens(model) -> int:
    return model.peft_config[model.active_adapter].num_virtual_tokens


METHOD = register(
    Method(
        name="prompt",
        display_order=4,
        summary="Prompt tuning: learned soft-prompt embeddings before the input steer a frozen model; smallest.",
        config_cls=PromptConfig,
        default_learning_rate=9e-2,
        lr_reason="a handful of input embeddings must move the whole frozen model: the largest steps of all; 3e-2 (the "
        "old default) trailed on medical and content and led on support",
        lr_measured={
            "support": {0.01: 19.4, 0.03: 26.2, 0.09: 21.2},
            "medical": {0.01: 16.0, 0.03: 20.7, 0.09: 23.4},
            "content": {0.01: 23.1, 0.03: 25.1, 0.09: 28.8},
        },
        wrap=_wrap,
        save=save_peft,
        load=load_peft,
        load_trainable=load_peft_trainable,
        unmergeable_because="prompt tuning's soft prompt is extra input embeddings, not weights of the model",
        can_pack=False,
        starts_as_base=False,
        prepended_positions=_virtual_tokens,
    )
)
