"""Prefix tuning: trainable key/value vectors prepended at every layer; the model's weights stay frozen."""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import Field

from honed.methods.base import BuildContext, Method, MethodConfig
from honed.methods.peft_common import load_peft, load_peft_trainable, save_peft
from honed.methods.registry import register
from honed.methods.virtual_tokens import init_ids, init_text

log = logging.getLogger("honed")


class PrefixConfig(MethodConfig):
    name: Literal["prefix"] = "prefix"
    num_virtual_tokens: int = Field(20, ge=1)
    """Length of the learned prefix (the chapter's 20)."""
    prefix_projection: bool = False
    """Reparameterise the prefix through an MLP (the original paper's trick for stability; more parameters)."""
    encoder_hidden_size: int | None = Field(None, ge=1)
    """Hidden size of that MLP; default (peft's): the width of one layer's keys, all key/value heads. The prefix
    starts exactly as init_text's keys and values when this is at least num_virtual_tokens - 1."""
    init_text: str | None = None
    """Start the prefix as the keys and values the model computes for this text; default: the system prompt the
    training rows share, else a generic instruction. peft's random start is far from any real key or value."""


def _wrap(model, config: PrefixConfig, context: BuildContext):
    import peft

    ids = init_ids(context.tokenizer, init_text(config.init_text, context), config.num_virtual_tokens)
    target = text_prefix(model, ids)  # before wrapping: the plain model's own keys and values
    extra = {"encoder_hidden_size": config.encoder_hidden_size} if config.encoder_hidden_size else {}
    peft_config = peft.PrefixTuningConfig(
        task_type=peft.TaskType.CAUSAL_LM,
        num_virtual_tokens=config.num_virtual_tokens,
        prefix_projection=config.prefix_projection,
        **extra,
    )
    wrapped = peft.get_peft_model(model, peft_config)
    _start_from(wrapped.prompt_encoder[wrapped.active_adapter], target)
    return wrapped


def _start_from(encoder, target) -> None:
    """Makes peft's prefix encoder output `target`; a model whose layers differ in key/value shape (peft then pads
    or skips layers) keeps peft's random start, with a warning."""
    width = encoder.transform[-1].out_features if encoder.prefix_projection else encoder.embedding.weight.shape[1]
    if target.shape[1] != width:
        log.warning("prefix: this model's keys and values (%d numbers a token) do not fit peft's prefix (%d); the "
                    "prefix starts random", target.shape[1], width)
    elif encoder.prefix_projection:
        _fit_projection(encoder, target)
    else:
        encoder.embedding.weight.data.copy_(target.to(encoder.embedding.weight.dtype))


def text_prefix(model, ids: list[int]):
    """The keys and values the frozen model computes for these tokens at positions 0..P-1, laid out as peft's
    prefix rows: [P, layers x (key, value) x key/value heads x head dim]. peft's forward puts the input after the
    prefix, at positions P onward, so the rotary positions already in these keys are the ones it expects."""
    import torch

    with torch.no_grad():
        cache = model(input_ids=torch.tensor([ids], device=model.device), use_cache=True).cache
    kv = torch.stack([torch.stack([layer.keys[0], layer.values[0]]) for layer in cache.layers])  # [L, 2, H, P, D]
    return kv.permute(3, 0, 1, 2, 4).reshape(len(ids), -1).float()


def _fit_projection(encoder, target) -> None:
    """Sets the MLP's last layer so its output is `target` (least squares: exact while encoder_hidden_size + 1 >=
    num_virtual_tokens), keeping peft's random embedding and first layer as the reparameterisation to train."""
    import torch

    last = encoder.transform[-1]
    with torch.no_grad():
        hidden = encoder.transform[:-1](encoder.embedding.weight).float()
        inputs = torch.cat([hidden, torch.ones_like(hidden[:, :1])], dim=1)
        solution = torch.linalg.pinv(inputs) @ target.to(hidden.device)
        last.weight.copy_(solution[:-1].T)
        last.bias.copy_(solution[-1])


METHOD = register(
    Method(
        name="prefix",
        display_order=3,
        summary="Prefix tuning: learned key/value vectors at every layer steer a frozen model; tiny, cannot merge.",
        config_cls=PrefixConfig,
        default_learning_rate=3e-2,
        lr_reason="only a few vectors learn, so they need large steps to move the frozen model; 1e-2 (the old default) "
        "trailed on all three use cases",
        lr_measured={
            "support": {0.0033: 17.5, 0.01: 32.2, 0.03: 38.5},
            "medical": {0.0033: 14.4, 0.01: 22.4, 0.03: 46.9},
            "content": {0.0033: 23.3, 0.01: 23.8, 0.03: 34.8},
        },
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
