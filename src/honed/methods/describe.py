"""Plain-text listing of the registered techniques, for `honed methods`."""

from __future__ import annotations

from pydantic import BaseModel

from honed.methods.registry import all_methods


def describe_methods() -> str:
    blocks = []
    for method in all_methods():
        lines = [f"{method.name:<8} {method.summary}"]
        lines.append(f"         default learning rate {method.default_learning_rate:g}: {method.lr_reason}")
        lines.extend(_measured_rates(method))
        for name, default, doc in field_docs(method.config_cls):
            lines.append(f"           {name} = {default}  {' '.join(doc.split())}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n\nUse one with `--method NAME` or `method: {name: NAME, key: value}` in YAML."


def _measured_rates(method) -> list[str]:
    if not method.lr_measured:
        return []
    lines = ["         ROUGE-L by learning rate, * the default (honed compare, standard budget; scripts/lr_sweep.py):"]
    for usecase, by_rate in method.lr_measured.items():
        cells = [f"{rate:g} {rouge:.1f}{'*' if rate == method.default_learning_rate else ''}"
                 for rate, rouge in sorted(by_rate.items())]
        lines.append(f"           {usecase:<8} " + " | ".join(cells))
    return lines


def field_docs(model: type[BaseModel]) -> list[tuple[str, str, str]]:
    """(name, default, description) of each field of a technique's settings; here, beside the registry, because
    config/ imports methods/ to validate those settings and nothing may import back up."""
    rows = []
    for name, info in model.model_fields.items():
        if name == "name":
            continue
        default = info.get_default(call_default_factory=True)
        if isinstance(default, BaseModel):
            continue
        rows.append((name, repr(default) if isinstance(default, str) else str(default), info.description or ""))
    return rows
