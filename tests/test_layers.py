"""No two modules import each other, through any path, outside the one circle still listed (training's preference
trainer, which the GRPO issue removes): ../shared/tools/import_circles.py, as the before-stop hook runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT.parent / "shared" / "tools" / "import_circles.py"
KNOWN = {"honed.training.preference", "honed.training.trainer"}


def test_no_import_circle_but_the_known_one():
    if not TOOL.is_file():
        pytest.skip(f"{TOOL} is not beside this checkout")
    result = subprocess.run([sys.executable, str(TOOL), str(ROOT / "src" / "honed")], capture_output=True, text=True)
    assert result.returncode in (0, 1) and not result.stderr, result.stderr  # 1: it found a circle
    circles = [set(line.removeprefix("circle: ").split(", ")) for line in result.stdout.splitlines()
               if line.startswith("circle: ")]
    assert (result.returncode == 1) == bool(circles)
    assert all(circle <= KNOWN for circle in circles), result.stdout
