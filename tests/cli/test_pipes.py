"""`honed methods | head`: a reader that leaves early ends the command quietly, as it does for git or ls."""

from __future__ import annotations

import os
import subprocess
import sys


def test_a_closed_pipe_ends_the_listing_without_a_traceback():
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line is written
    try:
        done = subprocess.run([sys.executable, "-m", "honed", "methods"], stdout=write_end, stderr=subprocess.PIPE,
                              text=True, timeout=120)
    finally:
        os.close(write_end)
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr, done.stderr
    assert done.returncode == 141
