"""Comparisons from the studio: `honed compare` with the techniques and budget picked, queued with the trainings,
watched as each technique trains and is evaluated, its table filling as results land (the same result.json files and
table the report is made of) and its plots shown once written."""

from __future__ import annotations

import os
import re

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from honed.errors import UserError

COMPARISONS_DIR = "comparisons"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
_PROGRESS = re.compile(r"\[(\d+)/(\d+)\] ([^:]+): (.*)")


def router(studio) -> APIRouter:
    from honed.compare.budget import BUDGETS
    from honed.methods import all_methods

    routes = APIRouter()
    workspace, trainings = studio.workspace, studio.trainings

    @routes.get("/comparisons")
    def comparisons_page(request: Request):
        return studio.page(request, "comparisons.html", comparisons=_existing(workspace),
                           methods=[m.name for m in all_methods()], budgets=BUDGETS,
                           configs=workspace.files((".yaml", ".yml")), files=workspace.files())

    @routes.post("/api/comparisons")
    async def start(request: Request):
        from honed.methods import method_names

        body = await request.json()
        name = str(body.get("name") or "")
        if not _NAME.match(name):
            raise UserError("name: letters, digits, '.', '_' and '-' (at most 80)")
        out = workspace.root / COMPARISONS_DIR / name
        if out.exists():
            raise UserError(f"name: {COMPARISONS_DIR}/{name} exists already; choose another name")
        methods = [str(m) for m in body.get("methods") or []]
        unknown = [m for m in methods if m not in method_names()]
        if not methods or unknown:
            raise UserError(f"methods: pick one or more of {', '.join(method_names())}")
        budget = str(body.get("budget") or "quick")
        if budget not in BUDGETS:
            raise UserError(f"budget: one of {', '.join(BUDGETS)}")
        args = ["compare"]
        if body.get("config"):
            args.append(str(workspace.inside(str(body["config"]))))
        if body.get("model"):
            args += ["--model", workspace.model(str(body["model"]))]
        for key, flag in (("train", "--data"), ("test", "--test-data")):
            if body.get(key):
                args += [flag, str(workspace.inside(str(body[key])))]
        args += ["--methods", ",".join(methods), "--budget", budget, "--output", str(out)]
        trainings.add_command(out, args, "compare")
        return {"comparison": f"{COMPARISONS_DIR}/{name}"}

    @routes.get("/comparison/{name:path}")
    def comparison_page(request: Request, name: str):
        return studio.page(request, "comparison.html", name=name, state=state(name))

    @routes.get("/api/comparison/{name:path}")
    def state(name: str) -> dict:
        from honed.compare.results import read_result
        from honed.compare.table import table

        out = workspace.inside(name)
        results = sorted((r for r in (read_result(f) for f in out.iterdir() if f.is_dir()) if r is not None),
                         key=lambda r: os.path.getmtime(out / r.label / "result.json")) if out.is_dir() else []
        headers, cells, best = table(results) if results else ([], [], [])
        entries = [e for e in trainings.entries() if e["run_dir"] == str(out) and e.get("kind") == "compare"]
        log = trainings.log_of(out, "compare")
        steps = [m for m in (_PROGRESS.search(line) for line in log.replace("\r", "\n").splitlines()) if m]
        job = None
        if entries:
            job = {"state": entries[-1]["state"], "exit_code": entries[-1].get("exit_code"),
                   "now": steps[-1].group(0) if steps else "",
                   "error": next((l for l in reversed(log.splitlines()) if l.startswith("error:")), None)}
        plots = [workspace.relative(p) for p in sorted(out.glob("*.png"))] if out.is_dir() else []
        return {"job": job, "headers": headers, "rows": cells, "best": best, "plots": plots,
                "report": workspace.relative(out / "report.html") if (out / "report.html").is_file() else None}

    @routes.get("/comparison-file")
    def comparison_file(file: str):
        path = workspace.inside(file)
        if not path.is_file() or (workspace.root / COMPARISONS_DIR) not in path.parents or \
                path.suffix not in (".png", ".html", ".md", ".csv", ".json"):
            raise UserError(f"{file}: not a comparison's report file")
        return FileResponse(path)

    return routes


def _existing(workspace) -> list[str]:
    from honed.compare.sweep import MARKER

    root = workspace.root / COMPARISONS_DIR
    return [workspace.relative(p.parent) for p in sorted(root.glob(f"*/{MARKER}"))] if root.is_dir() else []
