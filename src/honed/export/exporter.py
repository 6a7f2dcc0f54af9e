"""Merge an adapter into its base model, or copy the adapter out, with the tokenizer and chat template alongside;
or write either as GGUF for llama.cpp and Ollama."""

from __future__ import annotations

import json
import logging
import os
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
    run_dir, out = Path(run_dir), Path(output)
    _, method = _run(run_dir)
    _check_free(out, overwrite)
    if adapter_only:
        if method.standalone:
            raise UserError(f"{run_dir}: full fine-tuning has no adapter; its whole model is in {run_dir / 'model'} "
                            "(or use --merge)")
        return _copy_adapter(run_dir, method, out, "adapter exported as asked")
    if method.standalone:
        return _save_model(run_dir, method, out, "full fine-tuning: the run's model is already a whole model")
    if not method.can_merge:
        log.warning("%s; exporting the adapter instead", method.unmergeable_because)
        return _copy_adapter(run_dir, method, out, f"not merged: {method.unmergeable_because}")
    return _merge(run_dir, out, method.name)


def _check_free(out: Path, overwrite: bool) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        if not overwrite:
            raise UserError(f"{out}: already exists and is not empty; pass --overwrite or choose another folder")
        shutil.rmtree(out) if out.is_dir() else out.unlink()


def _merge(run_dir: Path, out: Path, technique: str) -> Exported:
    from honed.rundir import load_run

    run = load_run(run_dir)
    merged = run.model.merge_and_unload()
    merged.config.use_cache = True
    _write(out, lambda tmp: (merged.save_pretrained(str(tmp), safe_serialization=True),
                             run.tokenizer.save_pretrained(str(tmp))))
    note = f"{technique} merged into the base model; load with AutoModelForCausalLM.from_pretrained({str(out)!r})"
    _provenance(out, run_dir, technique, merged=True, note=note)
    return Exported(out, True, note)


def _save_model(run_dir: Path, method, out: Path, note: str) -> Exported:
    from honed import rundir

    def copy(tmp: Path) -> None:
        shutil.copytree(run_dir / method.artifact_dir, tmp, dirs_exist_ok=True)
        shutil.copytree(run_dir / rundir.TOKENIZER_DIR, tmp, dirs_exist_ok=True)

    _write(out, copy)
    _provenance(out, run_dir, "full", merged=True, note=note)
    return Exported(out, True, note)


def _copy_adapter(run_dir: Path, method, out: Path, note: str) -> Exported:
    from honed import rundir

    def copy(tmp: Path) -> None:
        shutil.copytree(run_dir / method.artifact_dir, tmp, dirs_exist_ok=True)
        shutil.copytree(run_dir / rundir.TOKENIZER_DIR, tmp / rundir.TOKENIZER_DIR)

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
    from honed.rundir import read_config

    info = {"run": str(run_dir.resolve()), "technique": technique, "base_model": read_config(run_dir).model,
            "merged": merged, "note": note}
    (out / PROVENANCE).write_text(json.dumps(info, indent=2) + "\n")


def export_gguf(run_dir: str | Path, output: str | Path, quant: str = "q8_0", overwrite: bool = False) -> Exported:
    """The tuned model as one GGUF file for llama.cpp (LoRA, AdaLoRA and IA3 merged first; full fine-tuning as
    is), with an Ollama Modelfile beside it. Everything that can be refused is refused before anything loads."""
    from honed import rundir
    from honed.export import gguf, ollama

    run_dir, out = Path(run_dir), Path(output)
    config, method = _run(run_dir)
    gguf.check_quant(quant)
    if not method.standalone and not method.can_merge:
        raise UserError(f"{run_dir}: a {method.name} run cannot become a GGUF model ({method.unmergeable_because}); "
                        f"--gguf takes {', '.join(_gguf_techniques())} runs")
    gguf.architecture(_base_config(run_dir, config, method))
    side = ollama.modelfile_path(out)
    _check_file_free([out, side], overwrite)
    _warn_if_same_grid(_source_gguf(config.model), quant)
    run = rundir.load_run(run_dir)
    model = run.model if method.standalone else run.model.merge_and_unload()
    gguf.write_model(out, model, run.tokenizer, run_dir / rundir.TOKENIZER_DIR, quant, run_dir.name,
                     _source_gguf(config.model))
    text, family = ollama.modelfile(f"./{out.name}", run.tokenizer)
    _write_text(side, text)
    how = "as is" if method.standalone else "merged"
    holds = ", ".join(f"{kind} x{count}" for kind, count in gguf.tensor_types(out).items())
    return Exported(out, True, f"{method.name} {how}, {quant} ({_size(out)}; tensors: {holds}); llama.cpp: "
                               f"llama-cli -m {out}; Ollama: ollama create {run_dir.name} -f {side} ({family})")


def export_gguf_adapter(run_dir: str | Path, output: str | Path, overwrite: bool = False) -> Exported:
    """A LoRA run as a llama.cpp LoRA adapter GGUF, to apply on a GGUF of its base model (for the default model,
    the very Q4_1 file honed started from), with an Ollama Modelfile (FROM base, ADAPTER this file) beside it."""
    from safetensors.torch import load_file

    from honed import rundir
    from honed.export import gguf, ollama

    run_dir, out = Path(run_dir), Path(output)
    config, method = _run(run_dir)
    alpha = _llama_cpp_alpha(run_dir, method)
    base_config = _base_config(run_dir, config, method)
    gguf.architecture(base_config)
    side = ollama.modelfile_path(out)
    _check_file_free([out, side], overwrite)
    adapter = load_file(str(run_dir / method.artifact_dir / "adapter_model.safetensors"))
    gguf.write_lora_adapter(out, adapter, base_config, alpha, run_dir.name)
    base = _source_gguf(config.model)
    tokenizer = rundir.load_run_tokenizer(run_dir)
    text, family = ollama.modelfile(str(base) if base else config.model, tokenizer, f"./{out.name}")
    _write_text(side, text)
    on = f"the base GGUF {base}" if base else f"a GGUF of the base model {config.model}"
    return Exported(out, False, f"LoRA adapter for llama.cpp, to apply on {on}: llama-cli -m {base or 'BASE.gguf'} "
                                f"--lora {out}; Ollama: ollama create {run_dir.name} -f {side} ({family})")


def _warn_if_same_grid(base: Path | None, quant: str) -> None:
    """A base model read from a GGUF holds weights that lie on its quant's grid; re-quantising the tuned model to
    that same type rounds small updates back onto the points they started from (measured: the demo's LoRA run as
    q4_1, the default model's own type, scored ROUGE-L 17.0 in llama.cpp against 40.3 in f16; docs/gguf.md)."""
    from honed.export.gguf import file_type, gguf_file_type

    if base is not None and base.is_file() and gguf_file_type(base) == int(file_type(quant)):
        log.warning("the base model came from %s, itself %s: re-quantising to the same type rounds much of the tuning "
                    "away; choose another --quant (q5_k_m, q8_0) or --gguf-adapter on that file", base.name, quant)


def _size(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:,.1f} MB"


def _gguf_techniques() -> list[str]:
    from honed.methods import all_methods

    return [m.name for m in all_methods() if m.standalone or m.can_merge]


def _run(run_dir: Path):
    from honed.methods import get_method
    from honed.rundir import read_config

    config = read_config(run_dir)
    return config, get_method(config.method.name)


def _base_config(run_dir: Path, config, method):
    """The transformers config of the model the run's weights belong to, read without loading any weights."""
    from transformers import AutoConfig

    from honed.models import resolve_model_path

    source = run_dir / method.artifact_dir if method.standalone else resolve_model_path(config.model)
    return AutoConfig.from_pretrained(str(source), trust_remote_code=config.trust_remote_code)


def _source_gguf(model: str) -> Path | None:
    """The GGUF file a run's base model was converted from (the default model's, or a .gguf --model), if any."""
    from honed.models.cache import DEFAULT_MODEL_ALIASES, default_gguf_file

    if model.lower() in DEFAULT_MODEL_ALIASES:
        return default_gguf_file()
    return Path(model).resolve() if model.endswith(".gguf") else None


def _llama_cpp_alpha(run_dir: Path, method) -> float:
    """The adapter.lora.alpha that makes llama.cpp's scale (alpha / rank) equal peft's; refuses what llama.cpp's
    LoRA adapters cannot express."""
    if method.name != "lora":
        what = "full fine-tuning has no adapter" if method.standalone else f"this {method.name} run is not a LoRA"
        hint = "use --gguf for a whole model" if method.standalone or method.can_merge else \
            f"and cannot be merged either ({method.unmergeable_because})"
        raise UserError(f"{run_dir}: --gguf-adapter writes llama.cpp LoRA adapters, and {what}; {hint}")
    peft_config = json.loads((run_dir / method.artifact_dir / "adapter_config.json").read_text())
    if peft_config.get("use_dora"):
        raise UserError(f"{run_dir}: DoRA's magnitude vectors have no llama.cpp adapter form; use --gguf to merge it")
    if peft_config.get("rank_pattern") or peft_config.get("alpha_pattern") or peft_config.get("modules_to_save"):
        raise UserError(f"{run_dir}: per-module ranks or saved modules have no llama.cpp adapter form; use --gguf")
    alpha, rank = float(peft_config["lora_alpha"]), int(peft_config["r"])
    return alpha * rank ** 0.5 if peft_config.get("use_rslora") else alpha  # rsLoRA scales by alpha / sqrt(r)


def _check_file_free(paths: list[Path], overwrite: bool) -> None:
    for path in paths:
        if path.is_dir():
            raise UserError(f"{path}: is a folder; name the .gguf file to write")
        if path.exists() and not overwrite:
            raise UserError(f"{path}: already exists; pass --overwrite or choose another name")
    paths[0].parent.mkdir(parents=True, exist_ok=True)


def _write_text(path: Path, text: str) -> None:
    """A small file, written to a temporary sibling and renamed, like everything export writes."""
    tmp = path.with_name(f".{path.name}.partial")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as error:
        raise UserError(f"{path}: could not write ({error.strerror or error})") from None
    finally:
        tmp.unlink(missing_ok=True)
