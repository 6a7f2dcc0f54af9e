"""Ship a run from the studio: `honed export` as a queued CPU job (merge, adapter only, GGUF at any quant honed
export takes, llama.cpp LoRA adapter), the files it wrote with their sizes and download links, and the commands to
run them in llama.cpp and Ollama (what honed export prints)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from honed.errors import UserError

EXPORTS_DIR = "exports"  # in the workspace: exports/RUN-NAME/...
KINDS = {"merge": "--merge", "adapter": "--adapter-only", "gguf": "--gguf", "gguf-adapter": "--gguf-adapter"}


def router(studio) -> APIRouter:
    from honed.export.gguf import DEFAULT_QUANT, QUANTS

    routes = APIRouter()
    workspace, trainings = studio.workspace, studio.trainings

    def folder(name: str) -> Path:
        return workspace.root / EXPORTS_DIR / name.replace("/", "__")

    @routes.get("/export/{name:path}")
    def export_page(request: Request, name: str):
        workspace.run(name)
        return studio.page(request, "export.html", name=name, quants=QUANTS, default_quant=DEFAULT_QUANT,
                           state=state(name))

    @routes.get("/api/export/{name:path}")
    def state(name: str) -> dict:
        path = workspace.run(name)
        jobs = [e for e in trainings.entries() if e["run_dir"] == str(path) and e.get("kind") == "export"]
        log = trainings.log_of(path, "export")
        job = None
        if jobs:
            lines = [line for line in log.replace("\r", "\n").splitlines() if line.strip()]
            job = {"state": jobs[-1]["state"], "exit_code": jobs[-1].get("exit_code"),
                   "note": lines[-1] if jobs[-1].get("exit_code") == 0 and lines else "",
                   "error": next((l for l in reversed(lines) if l.startswith("error:")), None)}
        files = []
        if folder(name).is_dir():
            files = [{"file": workspace.relative(p), "bytes": p.stat().st_size}
                     for p in sorted(folder(name).rglob("*")) if p.is_file()]
        return {"job": job, "files": files}

    @routes.post("/api/export/{name:path}")
    async def start(request: Request, name: str):
        body = await request.json()
        path = workspace.run(name)
        kind = str(body.get("kind") or "")
        if kind not in KINDS:
            raise UserError(f"kind: one of {', '.join(KINDS)}")
        quant = str(body.get("quant") or DEFAULT_QUANT)
        if quant not in QUANTS:
            raise UserError(f"quant: one of {', '.join(QUANTS)}")
        stem = Path(name).name + (f"-{quant}" if kind == "gguf" else "-lora" if kind == "gguf-adapter" else f"-{kind}")
        target = _free(folder(name) / (stem + (".gguf" if kind.startswith("gguf") else "")))
        args = ["export", str(path), KINDS[kind], str(target)] + (["--quant", quant] if kind == "gguf" else [])
        target.parent.mkdir(parents=True, exist_ok=True)
        trainings.add_command(path, args, "export")
        return {"target": workspace.relative(target)}

    @routes.get("/download")
    def download(file: str):
        path = workspace.inside(file)
        if not path.is_file() or (workspace.root / EXPORTS_DIR) not in path.parents:
            raise UserError(f"{file}: not an exported file")
        return FileResponse(path, filename=path.name)

    return routes


def _free(path: Path) -> Path:
    """A name no earlier export took (exports are never overwritten)."""
    candidate, number = path, 1
    while candidate.exists() or candidate.with_suffix(".Modelfile").exists():
        candidate = path.with_name(f"{path.stem}-{number}{path.suffix}")
        number += 1
    return candidate
