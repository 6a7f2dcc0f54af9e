"""The bundled datasets are what their generator scripts write: regenerated here, they match byte for byte."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["support", "medical", "content"])
def test_generator_script_reproduces_the_bundled_dataset(name, tmp_path):
    out = tmp_path / name
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / f"make_{name}_data.py"), str(out)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for split in ("train.jsonl", "test.jsonl"):
        bundled = (ROOT / "examples" / "data" / name / split).read_bytes()
        assert (out / split).read_bytes() == bundled, f"{name}/{split} differs from what the script writes"
