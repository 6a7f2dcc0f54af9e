"""Training: one path for every technique, on transformers' Trainer, writing a run directory (`honed.train` calls
`fit` here)."""

from honed.training.rundir import LoadedRun, is_run_dir, load_run, read_config, read_summary
from honed.training.runner import Trained, fit

__all__ = ["LoadedRun", "Trained", "fit", "is_run_dir", "load_run", "read_config", "read_summary"]
