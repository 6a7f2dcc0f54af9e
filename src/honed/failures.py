"""A multi-process run's failure as one line: each process that fails writes its line into a folder its launcher
made, and the launcher prints the one that says what went wrong (torchrun itself prints a traceback per process and a
report of its own). Light on imports: the CLI reaches here on every error.

    python -m honed.failures TORCHRUN-ARGS...   torchrun, quiet about the failures its processes report here
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from honed.errors import UserError

FAILURES = "HONED_FAILURES"  # the folder a failing process writes its line into
STEP_NOTE = "honed: at step "  # the note training adds to an error: where it stopped


def under_launcher() -> bool:
    return "LOCAL_RANK" in os.environ


# Which line the user sees when several processes wrote one: a process's own error before a process killed from
# outside, and either before a process that stopped on the signal torchrun sends the others once one has failed.
ERROR, KILLED, STOPPED = "0-error", "1-killed", "2-stopped"


def report_failure(error: BaseException, exit_code: int) -> int:
    """In a process torchrun started: this process's line goes to the launcher's folder (or, started by hand under
    torchrun, to stderr with its rank); returns the exit code."""
    rank = int(os.environ.get("RANK", "0"))
    line = str(error) if isinstance(error, UserError) else describe(error)
    folder = Path(os.environ.get(FAILURES, ""))
    if os.environ.get(FAILURES) and folder.is_dir():
        write_failure(folder, STOPPED if getattr(error, "stopped_by_signal", False) else ERROR, rank, exit_code, line)
    else:
        print(f"error: rank {rank}: {line}", file=sys.stderr)
    return exit_code


def write_failure(folder: Path, kind: str, rank: int, exit_code: int, line: str) -> None:
    (folder / f"{kind}-{time.monotonic_ns():020d}-{rank:05d}").write_text(f"{exit_code}\n{line}\n", encoding="utf-8")


def describe(error: BaseException) -> str:
    """`at step N: Type: first line` of the innermost cause (torch.distributed.checkpoint wraps each rank's
    exception in its own, whose first line names only the ranks); the step is the note training adds."""
    where = next((note for note in getattr(error, "__notes__", []) if note.startswith(STEP_NOTE)), None)
    failures = getattr(error, "failures", None)  # CheckpointException: {rank: (exception, traceback)}
    if isinstance(failures, dict) and failures:
        inner = next(iter(failures.values()))
        error = inner[0] if isinstance(inner, tuple) else inner
    while error.__cause__ is not None and not str(error).strip():
        error = error.__cause__
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    cause = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    return f"{where.removeprefix('honed: ')}: {cause}" if where else cause


def first_failure(folder: Path, torchrun_code: int) -> tuple[str, int]:
    """(the line that says most of what went wrong, its exit code): the earliest process error, else a process
    killed from outside, else one stopped by torchrun's signal; when no process wrote one, what torchrun saw."""
    written = sorted(path for path in folder.iterdir() if path.name[:1].isdigit())
    if not written:
        return (f"a training process ended without a word (torchrun exit code {torchrun_code}); run again with "
                "--debug for each process's output"), torchrun_code
    code, line = written[0].read_text(encoding="utf-8").split("\n", 1)
    rank = int(written[0].name.rsplit("-", 1)[1])
    ranks = {path.name.rsplit("-", 1)[1] for path in written}  # a process can write twice: its error, then killed
    more = f" ({len(ranks)} processes failed)" if len(ranks) > 1 else ""
    return f"rank {rank}: {line.strip()}{more}", int(code)


def _quiet_torchrun(argv: list[str]) -> int:
    """torchrun without its own failure report: its agent logs each failure and `torchrun`'s entry point prints a
    report per process; the processes' own lines, in FAILURES, say what happened."""
    import logging

    logging.disable(logging.ERROR)
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    try:
        run(parse_args(argv))
    except ChildFailedError as error:
        folder = Path(os.environ.get(FAILURES, ""))
        for rank, failure in sorted(error.failures.items()):
            if os.environ.get(FAILURES) and folder.is_dir() and failure.exitcode < 0:
                how = signal.Signals(-failure.exitcode).name
                write_failure(folder, KILLED, rank, 128 - failure.exitcode, f"the process was killed by {how}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(_quiet_torchrun(sys.argv[1:]))
