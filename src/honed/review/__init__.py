"""honed review: blind pairwise human review in the browser, stored in SQLite, with statistics."""

from honed.review.results import csv_export, results, text_report
from honed.review.server import make_review_server
from honed.review.sides import load_answers
from honed.review.store import Store

__all__ = ["Store", "csv_export", "load_answers", "make_review_server", "results", "text_report"]
