"""Load a causal LM and its tokenizer from whatever the user named."""

from __future__ import annotations

import logging

from honed.errors import UserError
from honed.models.cache import resolve_model_path

log = logging.getLogger("honed")


def load_tokenizer(reference: str, trust_remote_code: bool = False):
    """A base model's tokenizer, with a pad token and a chat template (honed's fallback when it has none). Every
    command that prompts a base model (train, eval, compare, serve, chat) loads it here, so all of them render
    conversations alike; a run keeps the tokenizer it trained with in its own folder."""
    from transformers import AutoTokenizer

    from honed.data.encoding import ensure_chat_template

    path = resolve_model_path(reference)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    except OSError as e:
        raise UserError(f"model {reference!r}: cannot load its tokenizer ({_first_line(e)})") from None
    given = ensure_chat_template(tokenizer)
    if given:
        log.warning("model %s has no chat template; using %s (saved with runs)", reference, given)
    return tokenizer


def load_model(reference: str, dtype=None, trust_remote_code: bool = False, **options):
    """`options` go to from_pretrained as they are (training.fsdp passes a DistributedConfig: transformers shards
    the model across the processes as it loads)."""
    import torch
    from transformers import AutoModelForCausalLM

    path = resolve_model_path(reference)
    try:
        return AutoModelForCausalLM.from_pretrained(
            path, dtype=dtype or torch.float32, trust_remote_code=trust_remote_code, **options
        )
    except OSError as e:
        raise UserError(f"model {reference!r}: not a local folder and not reachable on the hub ({_first_line(e)})") from None


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
