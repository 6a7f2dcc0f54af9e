"""Config of honed's bottleneck adapter (Houlsby et al. 2019; Pfeiffer et al. 2020)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from honed.methods.base import MethodConfig


class AdapterConfig(MethodConfig):
    name: Literal["adapter"] = "adapter"
    bottleneck_size: int = Field(64, ge=1)
    """Width of the bottleneck (down-projection size)."""
    placement: Literal["both", "attention", "mlp"] = "both"
    """Where adapters go: after the attention output and the MLP output ('both', Houlsby), or one of them ('mlp' is Pfeiffer's)."""
    non_linearity: Literal["relu", "gelu", "silu", "tanh"] = "relu"
    """Activation between the down- and up-projection."""
    dropout: float = Field(0.0, ge=0, lt=1)
    """Dropout inside the adapter."""
    scaling: float = Field(1.0, gt=0)
    """Multiplier of the adapter's output before the residual add."""
    target_modules: list[str] | None = None
    """Explicit module-name suffixes to put adapters after, overriding placement (e.g. ['o_proj'])."""
