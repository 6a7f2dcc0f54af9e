"""Training: one path for every technique, on transformers' Trainer, writing a run directory (`honed.train` calls
`fit` here)."""

from honed.rundir import LoadedRun, is_run_dir, load_run, read_config, read_summary
from honed.training.runner import Trained, fit

# The run directory's readers live in honed.rundir; they are named here too, beside the trainer that writes runs.
__all__ = ["LoadedRun", "Trained", "fit", "is_run_dir", "load_run", "read_config", "read_summary"]
