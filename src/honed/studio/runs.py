"""Runs: the table of every run in the workspace, a run's live page, stop / resume / archive, and runs overlaid."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from honed import rundir
from honed.errors import UserError
from honed.studio.charts import colour_of, metric_chart
from honed.studio.workspace import TRASH_DIR, read_metrics, run_colours, run_row

LOG_TAIL_LINES = 40


def router(studio) -> APIRouter:
    routes = APIRouter()
    workspace, trainings = studio.workspace, studio.trainings

    def table() -> dict:
        rows = [run_row(workspace, path) for path in workspace.run_dirs()]
        known = {row["name"] for row in rows}
        for entry in trainings.waiting():  # queued, or started but not yet writing its run directory
            name = workspace.relative(Path(entry["run_dir"]))
            if name not in known:
                rows.append({"name": name, "state": "queued" if entry["state"] == "queued" else "starting",
                             "technique": "", "model": "", "data": "", "step": 0, "started": entry["queued"]})
        palette = run_colours(workspace)
        for row in rows:
            row["colour"] = palette.get(row["name"]) or colour_of(row["name"])
        return {"runs": sorted(rows, key=lambda r: -(r.get("started") or 0)), "queue": trainings.waiting(None)}

    def colour(name: str) -> str:
        return run_colours(workspace).get(name) or colour_of(name)

    @routes.get("/")
    def runs_page(request: Request):
        return studio.page(request, "runs.html", **table())

    @routes.get("/api/runs")
    def runs_json():
        return table()

    @routes.get("/run/{name:path}")
    def run_page(request: Request, name: str):
        path = workspace.inside(name)
        if not (path / rundir.CONFIG_FILE).is_file():
            queued = [e for e in trainings.waiting() if e["run_dir"] == str(path)]
            if not queued:
                raise UserError(f"{name}: not a run directory of this workspace")
            return studio.page(request, "run.html", run={"name": name, "state": "queued", "colour": colour(name)},
                               log=trainings.log_of(path), config="", command=" ".join(queued[0]["command"])
                               if "command" in queued[0] else "")
        return studio.page(request, "run.html", run={**run_row(workspace, path), "colour": colour(name)},
                           log=_log_tail(path) or trainings.log_of(path),
                           config=(path / rundir.CONFIG_FILE).read_text(),
                           command=f"honed train {name}/{rundir.CONFIG_FILE} --output {name}")

    @routes.get("/api/run/{name:path}")
    def run_json(name: str):
        path = workspace.run(name)
        return {"run": run_row(workspace, path), "metrics": read_metrics(path), "log": _log_tail(path)}

    @routes.get("/events/{name:path}")
    async def run_events(request: Request, name: str):
        """A message whenever the run's metrics or status change (checked every poll_s): the page redraws."""
        path = workspace.inside(name)

        async def changes():
            seen = None
            while not await request.is_disconnected():
                now = _fingerprint(path)
                if now != seen:
                    seen = now
                    if (path / rundir.CONFIG_FILE).is_file():
                        payload = {"run": run_row(workspace, path), "points": len(read_metrics(path)),
                                   "log": _log_tail(path) or trainings.log_of(path)}
                    else:
                        payload = {"run": {"name": name, "state": "queued"}, "points": 0,
                                   "log": trainings.log_of(path)}
                    yield f"data: {json.dumps(payload)}\n\n"
                await asyncio.sleep(studio.poll_s)

        return StreamingResponse(changes(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    @routes.get("/chart/{kind}.svg")
    def chart(kind: str, run: list[str] = Query(default=[])):
        if kind not in ("loss", "speed"):
            raise UserError(f"no chart {kind!r}: loss or speed")
        palette = run_colours(workspace)
        series = [(name, palette.get(name) or colour_of(name), read_metrics(workspace.inside(name))) for name in run]
        return Response(metric_chart(series, kind), media_type="image/svg+xml", headers={"Cache-Control": "no-store"})

    @routes.get("/compare")
    def compare_page(request: Request, run: list[str] = Query(default=[])):
        if len(run) < 2:
            raise UserError("pick two or more runs to compare")
        palette = run_colours(workspace)
        rows = [{**run_row(workspace, workspace.run(name)), "colour": palette.get(name)} for name in run]
        return studio.page(request, "compare.html", runs=rows, names=run)

    @routes.post("/api/stop/{name:path}")
    def stop(name: str):
        return {"result": trainings.stop(workspace.inside(name))}

    @routes.post("/api/resume/{name:path}")
    def resume(name: str):
        path = workspace.run(name)
        state = rundir.read_status(path).get("state")
        if state not in ("stopped", "interrupted", "failed"):
            raise UserError(f"{name} is {state}: only a stopped, interrupted or failed run resumes")
        trainings.add(path / rundir.CONFIG_FILE, path, resume=True)
        return {"result": "queued"}

    @routes.post("/api/archive/{name:path}")
    def archive(name: str):
        path = workspace.run(name)
        if rundir.read_status(path).get("state") == "running":
            raise UserError(f"{name} is training: stop it before archiving it")
        trash = workspace.root / TRASH_DIR / f"{name.replace('/', '__')}-{time.strftime('%Y%m%d-%H%M%S')}"
        trash.parent.mkdir(exist_ok=True)
        shutil.move(str(path), str(trash))
        return {"result": "archived", "moved_to": workspace.relative(trash)}

    return routes


def _fingerprint(path) -> tuple:
    parts = []
    for name in (rundir.METRICS_FILE, rundir.STATUS_FILE, rundir.SUMMARY_FILE):
        try:
            stat = (path / name).stat()
            parts.append((stat.st_size, stat.st_mtime_ns))
        except OSError:
            parts.append(None)
    return tuple(parts)


def _log_tail(path) -> str:
    try:
        return "\n".join((path / rundir.LOG_FILE).read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:])
    except OSError:
        return ""
