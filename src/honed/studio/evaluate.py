"""Evaluate from the studio: `honed eval RUN` against a baseline, queued with the trainings (one CPU job at a time),
and its report as a page: the metrics with their deltas, and every example with both answers and its scores, to sort
by the difference and filter by text. The page reads what `honed eval` wrote into the run's eval/ folder."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request

from honed import rundir

HEADLINE = "rougeL"


def router(studio) -> APIRouter:
    routes = APIRouter()
    workspace, trainings = studio.workspace, studio.trainings

    @routes.get("/eval/{name:path}")
    def eval_page(request: Request, name: str):
        path = workspace.run(name)
        runs = [run for run in workspace.run_names() if run != name]
        return studio.page(request, "eval.html", name=name, runs=runs, files=workspace.files(),
                           report=report(path), job=_job(trainings, path))

    @routes.get("/api/eval/{name:path}")
    def eval_json(name: str):
        path = workspace.run(name)
        return {"report": report(path), "job": _job(trainings, path)}

    @routes.post("/api/eval/{name:path}")
    async def start(request: Request, name: str):
        body = await request.json()
        path = workspace.run(name)
        args = ["eval", str(path)]
        baseline = str(body.get("baseline") or "")
        if baseline:
            args += ["--baseline", "base" if baseline == "base" else str(workspace.run(baseline))]
        if body.get("data"):
            args += ["--data", str(workspace.inside(str(body["data"])))]
        for key, flag in (("limit", "--limit"), ("max_new_tokens", "--max-new-tokens")):
            if body.get(key):
                args += [flag, str(int(body[key]))]
        entry = trainings.add_command(path, args, "eval")
        return {"queued": entry["id"]}

    return routes


def _job(trainings, path) -> dict | None:
    jobs = [e for e in trainings.entries() if e["run_dir"] == str(path) and e.get("kind") == "eval"]
    if not jobs:
        return None
    job = jobs[-1]
    log = trainings.log_of(path, "eval")
    last = log.replace("\r", "\n").strip().splitlines()[-1:] if log else []
    return {"state": job["state"], "exit_code": job.get("exit_code"), "progress": last[0][-200:] if last else "",
            "error": _error_line(log) if job["state"] == "ended" and job.get("exit_code") else None}


def _error_line(log: str) -> str:
    lines = [line for line in log.replace("\r", "\n").splitlines() if line.startswith("error:")]
    return lines[-1] if lines else (log.strip().splitlines() or [""])[-1]


def _verdict(key: str, interval: dict | None) -> str | None:
    """better / worse / same, as honed eval's report marks it (only where the interval excludes zero)."""
    from honed.evaluation.report import direction
    from honed.evaluation.significance import Interval

    return Interval(**interval).verdict(direction(key)) if interval else None


def report(path) -> dict | None:
    """eval.json and predictions.jsonl as the page shows them; None before the first evaluation."""
    folder = rundir.eval_dir(path)
    try:
        summary = json.loads((folder / rundir.EVAL_FILE).read_text())
        rows = [json.loads(line) for line in (folder / rundir.PREDICTIONS_FILE).read_text().splitlines() if line]
    except (OSError, ValueError):
        return None
    baseline = summary.get("baseline") or {}
    intervals = summary.get("intervals") or {}
    metrics = [{"name": key, "tuned": value, "baseline": (baseline.get("metrics") or {}).get(key),
                "delta": (summary.get("delta") or {}).get(key), "interval": intervals.get(key),
                "verdict": _verdict(key, intervals.get(key))} for key, value in summary["metrics"].items()]
    examples = []
    for row in rows:
        tuned, base = (row.get("scores") or {}).get(HEADLINE), (row.get("baseline_scores") or {}).get(HEADLINE)
        examples.append({"index": row["index"], "prompt": row["prompt"], "reference": row.get("reference"),
                         "answer": row["prediction"], "baseline": row.get("baseline_prediction"),
                         "score": tuned, "baseline_score": base,
                         "difference": None if tuned is None or base is None else tuned - base})
    return {"label": summary.get("label"), "baseline_label": baseline.get("label"), "data": summary.get("data"),
            "rows": summary.get("rows"), "metrics": metrics, "headline": HEADLINE, "examples": examples,
            "resamples": (summary.get("bootstrap") or {}).get("resamples"), "drift": _drift(summary.get("drift"))}


def _drift(measured: dict | None) -> dict | None:
    """The line `honed eval` prints, and whether it is flagged."""
    from honed.evaluation.drift import Drift, drift_line

    if not measured:
        return None
    drift = Drift(**measured)
    return {"line": drift_line(drift), "flagged": drift.flagged, "examples": drift.examples}
