"""Plain-text listing of the registered techniques, for `honed methods`."""

from __future__ import annotations

from honed.methods.registry import all_methods


def describe_methods() -> str:
    from honed.config.schema import field_docs

    blocks = []
    for method in all_methods():
        lines = [f"{method.name:<8} {method.summary}"]
        lines.append(f"         default learning rate {method.default_learning_rate:g}: {method.lr_reason}")
        for name, default, doc in field_docs(method.config_cls):
            lines.append(f"           {name} = {default}  {' '.join(doc.split())}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n\nUse one with `--method NAME` or `method: {name: NAME, key: value}` in YAML."
