"""Tokens in the environment never reach logs, configs or run directories."""

from __future__ import annotations

import os
import subprocess
import sys

from tiny import MEMORISE, write_jsonl

CANARIES = {
    "HF_TOKEN": "hf_canaryAAAA1111secret",
    "HUGGING_FACE_HUB_TOKEN": "hf_canaryBBBB2222secret",
    "WANDB_API_KEY": "wandb-canary-3333-secret",
    "OPENAI_API_KEY": "sk-canary-4444-secret",
    "AWS_SECRET_ACCESS_KEY": "aws-canary-5555-secret",
}


def test_secrets_in_the_environment_appear_nowhere(tiny_model, tmp_path):
    data = write_jsonl(tmp_path / "train.jsonl", MEMORISE * 4)
    env = {**os.environ, **CANARIES, "HF_HUB_OFFLINE": "1"}
    out = tmp_path / "run"
    outputs = []
    for args in (
        ["train", "--model", str(tiny_model), "--data", str(data), "--test-data", str(data), "--output", str(out),
         "--max-steps", "2", "--save-steps", "1", "--debug"],
        ["eval", str(out), "--baseline", "base", "--max-new-tokens", "4", "--debug"],
    ):
        result = subprocess.run([sys.executable, "-m", "honed", *args], env=env, capture_output=True, text=True,
                                timeout=600)
        assert result.returncode == 0, result.stderr
        outputs += [result.stdout, result.stderr]
    written = [p.read_bytes().decode("utf-8", errors="replace") for p in out.rglob("*") if p.is_file()]
    assert len(written) > 10  # config, summary, metrics, checkpoints, adapter, tokenizer, eval...
    for name, secret in CANARIES.items():
        assert not any(secret in text for text in outputs + written), name
