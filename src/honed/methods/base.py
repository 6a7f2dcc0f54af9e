"""What every technique provides: a typed config, and how to wrap, save and reload a model with it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

log = logging.getLogger("honed")


class MethodConfig(BaseModel):
    """Base of every technique's config: unknown keys are errors, never silently dropped."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


@dataclass(frozen=True)
class BuildContext:
    """Facts of the run that a technique needs when it wraps the model (AdaLoRA's budget needs the step count)."""

    total_steps: int
    tokenizer: Any = None
    init_text: str | None = None  # the system prompt every training row shares: prefix and prompt tuning start there


@dataclass(frozen=True)
class Method:
    """A registry entry: a technique's name, config schema, how it wraps, saves and reloads a model, and every fact
    about it that a command needs (listing order, merging, sharing a served base): each fact once, here."""

    name: str
    summary: str
    config_cls: type[MethodConfig]
    default_learning_rate: float
    wrap: Callable[[Any, MethodConfig, BuildContext], Any]
    save: Callable[[Any, Path], None]
    load: Callable[[Any, Path], Any]
    display_order: int  # place in every listing: `honed methods`, `honed compare`'s default contestants, errors
    artifact_dir: str = "adapter"
    uses_peft: bool = True
    standalone: bool = False  # the artifact is a whole model; reloading needs no base model
    unmergeable_because: str | None = None
    """Why the trained part cannot be folded into the base weights (`honed export` says it); None: it can."""
    can_pack: bool = True
    starts_as_base: bool = True  # before any step the wrapped model computes exactly what the base model does
    callbacks: Callable[[Any], list] = field(default=lambda model: [])
    lr_reason: str = ""
    lr_measured: dict[str, dict[float, float]] = field(default_factory=dict, hash=False, compare=False)
    """ROUGE-L on each use case at three learning rates about 3x apart, the default among them (honed compare,
    standard budget, by scripts/lr_sweep.py): the figures behind the default, which `honed methods` shows."""
    trains_base_weights: bool = False  # every weight trains: held in fp32 as master weights, even in bf16 runs
    prepended_positions: Callable[[Any], int] = field(default=lambda model: 0)  # virtual tokens before the input
    training_penalty: Callable[[Any], Any] | None = None  # added to the training loss (AdaLoRA's regulariser)
    load_trainable: Callable[[Any, Path], Any] | None = None
    """Reloads a saved artifact onto a base model with its weights trainable, so a run can train on from a finished
    one (`--from`); None: this technique's runs cannot be continued (AdaLoRA's rank budget is spent)."""
    load_shared: Callable[[Any, list[tuple[str, Path]]], Any] | None = None
    """Loads several runs' artifacts onto one base model, each under a name, to be switched per request; set for
    techniques whose adapters can sit side by side on one base (peft's LoRA and IA3), so `honed serve` keeps one
    copy of the base for all their runs."""

    @property
    def shares_base(self) -> bool:
        return self.load_shared is not None

    @property
    def can_merge(self) -> bool:
        return self.unmergeable_because is None
