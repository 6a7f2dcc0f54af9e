"""honed compare: every technique on the same data and budget, measured side by side (sits on train and evaluate)."""

from honed.compare.budget import BUDGETS, Budget
from honed.compare.results import ContestantResult
from honed.compare.sweep import Comparison, compare

__all__ = ["BUDGETS", "Budget", "Comparison", "ContestantResult", "compare"]
