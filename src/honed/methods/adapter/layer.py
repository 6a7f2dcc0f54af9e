"""The bottleneck adapter layer: down-projection, non-linearity, up-projection, residual."""

from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "tanh": nn.Tanh}


def output_features(module: nn.Module) -> int:
    """Output width of a projection: nn.Linear's out_features, or GPT-2's Conv1D (weight is in x out)."""
    if hasattr(module, "out_features"):
        return module.out_features
    if hasattr(module, "nf"):
        return module.nf
    raise TypeError(f"cannot put an adapter after {type(module).__name__}: its output width is unknown")


class BottleneckAdapter(nn.Module):
    """Wraps a projection: y = base(x); y + scaling * up(act(down(y))).

    The up-projection starts at zero (Houlsby et al. 2019, section 2.1: near-identity initialisation), so the
    wrapped model computes exactly what the base model did until training moves it.
    """

    def __init__(self, base: nn.Module, bottleneck_size: int, non_linearity: str, dropout: float, scaling: float):
        super().__init__()
        width = output_features(base)
        self.base = base
        self.adapter_down = nn.Linear(width, bottleneck_size)
        self.adapter_act = ACTIVATIONS[non_linearity]()
        self.adapter_dropout = nn.Dropout(dropout)
        self.adapter_up = nn.Linear(bottleneck_size, width)
        self.scaling = scaling
        self.hyperparameters = {
            "bottleneck_size": bottleneck_size,
            "non_linearity": non_linearity,
            "dropout": dropout,
            "scaling": scaling,
        }
        nn.init.zeros_(self.adapter_up.weight)
        nn.init.zeros_(self.adapter_up.bias)
        weight = next(base.parameters())
        self.to(device=weight.device, dtype=weight.dtype)

    def forward(self, *args, **kwargs) -> torch.Tensor:
        hidden = self.base(*args, **kwargs)
        update = self.adapter_up(self.adapter_dropout(self.adapter_act(self.adapter_down(hidden))))
        return hidden + self.scaling * update
