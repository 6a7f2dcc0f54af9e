"""The models a server answers for: run directories that share a base model become adapters on one copy of it.

peft keeps several adapters of one tuner type in one PeftModel; honed groups the runs of each technique that can
share a base (the registry's `shares_base`) by base model that way, loaded by `honed.rundir.load_runs_on_one_base`,
serves the base itself with adapters off, and gives every other run a model of its own. Each loaded model gets one
generation engine (`honed.generation.Engine`): LoRA adapters of one base are decoded in one batch, each request with
its own adapter; other techniques' adapters are switched per request, one request at a time.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from honed.errors import UserError
from honed.generation import BASE, Engine

log = logging.getLogger("honed")


@dataclass
class Served:
    """One name in /v1/models."""

    name: str
    model: object
    tokenizer: object
    adapter: str | None = None  # the peft adapter it answers with; BASE for adapters off, None for the model as is
    owned_by: str = "honed"
    context_length: int = 2048
    engine: Engine | None = None  # set by ModelPool.start

    def submit(self, prompt_ids: list[int], settings, deadline: float = float("inf"), choices: int = 1):
        return self.engine.submit(prompt_ids, settings, self.adapter, deadline, choices)


@dataclass
class ModelPool:
    models: dict[str, Served] = field(default_factory=dict)

    def get(self, name: str) -> Served:
        if name not in self.models:
            raise KeyError(name)
        return self.models[name]

    def start(self, max_batch: int = 16, max_queue: int = 64, precision: str = "auto") -> None:
        """One engine per loaded model, shared by the names served from it (once; later calls keep them)."""
        by_model: dict[int, list[Served]] = {}
        for served in self.models.values():
            if served.engine is None:
                by_model.setdefault(id(served.model), []).append(served)
        for entries in by_model.values():
            adapters = [s.adapter for s in entries if s.adapter not in (None, BASE)]
            engine = Engine(entries[0].model, entries[0].tokenizer, adapters or None, max_batch, max_queue, precision)
            log.info("%s: %s", ", ".join(s.name for s in entries), engine.path)
            for served in entries:
                served.engine = engine

    def engines(self) -> list[Engine]:
        return list({id(s.engine): s.engine for s in self.models.values() if s.engine is not None}.values())

    def close(self) -> None:
        for engine in self.engines():
            engine.close()


def load_pool(run_dirs: list[str]) -> ModelPool:
    from honed.methods import get_method
    from honed.rundir import load_run, read_config

    pool = ModelPool()
    groups: dict[tuple[str, str], list[Path]] = {}
    bases: list[str] = []
    for item in run_dirs:
        path = Path(item)
        config = read_config(path)
        if config.model not in bases:
            bases.append(config.model)
        if get_method(config.method.name).shares_base:
            groups.setdefault((config.model, config.method.name), []).append(path)
        else:
            _add(pool, _alone(load_run(path)))
    for (base_name, _), paths in groups.items():
        for served in _shared(base_name, paths, base_needed=not _has_base(pool, base_name)):
            _add(pool, served)
    for base_name in bases:
        if not _has_base(pool, base_name):
            _add(pool, _base_alone(base_name))
    return pool


def _base_alone(base_name: str) -> Served:
    from honed.models import load_model, load_tokenizer

    model = load_model(base_name).eval()
    return Served(model_name(base_name), model, load_tokenizer(base_name), owned_by="base model",
                  context_length=_context(model))


def _has_base(pool: ModelPool, base_name: str) -> bool:
    return model_name(base_name) in pool.models


def _alone(run) -> Served:
    return Served(run.run_dir.name, run.model, run.tokenizer, context_length=_context(run.model))


def _shared(base_name: str, paths: list[Path], base_needed: bool) -> list[Served]:
    """Base model loaded once; each run's adapter added under the run's name."""
    from honed.rundir import load_runs_on_one_base

    runs = load_runs_on_one_base(paths)
    model = runs[0].model
    context = _context(model)
    served = [Served(run.run_dir.name, model, run.tokenizer, adapter=run.run_dir.name, context_length=context)
              for run in runs]
    if base_needed:
        served.append(Served(model_name(base_name), model, served[0].tokenizer, adapter=BASE,
                             owned_by="base model", context_length=context))
    return served


def model_name(base: str) -> str:
    return re.sub(r"[^A-Za-z0-9._/-]+", "-", Path(base).name if Path(base).exists() else base)


def _context(model) -> int:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return int(getattr(base.config, "max_position_embeddings", 2048) or 2048)


def _add(pool: ModelPool, served: Served) -> None:
    if served.name in pool.models:
        raise UserError(f"two models would be served as {served.name!r}: give the run directories distinct names")
    pool.models[served.name] = served


def load_chat_model(reference: str, precision: str = "auto") -> Served:
    """A run directory, or a base model by name or path, for `honed chat`: its adapter folded into the weights."""
    from honed.rundir import is_run_dir, load_run

    served = _alone(load_run(reference)) if is_run_dir(reference) else _base_alone(reference)
    served.engine = Engine(served.model, served.tokenizer, max_batch=1, precision=precision)
    return served
