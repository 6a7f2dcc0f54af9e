"""Pick the training precision from what the hardware runs fast, measured rather than assumed.

`auto` trains in bf16 where it is measured faster than fp32 (CPUs with AMX or AVX512-BF16 where timing says so,
GPUs that support it), fp16 with loss scaling on GPUs without bf16, fp32 elsewhere. In half precision the frozen
weights are held in that dtype (no cast per step, half the memory) while trainable parameters and the optimizer
state stay fp32 master weights.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("honed")

_FAST_ENOUGH = 1.5  # bf16 is chosen when its matmul runs at least this many times fp32's
_SLOW = 1 / 1.5  # an explicit half precision running below this share of fp32's speed is warned about


@dataclass(frozen=True)
class Precision:
    name: str  # fp32 | bf16 | fp16: the dtype matmuls run in
    device: str  # cuda | cpu | mps
    reason: str
    gflops: dict[str, float] = field(default_factory=dict)  # measured matmul throughput per dtype (CPU)

    @property
    def half(self) -> bool:
        return self.name != "fp32"

    @property
    def dtype(self):
        import torch

        return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[self.name]

    @property
    def peak_gflops(self) -> float | None:
        """The measured matmul peak of the precision in use, the denominator of model FLOP utilisation."""
        return self.gflops.get(self.name)

    def record(self) -> dict:
        """What summary.json says about the choice."""
        return {"precision": self.name, "device": self.device, "precision_reason": self.reason,
                **({"matmul_gflops": self.gflops} if self.gflops else {})}


def detect_device() -> str:
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def choose_precision(requested: str, device: str | None = None, threads: int = 1,
                     measure: Callable[[str, int], float] | None = None) -> Precision:
    """`measure(dtype, size)` -> seconds per matmul replaces the timing, so a test can play any CPU."""
    device = device or detect_device()
    if device == "cuda":
        return _cuda_precision(requested)
    if device == "mps":
        return Precision("fp32" if requested == "auto" else requested, device, "MPS: fp32 unless asked")
    from honed.hardware import cpu_name, matmul_gflops

    gflops = matmul_gflops(threads, measure=measure)
    speedup = gflops["bf16"] / gflops["fp32"]
    where = f"{cpu_name()}, {threads} thread{'s' * (threads > 1)}"
    if requested == "auto":
        name = "bf16" if speedup >= _FAST_ENOUGH else "fp32"
        verdict = "faster" if name == "bf16" else f"not {_FAST_ENOUGH}x faster"
        reason = f"auto: bf16 matmul measured {speedup:.2f}x fp32 on this CPU ({where}), {verdict}"
        return Precision(name, device, reason, gflops)
    if requested != "fp32":
        ratio = gflops[requested] / gflops["fp32"]
        if ratio < _SLOW:
            log.warning(
                "precision %s on this CPU: its matmul measured %.0fx slower than fp32, so training will be slower, "
                "not faster; use precision: auto unless you need %s numerics", requested, 1 / ratio, requested,
            )
        return Precision(requested, device, f"asked; {requested} matmul measured {ratio:.2f}x fp32 ({where})", gflops)
    return Precision("fp32", device, f"asked (bf16 matmul measured {speedup:.2f}x fp32 on {where})", gflops)


def _cuda_precision(requested: str) -> Precision:
    import torch

    bf16_ok = torch.cuda.is_bf16_supported()
    if requested == "auto":
        name = "bf16" if bf16_ok else "fp16"
        return Precision(name, "cuda", "auto: GPU supports bf16" if bf16_ok else "auto: GPU lacks bf16; fp16 with "
                         "loss scaling")
    if requested == "bf16" and not bf16_ok:
        log.warning("precision bf16: this GPU does not support it; using fp16 with loss scaling instead")
        return Precision("fp16", "cuda", "bf16 asked but unsupported")
    return Precision(requested, "cuda", "asked")


def agree_across_processes(precision: Precision) -> Precision:
    """Every process trains in rank 0's precision: two ranks timing matmuls at once could otherwise disagree."""
    import os

    if int(os.environ.get("WORLD_SIZE", "1")) == 1:
        return precision
    import torch
    import torch.distributed as dist
    from accelerate import PartialState

    PartialState()  # joins the process group the Trainer will use
    names = ("fp32", "bf16", "fp16")
    chosen = torch.tensor([names.index(precision.name)])
    dist.broadcast(chosen, src=0)
    name = names[int(chosen)]
    if name == precision.name:
        return precision
    return Precision(name, precision.device, f"rank 0's choice ({precision.reason} here)", precision.gflops)


def describe_precision() -> str:
    """What `precision: auto` picks on this machine and why, for `honed methods` (measures once if not cached)."""
    from honed.models.cache import honed_home
    from honed.hardware import CACHE_FILE, physical_cores

    device = detect_device()
    chosen = choose_precision("auto", device=device, threads=physical_cores())
    lines = [f"precision auto on this machine: {chosen.name} ({chosen.reason})"]
    if chosen.gflops:
        lines.append("  matmul GFLOP/s: " + ", ".join(f"{d} {g:,.0f}" for d, g in chosen.gflops.items())
                     + f"; measured once, cached in {honed_home() / CACHE_FILE} (delete it to measure again)")
    if chosen.half:
        lines.append(f"  frozen weights are held in {chosen.name}; trainable weights and AdamW state stay fp32")
    return "\n".join(lines)
