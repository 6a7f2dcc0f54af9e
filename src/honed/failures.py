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


# Which line the user sees when several processes wrote one: a process killed from outside (the OOM killer, a
# crash) before the errors its peers then hit in their collectives, and either before a process that stopped on a
# signal (Ctrl-C, or the SIGTERM torchrun sends the others once one has failed); the earliest within each kind.
KILLED, ERROR, STOPPED = "0-killed", "1-error", "2-stopped"


def report_failure(error: BaseException, exit_code: int) -> int:
    """In a process torchrun started: this process's line goes to the launcher's folder (or, started by hand under
    torchrun, to stderr with its rank); returns the exit code."""
    rank = int(os.environ.get("RANK", "0"))
    if isinstance(error, KeyboardInterrupt):
        line = "interrupted before training started"
    else:
        line = str(error) if isinstance(error, UserError) else describe(error)
    stopped = isinstance(error, KeyboardInterrupt) or getattr(error, "stopped_by_signal", False)
    folder = os.environ.get(FAILURES)
    if not (folder and write_failure(Path(folder), STOPPED if stopped else ERROR, rank, exit_code, line)):
        print(f"error: rank {rank}: {line}", file=sys.stderr)
    return exit_code


def write_failure(folder: Path, kind: str, rank: int, exit_code: int, line: str) -> bool:
    """Written whole or not at all (a process killed mid-write leaves no half line); False when it could not be."""
    name = f"{kind}-{time.monotonic_ns():020d}-{rank:05d}"
    try:
        (folder / f".{name}").write_text(f"{exit_code}\n{line}\n", encoding="utf-8")
        os.replace(folder / f".{name}", folder / name)
    except OSError:
        return False
    return True


def describe(error: BaseException) -> str:
    """`at step N: Type: first line` of the innermost cause (torch.distributed.checkpoint wraps each rank's
    exception in its own, whose first line names only the ranks); the step is the note training adds."""
    where = next((note for note in getattr(error, "__notes__", []) if note.startswith(STEP_NOTE)), None)
    failures = getattr(error, "failures", None)  # CheckpointException: {rank: (exception, traceback)}
    if isinstance(failures, dict) and failures:
        inner = next(iter(failures.values()))
        inner = inner[0] if isinstance(inner, tuple) else inner
        error = inner if isinstance(inner, BaseException) else error
    while error.__cause__ is not None and not str(error).strip():
        error = error.__cause__
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    cause = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    return f"{where.removeprefix('honed: ')}: {cause}" if where else cause


def first_failure(folder: Path, torchrun_code: int) -> tuple[str, int]:
    """(the line that says most of what went wrong, its exit code), in the order of KILLED, ERROR, STOPPED; when
    no process wrote one, what torchrun saw."""
    written = sorted(path for path in folder.iterdir() if path.name[:1].isdigit())
    if not written:
        return (f"a training process ended without a word (torchrun exit code {torchrun_code}); run again with "
                "--debug for each process's output"), torchrun_code
    code, line = written[0].read_text(encoding="utf-8").split("\n", 1)
    rank = int(written[0].name.rsplit("-", 1)[1])
    # processes that failed, each once (a process can write twice: its error, then killed); not those stopped
    failed = {path.name.rsplit("-", 1)[1] for path in written if not path.name.startswith(STOPPED)}
    more = f" ({len(failed)} processes failed)" if len(failed) > 1 else ""
    return f"rank {rank}: {line.strip()}{more}", int(code)


def _quiet_torchrun(argv: list[str]) -> int:
    """torchrun without its own failure report: its agent logs each failure and `torchrun`'s entry point prints a
    report per process; the processes' own lines, in FAILURES, say what happened."""
    import logging

    logging.disable(logging.ERROR)
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    try:
        run(parse_args(argv))
    except ChildFailedError as error:
        for rank, failure in sorted(error.failures.items()):
            if os.environ.get(FAILURES) and failure.exitcode < 0:
                _killed(Path(os.environ[FAILURES]), rank, signal.Signals(-failure.exitcode))
        return 1
    except SignalException as error:  # Ctrl-C or SIGTERM: the processes were stopped with it and have said so
        return 128 + int(error.sigval)
    return 0


def _killed(folder: Path, rank: int, how: signal.Signals) -> None:
    if how == signal.SIGTERM:  # torchrun's own way of stopping the others once one has failed
        write_failure(folder, STOPPED, rank, 143, "stopped by torchrun after another process failed")
    else:
        write_failure(folder, KILLED, rank, 128 + how, f"the process was killed by {how.name}")


if __name__ == "__main__":
    raise SystemExit(_quiet_torchrun(sys.argv[1:]))
