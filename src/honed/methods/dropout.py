"""Dropout with a cheaper mask, for the adapter branches of peft's LoRA-family layers.

LoRA applies dropout to each adapted layer's input, seven times per transformer layer. torch's CPU dropout draws
its mask with `bernoulli_`, one Mersenne-twister number per element: in a bf16 LoRA step of SmolLM2-135M it was 27%
of the time (3.3 ms per 1000x576 activation, measured on a 2-core Xeon with AMX). Here each 64-bit draw gives four
16-bit uniforms, so the mask costs a quarter of the draws (1.1 ms). The keep probability is 1 - p rounded to
1/65536; the RNG is torch's global generator, so seeding and checkpointed RNG state make it reproducible.
"""

from __future__ import annotations

import torch

_LEVELS = 65536


class MaskDropout(torch.nn.Module):
    def __init__(self, p: float):
        super().__init__()
        self.p = p
        self.threshold = round(p * _LEVELS) - _LEVELS // 2  # int16 uniforms at or above it are kept

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        draws = torch.empty((x.numel() + 3) // 4, dtype=torch.int64, device=x.device).random_(-(2**63), None)
        kept = draws.view(torch.int16)[: x.numel()].view(x.shape) >= self.threshold
        return (x * _as_ones(kept, x.dtype)).mul_(1 / (1 - self.p))

    def extra_repr(self) -> str:
        return f"p={self.p}"


def _as_ones(kept: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The bool mask as 0.0/1.0 in `dtype`, built from the bit pattern of 1.0 through an integer view: torch's
    bool-to-bf16 conversion took 0.25 ms for a 1001x576 mask, this 0.04 ms (measured). Multiplying by the bool mask
    directly costs a conversion as well (0.35 ms)."""
    integer = _SAME_WIDTH_INT.get(dtype)
    if integer is None:
        return kept.to(dtype)
    one = torch.ones((), dtype=dtype).view(integer).item()
    return kept.view(torch.uint8).to(integer).mul_(one).view(dtype)


_SAME_WIDTH_INT = {torch.bfloat16: torch.int16, torch.float16: torch.int16, torch.float32: torch.int32}


def use_mask_dropout(model) -> int:
    """Swap the nn.Dropout of every peft LoRA-family layer's adapter branch (its public `lora_dropout` ModuleDict)
    for MaskDropout; returns how many were swapped. Saved adapters are unaffected: dropout holds no weights."""
    swapped = 0
    for module in model.modules():
        branches = getattr(module, "lora_dropout", None)
        if not isinstance(branches, torch.nn.ModuleDict):
            continue
        for name, dropout in branches.items():
            if isinstance(dropout, torch.nn.Dropout) and dropout.p > 0:
                branches[name] = MaskDropout(dropout.p)
                swapped += 1
    return swapped
