"""honed chat in a terminal: streamed answers, the run's template, /reset forgets, /exit and EOF end."""

from __future__ import annotations

import subprocess
import sys

from honed.training import fit
from tiny import write_jsonl


def _chat(run_dir, lines: list[str], *flags) -> list[str]:
    result = subprocess.run([sys.executable, "-m", "honed", "chat", str(run_dir), "--max-new-tokens", "6", *flags],
                            input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    answers = [part.strip() for part in result.stdout.split("> ")[1:]]
    return [a for a in answers if a and not a.startswith("(conversation")]


def test_chat_answers_and_reset_forgets(tiny_model, tmp_path):
    data = write_jsonl(tmp_path / "t.jsonl", [{"prompt": f"Question {i}?", "completion": "It ships."} for i in range(6)])
    run = fit({"model": str(tiny_model), "data": {"train": str(data)}, "training": {"max_steps": 2},
               "output": str(tmp_path / "run")}).run_dir
    with_reset = _chat(run, ["Question 3?", "/reset", "Question 4?", "/exit"])
    fresh = _chat(run, ["Question 4?"])  # ends at EOF
    assert len(with_reset) == 2 and len(fresh) == 1
    assert with_reset[1] == fresh[0]  # after /reset the earlier turn is gone from the context
    with_system = _chat(run, ["Question 4?"], "--system", "Answer in French.")
    assert len(with_system) == 1


def test_out_of_range_flags_are_one_line_errors(tiny_model):
    result = subprocess.run([sys.executable, "-m", "honed", "chat", str(tiny_model), "--temperature", "-1"],
                            input="hi\n", capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: --max-new-tokens must be 1 or more")
