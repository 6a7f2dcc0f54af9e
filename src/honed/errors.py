"""Errors meant for the user, as opposed to bugs.

The CLI prints a `UserError` as one line and exits with code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """Bad input from the user: a file, a config key, a flag. Printed as one line, exit code 2."""

    exit_code = 2


def nearest(word: str, choices: Iterable[str]) -> str:
    """' (did you mean X?)' when a choice is close to what the user typed, else ''."""
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""
