"""`honed train --nproc N`: the same command in N processes on this machine, started by torchrun.

torchrun (torch.distributed.run) already does process management, rendezvous and multi-node launch well; honed only
builds its command line. Multi-node: run `torchrun --nnodes 2 --node-rank R --rdzv-endpoint HOST:PORT -m honed
train ...` on each machine.
"""

from __future__ import annotations

import os
import subprocess
import sys


def under_launcher() -> bool:
    return "LOCAL_RANK" in os.environ


def launch(nproc: int, argv: list[str]) -> int:
    """Run `honed <argv>` in `nproc` local processes; returns the exit code torchrun reports."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
               "-m", "honed", *argv]
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    return subprocess.call(command, env=env)


def without_nproc(argv: list[str]) -> list[str]:
    """The command line minus `--nproc N` / `--nproc=N`, for the processes torchrun starts."""
    kept, skip = [], False
    for item in argv:
        if skip:
            skip = False
            continue
        if item == "--nproc":
            skip = True
            continue
        if item.startswith("--nproc="):
            continue
        kept.append(item)
    return kept
