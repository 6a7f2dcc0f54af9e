"""Models: the bundled default model, GGUF conversion, and loading any causal LM with its tokenizer."""

from honed.models.cache import DEFAULT_MODEL_ALIASES, honed_home, resolve_model_path
from honed.models.loading import load_model, load_tokenizer

__all__ = ["DEFAULT_MODEL_ALIASES", "honed_home", "load_model", "load_tokenizer", "resolve_model_path"]
