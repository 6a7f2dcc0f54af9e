"""New runs: the form (from the schema), or pasted YAML, checked as `honed config` checks it, with what the run will
cost; then queued as `honed train` with that config."""

from __future__ import annotations

import re
import statistics
import time
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from honed.config import RunConfig, load_config, to_yaml
from honed.errors import UserError
from honed.studio.form import form_sections, values_to_config
from honed.studio.workspace import STUDIO_DIR, model_choices, run_row

RUNS_DIR = "runs"  # where the studio puts the runs it launches, inside the workspace
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
_PROBLEM = re.compile(r"^(?:[^:]*?:(?:\d+:)?\s)?([a-z_]+(?:\.[a-z_]+)*): (.*)$")


def router(studio) -> APIRouter:
    routes = APIRouter()
    workspace = studio.workspace

    @routes.get("/new")
    def new_page(request: Request):
        return studio.page(request, "new.html", form=form_sections(), files=workspace.files(),
                           models=model_choices(workspace), configs=workspace.files((".yaml", ".yml")),
                           name=f"run-{time.strftime('%Y%m%d-%H%M%S')}")

    @routes.get("/api/text")
    def text_file(file: str):
        """A config file of the workspace, to edit in the YAML box."""
        path = workspace.inside(file)
        if path.suffix not in (".yaml", ".yml") or not path.is_file():
            raise UserError(f"{file}: not a YAML file in the workspace")
        return {"file": file, "text": path.read_text(encoding="utf-8", errors="replace")}

    @routes.post("/api/config")
    async def check(request: Request):
        """The config the form or the YAML makes, its YAML and `honed train` command, and its cost; or the problems,
        per field."""
        body = await request.json()
        try:
            config, name = _config_of(body, studio)
        except UserError as error:
            return JSONResponse(_problems(str(error)), status_code=422)
        return {"yaml": to_yaml(config), "command": f"honed train {RUNS_DIR}/{name}.yaml --output {RUNS_DIR}/{name}",
                "estimate": estimate(config, workspace)}

    @routes.post("/api/launch")
    async def launch(request: Request):
        body = await request.json()
        try:
            config, name = _config_of(body, studio)
        except UserError as error:
            return JSONResponse(_problems(str(error)), status_code=422)
        run_dir = workspace.root / RUNS_DIR / name
        configs = workspace.root / STUDIO_DIR / "configs"
        configs.mkdir(parents=True, exist_ok=True)
        path = configs / f"{name}.yaml"
        path.write_text(to_yaml(config.model_copy(update={"output": None})))
        entry = studio.trainings.add(path, run_dir)
        return {"run": f"{RUNS_DIR}/{name}", "queued": entry["id"]}

    return routes


def _config_of(body: dict, studio) -> tuple[RunConfig, str]:
    from honed.config.loading import load_config_text

    workspace = studio.workspace
    name = str(body.get("name") or "").strip()
    if not _NAME.match(name):
        raise UserError("name: a run name is letters, digits, '.', '_' and '-' (at most 80)")
    run_dir = workspace.root / RUNS_DIR / name
    if run_dir.exists() or any(e["run_dir"] == str(run_dir) for e in studio.trainings.waiting()):
        raise UserError(f"name: {RUNS_DIR}/{name} exists already; choose another name (nothing is overwritten)")
    if body.get("yaml"):
        source = str(body.get("source") or "")  # the workspace file the YAML came from: its relative paths' base
        base = workspace.inside(source).parent if source else workspace.root
        config = load_config_text(str(body["yaml"]), source or "YAML", base)
    else:
        values = values_to_config(body.get("values") or {})
        for key in ("data.train", "data.validation", "data.test"):
            if key in values:
                values[key] = str(workspace.inside(values[key]))
        if values.get("model"):
            values["model"] = workspace.model(values["model"])
        method = values.pop("method.name", "lora")
        config = load_config(None, [f"{k}={v}" for k, v in values.items()], {"method": method})
    for key, path in (("data.train", config.data.train), ("data.validation", config.data.validation),
                      ("data.test", config.data.test)):
        if path:
            relative = Path(path)
            inside = workspace.root in relative.resolve().parents
            if not inside:
                raise UserError(f"{key}: {path} is outside the workspace {workspace.root}")
            if not relative.is_file():
                raise UserError(f"{key}: {path}: no such file")
    if not config.data.train:
        raise UserError("data.train: pick the training data")
    return config.model_copy(update={"output": str(run_dir), "overwrite": False}), name


def _problems(message: str) -> dict:
    """A one-line error split back into its fields, for showing each beside its input."""
    fields, general = {}, []
    for part in message.split("; "):
        match = _PROBLEM.match(part)
        if match:
            fields[match.group(1)] = match.group(2)
        else:
            general.append(part)
    return {"error": message, "fields": fields, "general": general}


def estimate(config: RunConfig, workspace) -> dict:
    """Rows, tokens and steps from the data, and time and memory from runs of the same model and technique recorded
    in this workspace (nothing is guessed where nothing was measured)."""
    from honed.data.encoding import encode_rows
    from honed.data.loading import load_rows
    from honed.models import load_tokenizer

    rows = load_rows(config.data.train, config.data)
    tokenizer = load_tokenizer(config.model, config.trust_remote_code)
    _, stats = encode_rows(tokenizer, rows.rows, rows.wheres, config.data.train_on, config.data.max_length,
                           rows.source)
    training = config.training
    per_step = training.batch_size * training.grad_accum
    steps = training.max_steps or max(1, round(stats.rows * training.epochs / per_step))
    tokens = round(stats.tokens / max(stats.rows, 1) * per_step * steps)
    similar = [row for row in (run_row(workspace, path) for path in workspace.run_dirs())
               if row["model"] == config.model and row["state"] == "finished" and row.get("tokens_per_s")]
    same = [row for row in similar if row["technique"] == config.method.name] or similar
    speed = statistics.median(row["tokens_per_s"] for row in same) if same else None
    memory = [row["peak_rss_mb"] for row in same if row.get("peak_rss_mb")]
    parameters = trainable_parameters(config, tokenizer)
    return {**parameters, "rows": stats.rows, "tokens_per_epoch": stats.tokens, "truncated": stats.truncated,
            "dropped": stats.dropped_no_supervised_tokens, "steps": steps, "tokens": tokens,
            "tokens_per_s": speed, "seconds": tokens / speed if speed else None,
            "peak_memory_mb": max(memory) if memory else None, "measured_on": len(same)}


def trainable_parameters(config: RunConfig, tokenizer) -> dict:
    """The technique applied to the model built on the meta device (shapes, no weights: a second or two), counted."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from honed.methods import BuildContext, get_method
    from honed.models import resolve_model_path

    try:
        model_config = AutoConfig.from_pretrained(resolve_model_path(config.model),
                                                  trust_remote_code=config.trust_remote_code)
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(model_config, trust_remote_code=config.trust_remote_code)
            context = BuildContext(total_steps=config.training.max_steps or 1, tokenizer=tokenizer,
                                   init_text=getattr(config.method, "init_text", None))
            model = get_method(config.method.name).wrap(model, config.method, context)
    except Exception as error:  # noqa: BLE001 - an estimate: say why it is missing rather than fail the form
        return {"trainable": None, "parameters": None, "parameters_unknown": str(error).splitlines()[0][:200]}
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"trainable": trainable, "parameters": sum(p.numel() for p in model.parameters())}
