"""The package's own API, as README documents it: plain functions that type checkers understand."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_python_calls() -> list[str]:
    """The README's "From Python:" example: its code spans, in order."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    paragraph = text[text.index("From Python:"):].split("\n\n", 1)[0]
    calls = [span for span in re.findall(r"`([^`]+)`", paragraph) if "honed." in span and "(" in span]
    assert len(calls) == 2, calls  # honed.train(...) and honed.evaluate(...)
    return calls


def _mypy(tmp_path: Path, code: str) -> subprocess.CompletedProcess:
    snippet = tmp_path / "snippet.py"
    snippet.write_text(code, encoding="utf-8")
    # honed's modules are read for their signatures (their bodies are not judged here); the libraries under them
    # (torch, transformers) are skipped, which keeps this at a few seconds instead of minutes.
    (tmp_path / "mypy.ini").write_text("[mypy]\nfollow_imports = skip\n[mypy-honed.*]\nfollow_imports = silent\n")
    command = [sys.executable, "-m", "mypy", "--config-file", str(tmp_path / "mypy.ini"), "--no-incremental",
               "--no-error-summary", "--python-executable", sys.executable, str(snippet)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={"MYPYPATH": str(ROOT / "src"), "PATH": ""})


def test_readme_python_example_type_checks(tmp_path):
    train, evaluate = _readme_python_calls()
    code = "\n".join([
        "from pathlib import Path",
        "from typing import assert_type",
        "import honed",
        "from honed.evaluation import EvalResult",
        train,
        "assert_type(run_dir, Path)",  # fails if honed.train is Any (a module attribute mypy cannot see through)
        f"assert_type({evaluate}, EvalResult)",
        "",
    ])
    done = _mypy(tmp_path, code)
    assert done.returncode == 0, done.stdout + done.stderr


def test_type_checkers_catch_a_wrong_call(tmp_path):
    """The check above means something: a config that is no config is refused."""
    done = _mypy(tmp_path, "import honed\nhoned.train(42)\n")
    assert done.returncode == 1 and 'Argument 1 to "train" has incompatible type "int"' in done.stdout, done.stdout


def test_train_and_evaluate_are_plain_functions_even_after_their_packages_load():
    code = ("import inspect, honed, honed.training.runner, honed.evaluation.runner; "
            "print(inspect.isfunction(honed.train), inspect.isfunction(honed.evaluate), type(honed).__name__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.split() == ["True", "True", "module"]


def test_importing_honed_loads_no_heavy_library():
    """`honed --help` and `import honed` stay instant: torch and transformers wait until the API is used."""
    code = "import sys, honed; print(sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]"
    assert inspect.signature(__import__("honed").train).parameters.keys() == {"config"}
