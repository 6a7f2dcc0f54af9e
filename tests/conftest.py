from __future__ import annotations

from pathlib import Path

import pytest

from tiny import MEMORISE, build_model_dir, write_jsonl  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_home(request, tmp_path_factory, monkeypatch):
    """Tests get a throwaway HONED_HOME; slow tests share the user's, so the default model converts once, not per run."""
    if request.node.get_closest_marker("slow") is None:
        monkeypatch.setenv("HONED_HOME", str(tmp_path_factory.getbasetemp() / "honed-home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return build_model_dir(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def tiny_base_model(tmp_path_factory) -> Path:
    """A tiny model whose tokenizer has no chat template, like GPT-2."""
    return build_model_dir(tmp_path_factory.mktemp("tiny-base"), chat_template=None)


@pytest.fixture
def memorise_file(tmp_path) -> Path:
    return write_jsonl(tmp_path / "memorise.jsonl", MEMORISE)
