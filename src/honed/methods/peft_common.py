"""The save and load that every peft-backed technique shares: peft's own format, loadable by plain peft."""

from __future__ import annotations

from pathlib import Path


def save_peft(model, path: Path) -> None:
    model.save_pretrained(str(path), safe_serialization=True)


def load_peft(base_model, path: Path):
    return load_peft_adapters(base_model, [("default", path)])


def load_peft_adapters(base_model, adapters: list[tuple[str, Path]]):
    """Several saved adapters of one peft tuner on one base model, each under its name; peft keeps them side by side
    and `set_adapter(name)` switches between them per call, so one copy of the base serves them all."""
    from peft import PeftModel

    (first_name, first_path), *rest = adapters
    require_safetensors(first_path)
    model = PeftModel.from_pretrained(base_model, str(first_path), adapter_name=first_name)
    for name, path in rest:
        require_safetensors(path)
        model.load_adapter(str(path), adapter_name=name)
    return model


def load_peft_trainable(base_model, path: Path):
    """A saved adapter with its weights trainable (peft's is_trainable), to train on from a finished run."""
    from peft import PeftModel

    require_safetensors(path)
    return PeftModel.from_pretrained(base_model, str(path), is_trainable=True)


def require_safetensors(path: Path) -> None:
    """peft falls back to a pickled adapter_model.bin when the safetensors file is missing; honed never does."""
    from honed.errors import UserError

    if not (Path(path) / "adapter_model.safetensors").is_file():
        raise UserError(f"{path}: no adapter_model.safetensors; honed loads adapters only as safetensors, never as "
                        "pickles (adapter_model.bin)")


def target_modules_arg(value):
    """peft takes the string 'all-linear' or a list; None means peft's per-architecture default."""
    if value is None or isinstance(value, str):
        return value
    return list(value)
