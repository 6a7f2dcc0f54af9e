"""Evaluation: BLEU, chrF, ROUGE, exact match and perplexity, tuned against base side by side (`honed.evaluate`
calls `evaluate` here)."""

from honed.evaluation.runner import EvalResult, evaluate, evaluate_subject
from honed.evaluation.subjects import Subject, load_base_subject

__all__ = ["EvalResult", "Subject", "evaluate", "evaluate_subject", "load_base_subject"]
