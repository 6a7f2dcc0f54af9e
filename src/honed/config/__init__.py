"""Configuration: the schema of a run, and how YAML and flags become one."""

from honed.config.loading import load_config, to_yaml, validate
from honed.config.schema import (
    DEFAULT_MODEL,
    CompareConfig,
    CompareEntry,
    DataConfig,
    EvalConfig,
    GenerationConfig,
    RunConfig,
    TrainingConfig,
)

__all__ = [
    "DEFAULT_MODEL",
    "CompareConfig",
    "CompareEntry",
    "DataConfig",
    "EvalConfig",
    "GenerationConfig",
    "RunConfig",
    "TrainingConfig",
    "load_config",
    "to_yaml",
    "validate",
]
