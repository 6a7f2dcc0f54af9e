"""Which attention kernel a packed micro-batch runs with, chosen by the width of its lines.

Measured on a 2-core Xeon with AMX, LoRA on SmolLM2-135M in bf16, a full step over ~2,000 tokens of packed support
rows (benchmarks/step_costs.py, docs/performance.md): with lines 148 positions wide transformers' eager attention
ran 18% faster than its sdpa (the CPU flash kernel has a fixed cost per line and head that narrow lines do not
repay); at 256 they tied; at 512 sdpa was 8% faster, at 1024 22%, and on one 2,000-wide line eager took twice as
long (it materialises the whole score matrix). In fp32 sdpa was faster at every width, and on a GPU its fused
kernels are. So narrow bf16 lines on a CPU run eager, everything else the model's own implementation.
"""

from __future__ import annotations

from dataclasses import dataclass

EAGER_UP_TO = 256  # line width (positions) up to which eager attention is at least as fast in bf16 on a CPU


@dataclass
class AttentionByWidth:
    narrow: str  # the implementation for lines up to `up_to` positions wide
    wide: str  # the model's own, for wider lines
    up_to: int = EAGER_UP_TO

    def apply(self, model, width: int) -> None:
        """Switch the model (through transformers' public set_attn_implementation) when the width class changes."""
        wanted = self.narrow if width <= self.up_to else self.wide
        inner = _transformers_model(model)
        if inner.config._attn_implementation != wanted:
            inner.set_attn_implementation(wanted)

    def restore(self, model) -> None:
        self.apply(model, self.up_to + 1)


def plan_attention(model, precision) -> AttentionByWidth | None:
    """Eager for narrow lines only where it was measured faster: bf16 on a CPU, over a model running sdpa."""
    inner = _transformers_model(model)
    own = getattr(inner.config, "_attn_implementation", None)
    if precision.device != "cpu" or precision.name != "bf16" or own != "sdpa":
        return None
    inner.set_attn_implementation("eager")  # a model that cannot switch says so in a warning and stays as it was
    switched = inner.config._attn_implementation == "eager"
    inner.set_attn_implementation(own)
    return AttentionByWidth("eager", own) if switched else None


def _transformers_model(model):
    return model.get_base_model() if hasattr(model, "get_base_model") else model
