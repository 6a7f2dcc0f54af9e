"""`make test` runs pytest-xdist workers; each must keep to its own cores, or their thread pools fight (see conftest)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.skipif(not os.environ.get("PYTEST_XDIST_WORKER") or not hasattr(os, "sched_getaffinity"),
                    reason="only under pytest-xdist, as make test runs")
def test_a_worker_and_the_processes_it_starts_keep_to_its_share_of_the_cores():
    import torch

    workers = int(os.environ["PYTEST_XDIST_WORKER_COUNT"])
    cores = os.cpu_count() or 1
    mine = os.sched_getaffinity(0)
    if workers > 1 and cores > 1:
        assert len(mine) <= -(-cores // min(workers, cores))
    assert torch.get_num_threads() == len(mine)
    child = subprocess.run([sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"],
                           capture_output=True, text=True, check=True)
    assert child.stdout.strip() == str(sorted(mine))
