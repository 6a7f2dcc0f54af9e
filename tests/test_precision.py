"""`precision: auto` follows what this CPU was measured to run fast, and the measurement is cached per machine."""

from __future__ import annotations

import json
import logging

import pytest

from honed.hardware import CACHE_FILE, machine_key, matmul_gflops
from honed.precision import choose_precision


def _cpu(bf16: float, fp16: float):
    """A fake timing: seconds per matmul of each dtype, relative to fp32's, as a given CPU would measure them."""
    calls = []

    def measure(dtype: str, size: int) -> float:
        calls.append((dtype, size))
        return {"fp32": 1.0, "bf16": bf16, "fp16": fp16}[dtype] * (size / 256) ** 3 * 1e-3

    measure.calls = calls
    return measure


AMX = _cpu(bf16=1 / 6.8, fp16=1.0)  # measured here: AMX-BF16, bf16 6.8x fp32
AVX512 = _cpu(bf16=0.5, fp16=50.0)  # an AVX-512 CPU without AMX: bf16 2x, fp16 50x slower
AVX2 = _cpu(bf16=400.0, fp16=50.0)  # AVX2 only: bf16 emulated, ~400x slower


@pytest.mark.parametrize("cpu, expected", [(AMX, "bf16"), (AVX512, "bf16"), (AVX2, "fp32")])
def test_auto_trains_in_bf16_only_where_it_was_measured_faster(cpu, expected):
    chosen = choose_precision("auto", device="cpu", threads=2, measure=cpu)
    assert chosen.name == expected
    assert "measured" in chosen.reason and "auto" in chosen.reason
    assert chosen.record()["precision_reason"] == chosen.reason and chosen.record()["matmul_gflops"]["fp32"] > 0


def test_an_emulated_dtype_is_not_timed_at_full_size():
    """On a CPU where bf16 is 400x slower, a 1024 matmul would take seconds: the small probe is enough."""
    measure = _cpu(bf16=400.0, fp16=50.0)
    choose_precision("auto", device="cpu", measure=measure)
    assert ("bf16", 1024) not in measure.calls and ("fp32", 1024) in measure.calls


def test_explicit_half_precision_is_honoured_and_warned_about_when_slow(caplog):
    with caplog.at_level(logging.WARNING, logger="honed"):
        chosen = choose_precision("bf16", device="cpu", measure=_cpu(bf16=400.0, fp16=50.0))
    assert chosen.name == "bf16" and "slower" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="honed"):
        assert choose_precision("bf16", device="cpu", measure=AMX).name == "bf16"
    assert not caplog.text


def test_the_measurement_is_cached_per_machine_key(tmp_path, monkeypatch):
    monkeypatch.setenv("HONED_HOME", str(tmp_path))
    first = matmul_gflops(threads=1)
    cache = json.loads((tmp_path / CACHE_FILE).read_text())
    assert set(cache) == {machine_key(1)} and cache[machine_key(1)]["gflops"] == first
    cache[machine_key(1)]["gflops"] = {"fp32": 1.0, "bf16": 9.0, "fp16": 1.0}  # what a later run must read back
    (tmp_path / CACHE_FILE).write_text(json.dumps(cache))
    assert matmul_gflops(threads=1) == {"fp32": 1.0, "bf16": 9.0, "fp16": 1.0}
    assert choose_precision("auto", device="cpu", threads=1).name == "bf16"
    assert "GFLOP" not in machine_key(1) and "threads" in machine_key(1)
