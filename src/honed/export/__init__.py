"""honed export: a tuned run as a plain transformers model (merged) or as its adapter, for use outside honed, or as
a GGUF model or LoRA adapter for llama.cpp and Ollama."""

from honed.export.exporter import Exported, export, export_gguf, export_gguf_adapter

__all__ = ["Exported", "export", "export_gguf", "export_gguf_adapter"]
