"""Evaluation: BLEU, chrF, ROUGE, exact match and perplexity, tuned against base side by side."""

from honed.evaluate.runner import EvalResult, evaluate

__all__ = ["EvalResult", "evaluate"]

from honed.callable_module import make_callable  # noqa: E402

make_callable(__name__, "evaluate")
