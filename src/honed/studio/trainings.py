"""The studio's CPU work: `honed train` (and `honed eval`) in a process of its own, one at a time (two such jobs on a
CPU's cores each run far slower), the rest waiting in a queue kept in the workspace.

The processes start in their own session, so they outlive the studio; a restarted studio reads the queue file and
each run's status.json (honed.rundir) and carries on. Started with an argument list, never a shell.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from honed import rundir
from honed.errors import UserError
from honed.studio.workspace import STUDIO_DIR, Workspace

QUEUE_FILE = "queue.json"


class Trainings:
    def __init__(self, workspace: Workspace, poll_s: float = 0.5):
        self.workspace = workspace
        self.folder = workspace.root / STUDIO_DIR
        self.poll_s = poll_s
        self._processes: dict[str, subprocess.Popen] = {}  # started by this studio: polled, so none is left a zombie
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # The queue file

    def entries(self) -> list[dict]:
        try:
            return json.loads((self.folder / QUEUE_FILE).read_text())
        except (OSError, ValueError):
            return []

    def _save(self, entries: list[dict]) -> None:
        self.folder.mkdir(exist_ok=True)
        partial = self.folder / f".{QUEUE_FILE}.{os.getpid()}"
        partial.write_text(json.dumps(entries, indent=1))
        os.replace(partial, self.folder / QUEUE_FILE)

    # What the pages ask for

    def add(self, config: Path, run_dir: Path, resume: bool = False) -> dict:
        """Queues `honed train CONFIG --output RUN_DIR` (with --resume auto to continue a stopped run)."""
        with self._lock:
            entries = self.entries()
            if any(e["run_dir"] == str(run_dir) and self._busy(e) for e in entries):
                raise UserError(f"{self.workspace.relative(run_dir)} is already queued or training")
            entry = {"id": uuid.uuid4().hex[:12], "config": str(config), "run_dir": str(run_dir), "resume": resume,
                     "state": "queued", "queued": time.time()}
            self._save([*entries, entry])
        self.tick()
        return entry

    @staticmethod
    def _busy(entry: dict) -> bool:
        """Queued, or training. A stopped run's process may still be exiting: a resume queued meanwhile waits for it
        (one training at a time), so it does not count."""
        if entry.get("kind", "train") != "train":
            return False
        if entry["state"] == "queued":
            return True
        return entry["state"] == "started" and rundir.read_status(entry["run_dir"]).get("state") == "running"

    def add_command(self, run_dir: Path, args: list[str], kind: str) -> dict:
        """Queues `honed ARGS` about a run (e.g. an evaluation), behind the trainings and jobs before it."""
        with self._lock:
            entries = self.entries()
            if any(e["run_dir"] == str(run_dir) and e.get("kind") == kind and e["state"] in ("queued", "started")
                   for e in entries):
                raise UserError(f"{self.workspace.relative(run_dir)}: its {kind} is already queued or running")
            entry = {"id": uuid.uuid4().hex[:12], "kind": kind, "args": args, "run_dir": str(run_dir),
                     "state": "queued", "queued": time.time()}
            self._save([*entries, entry])
        self.tick()
        return entry

    def stop(self, run_dir: Path) -> str:
        """SIGTERM to a training (it saves a checkpoint and exits 143), or a queued one taken off the queue."""
        with self._lock:
            entries = self.entries()
            for entry in entries:
                if entry["run_dir"] == str(run_dir) and entry["state"] == "queued" and entry.get("kind", "train") == "train":
                    entry["state"] = "cancelled"
                    self._save(entries)
                    return "cancelled"
        status = rundir.read_status(run_dir)
        if status.get("state") != "running":
            raise UserError(f"{self.workspace.relative(run_dir)} is not training (it is {status.get('state')})")
        os.kill(int(status["pid"]), signal.SIGTERM)
        return "stopping"

    def waiting(self, kind: str | None = "train") -> list[dict]:
        return [e for e in self.entries() if e["state"] in ("queued", "started")
                and (kind is None or e.get("kind", "train") == kind)]

    # Starting the next one

    def start_background(self) -> None:
        self._thread = threading.Thread(target=self._loop, daemon=True, name="honed-studio-queue")
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_s):
            self.tick()

    def tick(self) -> None:
        """Marks ended trainings, and starts the first queued one when none is training."""
        with self._lock:
            entries = self.entries()
            changed = False
            for entry in entries:
                if entry["state"] == "started" and not self._training(entry):
                    entry["state"], entry["ended"] = "ended", time.time()
                    process = self._processes.pop(entry["id"], None)
                    entry["exit_code"] = process.returncode if process is not None else None
                    changed = True
            if not any(e["state"] == "started" for e in entries):
                queued = next((e for e in entries if e["state"] == "queued"), None)
                if queued is not None:
                    self._start(queued)
                    changed = True
            if changed:
                self._save(entries)

    def _training(self, entry: dict) -> bool:
        process = self._processes.get(entry["id"])
        if process is not None:
            return process.poll() is None
        return _alive(int(entry.get("pid", 0)))  # started by an earlier studio

    def _start(self, entry: dict) -> None:
        if "args" in entry:
            command = [sys.executable, "-m", "honed", *entry["args"]]
        else:
            command = [sys.executable, "-m", "honed", "train", entry["config"], "--output", entry["run_dir"]]
            if entry["resume"]:
                command += ["--resume", "auto"]
        logs = self.folder / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with open(logs / f"{entry['id']}.log", "wb") as log:
            process = subprocess.Popen(command, cwd=self.workspace.root, stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        self._processes[entry["id"]] = process
        entry.update(state="started", pid=process.pid, started=time.time(), command=command)

    def log_of(self, run_dir: Path, kind: str = "train") -> str:
        """What the launched process printed (errors before the run directory existed land only here)."""
        for entry in reversed(self.entries()):
            if entry["run_dir"] == str(run_dir) and "pid" in entry and entry.get("kind", "train") == kind:
                try:
                    return (self.folder / "logs" / f"{entry['id']}.log").read_text(errors="replace")
                except OSError:
                    return ""
        return ""


def _alive(pid: int) -> bool:
    """A process still running. A child of this process that has exited is reaped here (else it would linger as a
    zombie, which `kill(pid, 0)` still finds)."""
    if pid <= 0:
        return False
    try:
        if os.waitpid(pid, os.WNOHANG) != (0, 0):
            return False
    except ChildProcessError:
        pass  # not our child: an earlier studio started it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
