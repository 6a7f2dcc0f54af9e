"""Merge an adapter into its base model, or copy the adapter out, with the tokenizer and chat template alongside."""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from honed.errors import UserError

log = logging.getLogger("honed")
PROVENANCE = "honed_export.json"


@dataclass
class Exported:
    path: Path
    merged: bool
    note: str


def export(run_dir: str | Path, output: str | Path, adapter_only: bool = False, overwrite: bool = False) -> Exported:
    """`adapter_only=False`: a merged full model (safetensors + tokenizer + chat template) that plain transformers
    loads; techniques that cannot merge export their adapter instead and say why."""
    from honed.methods import get_method
    from honed.train import is_run_dir, read_config

    run_dir, out = Path(run_dir), Path(output)
    if not is_run_dir(run_dir):
        raise UserError(f"{run_dir}: not a honed run directory (no config.yaml and summary.json)")
    _check_free(out, overwrite)
    config = read_config(run_dir)
    method = get_method(config.method.name)
    if adapter_only:
        if method.standalone:
            raise UserError(f"{run_dir}: full fine-tuning has no adapter; its whole model is in {run_dir / 'model'} "
                            "(or use --merge)")
        return _copy_adapter(run_dir, method, out, "adapter exported as asked")
    if method.standalone:
        return _save_model(run_dir, out, "full fine-tuning: the run's model is already a whole model")
    if not method.can_merge:
        why = {
            "prefix": "prefix tuning's learned keys and values are extra attention inputs, not weights of the model",
            "prompt": "prompt tuning's soft prompt is extra input embeddings, not weights of the model",
            "adapter": "bottleneck adapters are extra layers with a non-linearity, which no weight matrix can absorb",
        }.get(method.name, f"{method.name} cannot be folded into the base weights")
        log.warning("%s; exporting the adapter instead", why)
        return _copy_adapter(run_dir, method, out, f"not merged: {why}")
    return _merge(run_dir, out, method.name)


def _check_free(out: Path, overwrite: bool) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        if not overwrite:
            raise UserError(f"{out}: already exists and is not empty; pass --overwrite or choose another folder")
        shutil.rmtree(out) if out.is_dir() else out.unlink()


def _merge(run_dir: Path, out: Path, technique: str) -> Exported:
    from honed.train import load_run

    run = load_run(run_dir)
    merged = run.model.merge_and_unload()
    merged.config.use_cache = True
    _write(out, lambda tmp: (merged.save_pretrained(str(tmp), safe_serialization=True),
                             run.tokenizer.save_pretrained(str(tmp))))
    note = f"{technique} merged into the base model; load with AutoModelForCausalLM.from_pretrained({str(out)!r})"
    _provenance(out, run_dir, technique, merged=True, note=note)
    return Exported(out, True, note)


def _save_model(run_dir: Path, out: Path, note: str) -> Exported:
    from honed.train import rundir

    def copy(tmp: Path) -> None:
        shutil.copytree(run_dir / "model", tmp, dirs_exist_ok=True)
        shutil.copytree(run_dir / rundir.TOKENIZER_DIR, tmp, dirs_exist_ok=True)

    _write(out, copy)
    _provenance(out, run_dir, "full", merged=True, note=note)
    return Exported(out, True, note)


def _copy_adapter(run_dir: Path, method, out: Path, note: str) -> Exported:
    from honed.train import rundir

    def copy(tmp: Path) -> None:
        shutil.copytree(run_dir / method.artifact_dir, tmp, dirs_exist_ok=True)
        shutil.copytree(run_dir / rundir.TOKENIZER_DIR, tmp / "tokenizer")

    _write(out, copy)
    form = "peft format: PeftModel.from_pretrained(base, folder)" if method.uses_peft else \
        "honed's bottleneck-adapter format (safetensors + JSON)"
    _provenance(out, run_dir, method.name, merged=False, note=f"{note}; {form}")
    return Exported(out, False, f"{note}; {form}")


def _write(out: Path, fill) -> None:
    """Into a temporary sibling first, renamed when complete: a failed export leaves nothing half written."""
    tmp = out.with_name(f".{out.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        fill(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        out.rmdir()
    tmp.rename(out)


def _provenance(out: Path, run_dir: Path, technique: str, merged: bool, note: str) -> None:
    from honed.train import read_config

    info = {"run": str(run_dir.resolve()), "technique": technique, "base_model": read_config(run_dir).model,
            "merged": merged, "note": note}
    (out / PROVENANCE).write_text(json.dumps(info, indent=2) + "\n")
