"""What this machine is and what it runs fast: threads, allocator, peak memory, and measured matmul throughput.

The CPUs honed runs on differ by orders of magnitude in half precision (measured on three 2-core machines here:
AVX2 only, bf16 matmul ~400x slower than fp32; AVX-512 without AMX, bf16 ~2x faster and fp16 ~50x slower; AMX-BF16,
bf16 6.8x faster), so nothing is assumed: each dtype's matmul throughput is timed once per machine, torch version
and thread count, and cached in $HONED_HOME/hardware.json.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("honed")

CACHE_FILE = "hardware.json"
DTYPES = ("fp32", "bf16", "fp16")
_PROBE_SIZE = 256  # every dtype is probed small first: a 1024 matmul in an emulated dtype can take seconds
_MEASURE_SIZE = 1024  # about the shapes of a small model's projections over a packed micro-batch
_SLOW_AT_PROBE = 4.0  # a dtype this much slower than fp32 at the probe size is not measured larger


def physical_cores() -> int:
    try:
        import psutil

        cores = psutil.cpu_count(logical=False)
    except ImportError:
        cores = None
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores or available, available))


def set_threads(requested: int | None) -> int:
    """Torch threads: what the user asked, else one per physical core (hyper-threads only make OpenMP fight)."""
    import torch

    local_processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    threads = requested or max(1, physical_cores() // local_processes)
    torch.set_num_threads(threads)
    return threads


def keep_freed_memory() -> None:
    """Ask glibc to keep large freed blocks instead of returning them to the OS: every CPU training step frees and
    re-allocates the same activation buffers, and page-faulting them back in showed up as system time."""
    import ctypes

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.mallopt(-3, 32 * 2**20)  # M_MMAP_THRESHOLD at glibc's maximum: big blocks come from the reusable heap
    libc.mallopt(-1, 2**31 - 1)  # M_TRIM_THRESHOLD: do not trim the heap back after each step


def peak_memory_mb() -> dict:
    import torch

    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak = {"peak_rss_mb": round(rss_kb / (1024 if sys.platform != "darwin" else 1024 * 1024), 1)}
    if torch.cuda.is_available():
        peak["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return peak


def cpu_name() -> str:
    """The CPU's model name as the kernel reports it (the same string `lscpu` prints)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def cpu_features() -> list[str]:
    """The instruction-set flags that decide half-precision speed, for the record and the cache key."""
    wanted = {"avx2", "avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_fp16", "amx_tile"}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return sorted(wanted & set(line.split(":", 1)[1].split()))
    except OSError:
        pass
    return []


def machine_key(threads: int) -> str:
    import torch

    return f"{cpu_name()} | {','.join(cpu_features())} | torch {torch.__version__} | {threads} threads"


def matmul_gflops(threads: int, cache_dir: Path | None = None,
                  measure: Callable[[str, int], float] | None = None) -> dict[str, float]:
    """GFLOP/s of a square matmul per dtype on this CPU, measured once and cached per machine key.

    `measure(dtype, size)` returns seconds per matmul; tests pass a fake one to decide as a given CPU would.
    """
    from honed.models.cache import honed_home

    path = (cache_dir or honed_home()) / CACHE_FILE
    key = machine_key(threads)
    cached = _read_cache(path)
    if measure is None and key in cached:
        return cached[key]["gflops"]
    started = time.perf_counter()
    gflops = _measure_all(measure or _seconds_per_matmul)
    log.info("measured matmul throughput on %s in %.1f s: %s", key, time.perf_counter() - started,
             ", ".join(f"{d} {g:.0f} GFLOP/s" for d, g in gflops.items()))
    if measure is None:
        cached[key] = {"gflops": gflops, "cpu": cpu_name(), "features": cpu_features(), "measured": time.time()}
        _write_cache(path, cached)
    return gflops


def _measure_all(measure: Callable[[str, int], float]) -> dict[str, float]:
    probe = {dtype: measure(dtype, _PROBE_SIZE) for dtype in DTYPES}
    gflops = {}
    for dtype in DTYPES:
        size = _MEASURE_SIZE if probe[dtype] < _SLOW_AT_PROBE * probe["fp32"] else _PROBE_SIZE
        seconds = measure(dtype, size) if size != _PROBE_SIZE else probe[dtype]
        gflops[dtype] = round(2 * size**3 / seconds / 1e9, 1)
    return gflops


def _seconds_per_matmul(dtype: str, size: int, budget: float = 0.15) -> float:
    import torch

    torch_dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[dtype]
    a = torch.randn(size, size).to(torch_dtype)
    b = torch.randn(size, size).to(torch_dtype)
    a @ b  # the first call pays for kernel selection and AMX tile setup
    start, count = time.perf_counter(), 0
    while count < 2 or time.perf_counter() - start < budget:
        a @ b
        count += 1
    return (time.perf_counter() - start) / count


def _read_cache(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _write_cache(path: Path, data: dict) -> None:
    """Written to a temporary name, then renamed: two processes measuring at once never leave half a file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        temporary.write_text(json.dumps(data, indent=1))
        os.replace(temporary, path)
    except OSError as error:
        log.debug("cannot cache the hardware measurement in %s: %s", path, error)
