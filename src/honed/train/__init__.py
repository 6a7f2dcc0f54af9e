"""Training: one path for every technique, on transformers' Trainer, writing a run directory."""

from honed.train.rundir import LoadedRun, is_run_dir, load_run, read_config, read_summary
from honed.train.runner import Trained, fit, train

__all__ = ["LoadedRun", "Trained", "fit", "is_run_dir", "load_run", "read_config", "read_summary", "train"]

from honed.callable_module import make_callable  # noqa: E402

make_callable(__name__, "train")
