"""Moved to `honed.generation`, which evaluate, serve and chat share. This name is kept only for
`honed.export.ollama`, which is being written as this moves; delete this file once it imports from there."""

from honed.generation import stop_token_ids

__all__ = ["stop_token_ids"]
