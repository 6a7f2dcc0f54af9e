"""Prompt tuning: trainable soft-prompt embeddings prepended to the input; the model's weights stay frozen."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from honed.methods.base import BuildContext, Method, MethodConfig
from honed.methods.peft_common import load_peft, load_peft_trainable, save_peft
from honed.methods.registry import register


class PromptConfig(MethodConfig):
    name: Literal["prompt"] = "prompt"
    num_virtual_tokens: int = Field(20, ge=1)
    """Length of the soft prompt (the chapter's 20)."""
    init_text: str | None = None
    """Start the soft prompt from this text's embeddings instead of random ones (often trains faster)."""


def _wrap(model, config: PromptConfig, context: BuildContext):
    import peft

    extra = {}
    if config.init_text:
        extra = {
            "prompt_tuning_init": peft.PromptTuningInit.TEXT,
            "prompt_tuning_init_text": config.init_text,
            "tokenizer_name_or_path": getattr(context.tokenizer, "name_or_path", None),
        }
    peft_config = peft.PromptTuningConfig(
        task_type=peft.TaskType.CAUSAL_LM, num_virtual_tokens=config.num_virtual_tokens, **extra
    )
    if config.init_text:
        # peft loads the tokenizer by name to embed init_text; hand it ours so no hub lookup happens.
        return _with_text_init(model, peft_config, context.tokenizer, config)
    return peft.get_peft_model(model, peft_config)


def _with_text_init(model, peft_config, tokenizer, config: PromptConfig):
    """Initialise from text with our own tokenizer (peft would re-load it by name, which fails offline)."""
    import peft
    import torch

    peft_config.prompt_tuning_init = peft.PromptTuningInit.RANDOM
    wrapped = peft.get_peft_model(model, peft_config)
    ids = tokenizer(config.init_text, add_special_tokens=False)["input_ids"]
    ids = (ids * (config.num_virtual_tokens // max(len(ids), 1) + 1))[: config.num_virtual_tokens]
    embeddings = wrapped.get_input_embeddings()(torch.tensor(ids)).detach().clone()
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
        default_learning_rate=3e-2,
        lr_reason="a handful of input embeddings must move the whole frozen model: the largest steps of all",
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
