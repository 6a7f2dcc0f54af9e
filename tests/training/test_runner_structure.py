"""fit() reads as set-up, run, finish; no function in the package hides a long procedure."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import honed
from honed.training import runner

PACKAGE = Path(honed.__file__).parent
LONGEST = 60  # lines, not counting classes and functions defined inside


def _own_lines(node: ast.AST) -> int:
    nested = sum(child.end_lineno - child.lineno + 1 for child in ast.walk(node)
                 if child is not node and isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                 and not _inside_nested(node, child))
    return node.end_lineno - node.lineno + 1 - nested


def _inside_nested(root: ast.AST, target: ast.AST) -> bool:
    """Whether `target` sits inside another definition within `root` (counted once, by the outer one)."""
    for child in ast.walk(root):
        if child is root or child is target or not isinstance(child, (ast.FunctionDef, ast.ClassDef)):
            continue
        if any(inner is target for inner in ast.walk(child)):
            return True
    return False


def test_no_function_is_longer_than_a_screen():
    long = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _own_lines(node) > LONGEST:
                long.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({_own_lines(node)} lines)")
    assert not long, "split these: " + "; ".join(long)


def test_fit_is_set_up_then_run_then_finish():
    calls = [node.func.id for node in ast.walk(ast.parse(inspect.getsource(runner.fit)))
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)]
    steps = [name for name in calls if name in {"set_up", "claim_run_dir", "build_trainer", "run", "finish"}]
    assert steps == ["set_up", "claim_run_dir", "build_trainer", "run", "finish"]
    assert len(inspect.getsource(runner.fit).splitlines()) <= 10
