"""The save and load that every peft-backed technique shares: peft's own format, loadable by plain peft."""

from __future__ import annotations

from pathlib import Path


def save_peft(model, path: Path) -> None:
    model.save_pretrained(str(path), safe_serialization=True)


def load_peft(base_model, path: Path):
    from peft import PeftModel

    require_safetensors(path)
    return PeftModel.from_pretrained(base_model, str(path))


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
