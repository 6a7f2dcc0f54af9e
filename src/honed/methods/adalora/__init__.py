"""AdaLoRA: LoRA whose rank budget is re-allocated during training by importance (peft's AdaLoraConfig).

The chapter calls this "adapters"; it is not a bottleneck adapter (see `honed.methods.adapter` for that).
Two things the chapter's recipe misses, handled here: `total_step` must be known up front (computed from the
run), and `update_and_allocate` must be called after every optimizer step (the Trainer does not do it).
"""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import Field

from honed.methods.base import BuildContext, Method, MethodConfig
from honed.methods.peft_common import load_peft, save_peft, target_modules_arg
from honed.methods.registry import register

log = logging.getLogger("honed")

# Share of a short run given to the warm-up and final phases when tinit/tfinal must shrink; the rest is the
# budgeting phase in which ranks are pruned.
_SCALED_SCHEDULE_SHARE = 0.7


class AdaLoraConfig(MethodConfig):
    name: Literal["adalora"] = "adalora"
    target_r: int = Field(8, ge=1)
    """Average rank per layer after pruning (the chapter's 8)."""
    init_r: int = Field(12, ge=1)
    """Rank each layer starts with before pruning (the chapter's 12)."""
    alpha: float = Field(32, gt=0)
    """Scale of the update, as LoRA's alpha."""
    dropout: float = Field(0.1, ge=0, lt=1)
    """Dropout on the update branch."""
    beta1: float = Field(0.85, gt=0, lt=1)
    """EMA factor of the importance sensitivity (the chapter's 0.85)."""
    beta2: float = Field(0.85, gt=0, lt=1)
    """EMA factor of the importance uncertainty (the chapter's 0.85)."""
    tinit: int = Field(200, ge=0)
    """Warm-up steps before any pruning (the chapter's 200). Scaled down, with a warning, on shorter runs."""
    tfinal: int = Field(1000, ge=0)
    """Final steps with the rank pattern frozen (the chapter's 1000). Scaled down, with a warning, on shorter runs."""
    delta_t: int = Field(1, ge=1)
    """Re-allocate ranks every this many steps."""
    orth_reg_weight: float = Field(0.5, ge=0)
    """Weight of the orthogonality regulariser added to the loss."""
    target_modules: list[str] | None = None
    """Layers that get an update; null for peft's default per architecture."""


def fit_schedule(tinit: int, tfinal: int, total_steps: int) -> tuple[int, int]:
    """Shrink tinit/tfinal in proportion when the run is too short to leave a budgeting phase between them."""
    if tinit < total_steps - tfinal:
        return tinit, tfinal
    scale = _SCALED_SCHEDULE_SHARE * total_steps / max(tinit + tfinal, 1)
    return int(tinit * scale), int(tfinal * scale)


def _wrap(model, config: AdaLoraConfig, context: BuildContext):
    import peft

    tinit, tfinal = fit_schedule(config.tinit, config.tfinal, context.total_steps)
    if (tinit, tfinal) != (config.tinit, config.tfinal):
        log.warning(
            "adalora: the run has %d steps, too few for tinit=%d + tfinal=%d; scaled to tinit=%d, tfinal=%d "
            "so ranks are still re-allocated (raise max_steps/epochs to keep the originals)",
            context.total_steps, config.tinit, config.tfinal, tinit, tfinal,
        )
    peft_config = peft.AdaLoraConfig(
        task_type=peft.TaskType.CAUSAL_LM,
        target_r=config.target_r,
        init_r=config.init_r,
        lora_alpha=config.alpha,
        lora_dropout=config.dropout,
        beta1=config.beta1,
        beta2=config.beta2,
        tinit=tinit,
        tfinal=tfinal,
        deltaT=config.delta_t,
        orth_reg_weight=config.orth_reg_weight,
        total_step=context.total_steps,
        target_modules=target_modules_arg(config.target_modules),
    )
    from honed.methods.dropout import use_mask_dropout

    wrapped = peft.get_peft_model(model, peft_config)
    use_mask_dropout(wrapped)
    return wrapped


def _callbacks(model) -> list:
    from transformers import TrainerCallback

    class RankAllocator(TrainerCallback):
        """Calls AdaLoRA's update_and_allocate after each optimizer step, while gradients are still there. Its
        importance averages and rank pattern are training state: they go into each checkpoint, so a resumed run
        allocates ranks as the uninterrupted one does."""

        def on_optimizer_step(self, args, state, control, **kwargs):
            model.base_model.update_and_allocate(state.global_step)

        def checkpoint_state(self) -> dict:
            return allocator_state(model)

        def restore_checkpoint_state(self, saved: dict) -> None:
            restore_allocator_state(model, saved)

    return [RankAllocator()]


def allocator_state(model) -> dict:
    """peft's RankAllocator keeps exponential averages of each weight's importance (`exp_avg_ipt`) and its
    uncertainty (`exp_avg_unc`) across steps, and the config the rank pattern pruning produced; a restart from
    empty averages would prune on a few steps' evidence (or fail: the final allocation needs them)."""
    allocator = model.base_model.rankallocator
    config = model.peft_config[model.base_model.trainable_adapter_name]
    return {"ipt": dict(allocator.ipt), "exp_avg_ipt": dict(allocator.exp_avg_ipt),
            "exp_avg_unc": dict(allocator.exp_avg_unc), "rank_pattern": config.rank_pattern}


def restore_allocator_state(model, saved: dict) -> None:
    allocator = model.base_model.rankallocator
    device = next(p.device for p in model.parameters() if p.requires_grad)
    for name in ("ipt", "exp_avg_ipt", "exp_avg_unc"):
        setattr(allocator, name, {key: value.to(device) for key, value in saved[name].items()})
    model.peft_config[model.base_model.trainable_adapter_name].rank_pattern = saved["rank_pattern"]


def orthogonality_penalty(model):
    """AdaLoRA's regulariser, as peft's AdaLoraModel.forward adds it to a loss the model computes itself; honed
    computes the loss outside the model (logits at labelled positions only), so it adds the same term here. A test
    holds it equal to peft's own."""
    import torch

    adapter = model.base_model.trainable_adapter_name
    weight = model.peft_config[adapter].orth_reg_weight
    penalties = [
        torch.norm((p @ p.T if "lora_A" in name else p.T @ p) - torch.eye(p.shape[0 if "lora_A" in name else 1],
                                                                        device=p.device, dtype=p.dtype), p="fro")
        for name, p in model.base_model.model.named_parameters()
        if ("lora_A" in name or "lora_B" in name) and adapter in name
    ]
    return weight * torch.stack(penalties).mean() if penalties else 0.0


METHOD = register(
    Method(
        name="adalora",
        display_order=6,
        summary="AdaLoRA: LoRA with ranks re-allocated by importance during training (the chapter's 'adapters').",
        config_cls=AdaLoraConfig,
        default_learning_rate=2e-2,
        lr_reason="its update is a product of three factors that start at zero or near it (E = 0, A and B at std 0.02), "
        "so it needs far larger steps than LoRA; a third of this barely moves it",
        lr_measured={
            "support": {0.0067: 22.2, 0.02: 36.8, 0.06: 37.7},
            "medical": {0.0067: 16.4, 0.02: 48.7, 0.06: 44.9},
            "content": {0.0067: 28.1, 0.02: 40.1, 0.06: 39.0},
        },
        wrap=_wrap,
        save=save_peft,
        load=load_peft,
        callbacks=_callbacks,
        training_penalty=orthogonality_penalty,
    )
)
