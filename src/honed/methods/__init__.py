"""Techniques: one folder each, registered by name when imported here (as peft keeps one folder per tuner)."""

from honed.methods import adalora, adapter, full, ia3, lora, prefix, prompt  # noqa: F401  (registration)
from honed.methods.base import BuildContext, Method, MethodConfig
from honed.methods.describe import describe_methods
from honed.methods.registry import all_methods, get_method, method_names

__all__ = ["BuildContext", "Method", "MethodConfig", "all_methods", "describe_methods", "get_method", "method_names"]
