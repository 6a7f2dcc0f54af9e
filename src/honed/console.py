"""How honed talks on the terminal: one setup shared by the CLI and the subprocesses it starts."""

from __future__ import annotations

import logging
import sys


def configure_output(debug: bool) -> None:
    """honed's own log lines on stderr; the libraries' chatter and weight-loading bars only with --debug."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("honed: %(message)s"))
    logger = logging.getLogger("honed")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if debug else logging.INFO)
    logger.propagate = False
    if debug:
        return
    import os
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"(peft|transformers|torch)\b")
    warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"peft\b")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # also transformers' weight-loading bars
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if "transformers" in sys.modules:  # it read the environment when imported; otherwise it reads it then, and a
        # command that never loads a model (a refusal, the launcher of --nproc) saves the 0.8 s import
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
