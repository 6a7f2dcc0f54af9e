"""The new-run form, built from the config schema and the technique registry: every field's type, default and help
come from there, so the form cannot drift from what `honed train` accepts (the trap STYLE.md points at in
LlamaBoard, whose form copies each option by hand)."""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass

from pydantic import BaseModel

from honed.config.schema import DataConfig, RunConfig, TrainingConfig
from honed.methods import all_methods

# Sections of the form, and the keys a first-time user needs most (the rest sit under "more").
SECTIONS = [("data", DataConfig, ("train", "validation", "test", "max_length", "train_on", "system_prompt")),
            ("training", TrainingConfig, ("objective", "epochs", "max_steps", "batch_size", "learning_rate",
                                          "precision", "seed", "save_steps"))]
_SKIPPED = {("training", "resume"), ("training", "fsdp"), ("training", "deepspeed"), ("data", "fields"),
            ("method", "name")}  # not a form value: resume is a button, the rest multi-process or mappings


@dataclass
class Field:
    key: str  # dotted config key
    kind: str  # text | number | select | checkbox
    default: object
    help: str
    options: list[str] | None = None
    optional: bool = False
    common: bool = True

    @property
    def label(self) -> str:
        return self.key.split(".")[-1].replace("_", " ")


def fields_of(section: str, model: type[BaseModel], common: tuple[str, ...] | None = None) -> list[Field]:
    fields = []
    for name, info in model.model_fields.items():
        if (section, name) in _SKIPPED:
            continue
        field = _field(f"{section}.{name}" if section else name, info)
        if field is not None:
            field.common = common is None or name in common
            fields.append(field)
    return fields


def _field(key: str, info) -> Field | None:
    annotation, optional = _unwrap_optional(info.annotation)
    default = None if info.is_required() else info.get_default(call_default_factory=True)
    help_text = " ".join((info.description or "").split())
    if typing.get_origin(annotation) is typing.Literal:
        return Field(key, "select", default, help_text, [str(a) for a in typing.get_args(annotation)], optional)
    if annotation is bool:
        if optional:
            return Field(key, "select", default, help_text, ["true", "false"], True)
        return Field(key, "checkbox", default, help_text)
    if annotation in (int, float):
        return Field(key, "number", default, help_text, optional=optional)
    if annotation is str:
        return Field(key, "text", default, help_text, optional=optional)
    if typing.get_origin(annotation) is list and typing.get_args(annotation)[0] is str:
        return Field(key, "text", ",".join(default or []), help_text + " (comma-separated)", optional=optional)
    return None  # mappings and unions of shapes: YAML only


def _unwrap_optional(annotation):
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def form_sections() -> dict:
    """What new.html renders: the model field, one group per technique, and the data and training sections."""
    methods = [{"name": m.name, "summary": m.summary, "learning_rate": m.default_learning_rate,
                "lr_reason": m.lr_reason, "fields": fields_of("method", m.config_cls)} for m in all_methods()]
    return {"top": fields_of("", RunConfig, ("model",))[:1], "methods": methods,
            "sections": [(name, fields_of(name, model, common)) for name, model, common in SECTIONS]}


def values_to_config(values: dict[str, object]) -> dict[str, str]:
    """The posted form as `--set key=value` pairs: empty means the schema's default, and types are left to the
    schema (the same parsing as `honed train --set`), so the form and the CLI refuse the same values alike."""
    return {key: str(value).strip() for key, value in values.items() if value is not None and str(value).strip()}
