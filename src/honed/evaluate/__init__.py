"""Evaluation: BLEU, chrF, ROUGE, exact match and perplexity, tuned against base side by side."""

from honed.evaluate.runner import EvalResult, evaluate, evaluate_subject
from honed.evaluate.subjects import Subject, load_base_subject

__all__ = ["EvalResult", "Subject", "evaluate", "evaluate_subject", "load_base_subject"]

from honed.callable_module import make_callable  # noqa: E402

make_callable(__name__, "evaluate")
