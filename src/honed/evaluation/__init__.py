"""Evaluation: BLEU, chrF, ROUGE, exact match and perplexity, tuned against base side by side (`honed.evaluate`
loads a subject and its baseline with these, then scores them)."""

from honed.evaluation.runner import EvalResult, evaluate_subject
from honed.evaluation.subjects import Subject, load_base_subject, load_baseline, load_subject

__all__ = ["EvalResult", "Subject", "evaluate_subject", "load_base_subject", "load_baseline", "load_subject"]
