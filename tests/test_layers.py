"""No two modules import each other, through any path: ../shared/tools/import_circles.py, as the before-stop hook
runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT.parent / "shared" / "tools" / "import_circles.py"


def test_no_import_circle():
    if not TOOL.is_file():
        pytest.skip(f"{TOOL} is not beside this checkout")
    result = subprocess.run([sys.executable, str(TOOL), str(ROOT / "src" / "honed")], capture_output=True, text=True)
    assert result.returncode in (0, 1) and not result.stderr, result.stderr  # 1: it found a circle
    circles = [set(line.removeprefix("circle: ").split(", ")) for line in result.stdout.splitlines()
               if line.startswith("circle: ")]
    assert (result.returncode == 1) == bool(circles)
    assert not circles, result.stdout
