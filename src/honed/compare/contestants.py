"""Who competes, and on what terms: one run config per technique, all sharing data, steps, batch and evaluation."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from honed.compare.budget import Budget
from honed.config import CompareEntry, EvalConfig, RunConfig
from honed.errors import UserError, nearest
from honed.methods import get_method, method_names

BASE_LABEL = "base"


@dataclass(frozen=True)
class Contestant:
    """One row of the table. `config` is None for the base model, which is evaluated but not trained."""

    label: str
    method: str | None
    learning_rate: float | None
    config: RunConfig
    eval_settings: EvalConfig
    test_data: str
    starts_from: str | None = None  # the fingerprint of the contestant whose run a preference stage trains on

    @property
    def trains(self) -> bool:
        return self.method is not None

    def fingerprint(self) -> str:
        """Changes whenever anything that shapes the result changes, so a re-run redoes exactly those rows."""
        settings = self.config.model_dump(mode="json", exclude={"output", "overwrite", "compare"})
        if not self.trains:
            settings = {key: settings[key] for key in ("model", "data", "trust_remote_code")}
        payload = {
            "method": self.method, "learning_rate": self.effective_learning_rate(), "config": settings,
            "starts_from": self.starts_from,
            "eval": self.eval_settings.model_dump(mode="json"),
            "files": {path: _file_digest(path) for path in self._data_files()},
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]

    def effective_learning_rate(self) -> float | None:
        """The rate training will use: a changed technique default changes the fingerprint too."""
        if not self.trains:
            return None
        return self.config.training.learning_rate_or(get_method(self.method).default_learning_rate)

    def _data_files(self) -> list[str]:
        candidates = [self.config.data.train, self.config.data.validation] if self.trains else []
        return [path for path in [*candidates, self.test_data] if path and Path(path).is_file()]

    def spec(self) -> dict:
        """What the worker subprocess needs, as JSON."""
        return {
            "label": self.label, "method": self.method, "learning_rate": self.learning_rate,
            "config": self.config.model_dump(mode="json"), "eval": self.eval_settings.model_dump(mode="json"),
            "test_data": self.test_data, "fingerprint": self.fingerprint(),
        }


# Keys the budget decides for every technique alike, or that would make techniques train unequal steps; a config
# that sets one is refused rather than silently overridden.
_DECIDED_BY_COMPARE = {
    "training": {"epochs", "max_steps", "batch_size", "eval_steps", "early_stopping_metric",
                 "early_stopping_patience", "resume", "objective"},
    "eval": {"limit", "during_training"},
}
# Measured by `honed eval` on one run, not by the comparison: refused rather than ignored.
_NOT_COMPARED = {"drift", "general"}
# Said per contestant instead (a preference stage names its objective, data and the contestant it starts from).
_PER_CONTESTANT = {"training.objective": "objective", "from_run": "start_from"}


def refuse_what_compare_decides(config: RunConfig) -> None:
    if config.from_run is not None:
        raise UserError("from_run: honed compare trains every contestant itself; a preference stage names the "
                        "contestant it starts from with `start_from` in compare.techniques")
    for key in sorted(_NOT_COMPARED & config.eval.model_fields_set):
        raise UserError(f"eval.{key}: honed compare does not measure drift outside the domain; measure it on a "
                        "contestant's run: honed eval <comparison>/<technique>/run --baseline base --drift full")
    for section, keys in _DECIDED_BY_COMPARE.items():
        for key in sorted(keys & getattr(config, section).model_fields_set):
            if f"{section}.{key}" in _PER_CONTESTANT:
                raise UserError(f"{section}.{key}: set per contestant in compare.techniques "
                                f"(`{_PER_CONTESTANT[section + '.' + key]}`), so SFT and preference stages share "
                                "one table")
            raise UserError(
                f"{section}.{key}: honed compare sets this from the budget, the same for every technique "
                f"(--budget quick|standard); remove it from the config for compare, or use honed train for one run"
            )


def plan_contestants(config: RunConfig, budget: Budget, output: Path, only: list[str] | None = None) -> list[Contestant]:
    """The base model first, then every technique asked for, each with the budget imposed on the config."""
    refuse_what_compare_decides(config)
    test_data = config.data.test
    if not test_data:
        raise UserError("honed compare needs held-out test data: set data.test in the config (or pass --test-data)")
    if not config.data.train:
        raise UserError("honed compare needs training data: set data.train in the config (or pass --data)")
    entries = _select(config.compare.techniques or _default_entries(), only)
    settings = _eval_settings(config.eval, budget)
    contestants = [Contestant(BASE_LABEL, None, None, _budgeted(config, config.method, budget, output / BASE_LABEL),
                              settings, test_data)]
    for entry in entries:
        contestants.append(_contestant(entry, config, budget, output, settings, contestants))
    return contestants


def _contestant(entry: CompareEntry, config: RunConfig, budget: Budget, output: Path, settings: EvalConfig,
                earlier: list[Contestant]) -> Contestant:
    method, learning_rate = _terms(entry, config)
    run_config = _budgeted(config, method, budget, output / entry.name / "run", learning_rate)
    starts_from = None
    if entry.objective != "sft" or entry.start_from:
        start = next((c for c in earlier if c.label == entry.start_from), None)
        if entry.start_from and start is None:
            raise UserError(f"{entry.name}: start_from {entry.start_from!r} is not measured in this comparison "
                            "(add it to --methods)")
        run_config = _preference_stage(run_config, entry, start)
        starts_from = start.fingerprint() if start else None
    return Contestant(entry.name, run_config.method.name, learning_rate, run_config, settings, earlier[0].test_data,
                      starts_from)


def _preference_stage(run_config: RunConfig, entry: CompareEntry, start: Contestant | None) -> RunConfig:
    """The entry's objective, data and starting run on the budgeted config, validated again (a key the objective
    does not use is refused here too)."""
    from pydantic import ValidationError

    raw = run_config.model_dump(mode="json")
    raw["training"].update(objective=entry.objective, beta=entry.beta)
    if entry.objective == "grpo":
        rewards = entry.rewards or run_config.eval.rewards
        if not rewards:
            raise UserError(f"{entry.name}: objective grpo needs rewards: give the contestant `rewards`, or the "
                            "config eval.rewards (which every contestant is scored by)")
        raw["training"]["rewards"] = [spec.model_dump(mode="json") for spec in rewards]
    raw["data"]["train"] = entry.data or raw["data"]["train"]
    if start is not None:
        if entry.method.name != start.config.method.name:
            raise UserError(f"{entry.name}: starts from {start.label}, a {start.config.method.name} run, whose "
                            f"adapter it trains on; give it method {start.config.method.name}")
        raw.update(method=start.config.method.model_dump(mode="json"), from_run=start.config.output)
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as error:
        raise UserError(f"{entry.name}: {error.errors()[0]['msg'].removeprefix('Value error, ')}") from None


def _default_entries() -> list[CompareEntry]:
    """Every registered technique with its defaults, in the registry's display order (as `honed methods` lists them)."""
    return [CompareEntry(method=name) for name in method_names()]


def _select(entries: list[CompareEntry], only: list[str] | None) -> list[CompareEntry]:
    if not only:
        return entries
    by_name = {entry.name: entry for entry in entries}
    chosen = []
    for name in only:
        if name == BASE_LABEL:
            continue  # always measured first
        if name in by_name:
            chosen.append(by_name[name])
        elif name in method_names():
            chosen.append(CompareEntry(method=name))
        else:
            known = list(by_name) + [m for m in method_names() if m not in by_name]
            raise UserError(f"--methods: unknown technique {name!r}{nearest(name, known)}; valid: {', '.join(known)}")
    return chosen


def _terms(entry: CompareEntry, config: RunConfig):
    """A bare technique name that matches the config's own `method` inherits its settings and learning rate: the
    config describes the user's favourite, and the comparison should measure that one as configured."""
    bare = entry.model_fields_set == {"method"} and entry.method.model_fields_set <= {"name"}
    if bare and entry.method.name == config.method.name:
        return config.method, config.training.learning_rate
    return entry.method, entry.learning_rate


def _budgeted(config: RunConfig, method, budget: Budget, output: Path, learning_rate: float | None = None) -> RunConfig:
    data = config.data.model_copy()
    if not data.validation and not data.val_fraction:
        data.val_fraction = budget.val_fraction
    training = config.training.model_copy(update={
        "max_steps": budget.max_steps, "batch_size": budget.batch_size, "learning_rate": learning_rate,
        "eval_steps": None, "early_stopping_metric": None,
    })
    evaluation = config.eval.model_copy(update={"during_training": False})
    return config.model_copy(update={
        "method": method, "data": data, "training": training, "eval": evaluation, "output": str(output),
        "overwrite": True,
    })


def _eval_settings(settings: EvalConfig, budget: Budget) -> EvalConfig:
    generation = settings.generation.model_copy(update={"max_new_tokens": budget.max_new_tokens})
    return settings.model_copy(update={"limit": budget.eval_rows, "generation": generation, "during_training": False})


def _file_digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
