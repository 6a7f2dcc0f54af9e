"""Pick the training precision from what the hardware runs fast, measured rather than assumed.

CPU support for bf16/fp16 varies wildly between machines of the same family (on one 2-core CPU here bf16
matmul was ~400x slower than fp32; on another with AVX512-BF16 it was faster, while fp16 was ~50x slower),
so an explicit half-precision request on CPU is timed once and the user is told what it costs.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

log = logging.getLogger("honed")

_SLOW_RATIO = 1.5


@dataclass(frozen=True)
class Precision:
    name: str  # fp32 | bf16 | fp16
    device: str  # cuda | cpu | mps
    reason: str

    @property
    def trainer_flags(self) -> dict:
        return {"bf16": self.name == "bf16", "fp16": self.name == "fp16", "use_cpu": self.device == "cpu"}


def detect_device() -> str:
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def choose_precision(requested: str, device: str | None = None) -> Precision:
    device = device or detect_device()
    if device == "cuda":
        return _cuda_precision(requested)
    if requested in ("auto", "fp32"):
        return Precision("fp32", device, "CPU/MPS: fp32 is the safe fast path" if requested == "auto" else "asked")
    ratio = half_precision_slowdown(requested)
    if ratio > _SLOW_RATIO:
        log.warning(
            "precision %s on this CPU: its matmul measured %.0fx slower than fp32, so training will be slower, "
            "not faster; use precision: auto (fp32) unless you need %s numerics", requested, ratio, requested,
        )
    return Precision(requested, device, f"asked; {requested} matmul measured {ratio:.2f}x the time of fp32 here")


def _cuda_precision(requested: str) -> Precision:
    import torch

    bf16_ok = torch.cuda.is_bf16_supported()
    if requested == "auto":
        name = "bf16" if bf16_ok else "fp16"
        return Precision(name, "cuda", "GPU supports bf16" if bf16_ok else "GPU lacks bf16; fp16 with loss scaling")
    if requested == "bf16" and not bf16_ok:
        log.warning("precision bf16: this GPU does not support it; using fp16 with loss scaling instead")
        return Precision("fp16", "cuda", "bf16 asked but unsupported")
    return Precision(requested, "cuda", "asked")


def half_precision_slowdown(name: str, size: int = 256, seconds: float = 0.1) -> float:
    """Time of a square matmul in `name` over fp32 on the CPU (about 0.2 s to measure)."""
    import torch

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[name]
    fp32 = _matmul_time(torch.float32, size, seconds)
    return _matmul_time(dtype, size, seconds) / fp32


def _matmul_time(dtype, size: int, seconds: float) -> float:
    import torch

    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    a @ b
    start, count = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    return (time.perf_counter() - start) / count
