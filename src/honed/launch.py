"""`honed train --nproc N`: the same command in N processes on this machine, started by torchrun.

torchrun (torch.distributed.run) already does process management, rendezvous and multi-node launch well; honed only
builds its command line, and turns a failure into one line (`honed.failures`). Multi-node: run `torchrun --nnodes 2
--node-rank R --rdzv-endpoint HOST:PORT -m honed train ...` on each machine. Light on imports, as honed.failures is:
the launcher waits while its processes train, and importing the training stack here cost each run 3.7 s of CPU.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from honed.errors import UserError
from honed.failures import FAILURES, first_failure


class DistributedFailure(UserError):
    """A process of a multi-process run failed: one line for the user, the exit code of the process that failed."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


# How long torchrun waits, once a signal has reached it, for the processes to finish their step and save a checkpoint
# before it kills them (its default, 30 s, is shorter than one step of a large model).
SHUTDOWN_TIMEOUT_S = 900


def launch(nproc: int, argv: list[str], debug: bool = False) -> int:
    """Run `honed <argv>` in `nproc` local processes. With `debug`, plain torchrun and every traceback."""
    torchrun = ["-m", "torch.distributed.run" if debug else "honed.failures"]
    command = [sys.executable, *torchrun, "--standalone", f"--nproc-per-node={nproc}",
               f"--shutdown-timeout={SHUTDOWN_TIMEOUT_S}", "-m", "honed", *argv]
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    with tempfile.TemporaryDirectory(prefix="honed-failures-") as failures:
        env[FAILURES] = failures
        code = _run_to_the_end(subprocess.Popen(command, env=env))
        if code != 0 and not debug:
            raise DistributedFailure(*first_failure(Path(failures), code))
    return code


def _run_to_the_end(torchrun: subprocess.Popen) -> int:
    """Wait for torchrun, also through Ctrl-C and SIGTERM: the terminal's Ctrl-C reaches torchrun as well (one
    process group), a SIGTERM sent to this process is passed on, and torchrun stops the processes with that signal
    and waits while they save a checkpoint. Leaving earlier would orphan them (torchrun starts each in a session of
    its own) and delete the folder they report into."""
    import signal

    previous = signal.signal(signal.SIGTERM, lambda signum, frame: torchrun.send_signal(signum))
    try:
        while True:
            try:
                code = torchrun.wait()
                return code if code >= 0 else 128 - code  # torchrun itself killed by a signal: the shell's code
            except KeyboardInterrupt:
                continue
    finally:
        signal.signal(signal.SIGTERM, previous)


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
