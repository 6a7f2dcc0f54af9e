"""The CLI on bad input: exit code 2, one `error: ...` line naming the problem, no traceback, nothing written.

Each case runs `python -m honed ARGS` in its own process and working folder, as a user would. The cases that load
the tokenizer take a few seconds each (importing transformers); see FORK_RUNNER for how they share that cost.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
import yaml

from honed.methods import get_method

TECHNIQUES = ["full", "lora", "prefix", "prompt", "adapter", "adalora", "ia3"]
GOOD_ROW = {"prompt": "Where is my order?", "completion": "It ships in two days."}
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def _env(home: Path) -> dict:
    env = dict(os.environ)
    env.update(
        HONED_HOME=str(home / "honed-home"),
        HF_HOME=str(home / "hf-home"),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
    )
    return env


def honed(args: list[str], cwd: Path, home: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "honed", *args], cwd=cwd, env=_env(home), capture_output=True, text=True,
        timeout=timeout,
    )


def snapshot(folder: Path) -> dict[str, str]:
    """Every file and folder under `folder` with a hash of its content: any write shows up as a difference."""
    tree = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        if path.is_dir():
            tree[key + "/"] = "dir"
        else:
            try:
                tree[key] = hashlib.sha256(path.read_bytes()).hexdigest()
            except PermissionError:
                tree[key] = f"unreadable {path.stat().st_size} {path.stat().st_mtime_ns}"
    return tree


def write_rows(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


# --- the cases: each sets up its working folder and returns the arguments after `honed` --------------------------


def malformed_line_17(work: Path, model: str) -> list[str]:
    text = "".join(json.dumps(GOOD_ROW) + "\n" for _ in range(16))
    text += '{"prompt": "Where is my order?", "completion": "It ships\n'  # line 17: unterminated string
    text += "".join(json.dumps(GOOD_ROW) + "\n" for _ in range(3))
    (work / "data.jsonl").write_text(text, encoding="utf-8")
    return ["train", "--model", model, "--data", "data.jsonl", "--output", "run"]


def missing_fields(work: Path, model: str) -> list[str]:
    write_rows(work / "qa.jsonl", [{"question": "Where is my order?", "answer": "It ships."}] * 3)
    return ["train", "--model", model, "--data", "qa.jsonl", "--output", "run"]


def unknown_technique(work: Path, model: str) -> list[str]:
    write_rows(work / "data.jsonl", [GOOD_ROW])
    return ["train", "--model", model, "--data", "data.jsonl", "--method", "lorra", "--output", "run"]


def unknown_technique_in_yaml(work: Path, model: str) -> list[str]:
    write_rows(work / "data.jsonl", [GOOD_ROW])
    (work / "run.yaml").write_text(f"model: {model}\ndata:\n  train: data.jsonl\nmethod: prefx\noutput: run\n")
    return ["train", "run.yaml"]


def unknown_key_set(work: Path, model: str) -> list[str]:
    write_rows(work / "data.jsonl", [GOOD_ROW])
    return ["train", "--model", model, "--data", "data.jsonl", "--set", "training.learning_rat=1e-4", "--output", "run"]


def unknown_key_yaml(work: Path, model: str) -> list[str]:
    write_rows(work / "data.jsonl", [GOOD_ROW])
    (work / "run.yaml").write_text(
        f"model: {model}\ndata:\n  train: data.jsonl\nmethod:\n  name: lora\n  rr: 4\noutput: run\n"
    )
    return ["train", "run.yaml"]


def empty_file(work: Path, model: str) -> list[str]:
    (work / "data.jsonl").write_text("")
    return ["train", "--model", model, "--data", "data.jsonl", "--output", "run"]


def non_utf8(work: Path, model: str) -> list[str]:
    (work / "data.jsonl").write_bytes(
        json.dumps(GOOD_ROW).encode() + b"\n" + b'{"prompt": "caf\xe9", "completion": "\xff\xfe"}\n'
    )
    return ["train", "--model", model, "--data", "data.jsonl", "--output", "run"]


def missing_file(work: Path, model: str) -> list[str]:
    return ["train", "--model", model, "--data", "missing.jsonl", "--output", "run"]


def unreadable_file(work: Path, model: str) -> list[str]:
    write_rows(work / "data.jsonl", [GOOD_ROW])
    (work / "data.jsonl").chmod(0)
    return ["train", "--model", model, "--data", "data.jsonl", "--output", "run"]


def folder_not_a_dataset(work: Path, model: str) -> list[str]:
    (work / "data").mkdir()
    (work / "data" / "notes.txt").write_text("not a dataset")
    return ["train", "--model", model, "--data", "data", "--output", "run"]


def every_row_too_long(work: Path, model: str) -> list[str]:
    long = "Hi there, thanks for contacting support. " * 10
    write_rows(work / "data.jsonl", [{"prompt": long, "completion": long}] * 4)
    return ["train", "--model", model, "--data", "data.jsonl", "--max-length", "8", "--output", "run"]


def max_length_below_minimum(work: Path, model: str) -> list[str]:
    write_rows(work / "data.jsonl", [GOOD_ROW])
    return ["train", "--model", model, "--data", "data.jsonl", "--max-length", "4", "--output", "run"]


def existing_output(work: Path, model: str) -> list[str]:
    write_rows(work / "data.jsonl", [GOOD_ROW])
    (work / "run").mkdir()
    (work / "run" / "sentinel.txt").write_text("a previous run's results\n")
    return ["train", "--model", model, "--data", "data.jsonl", "--output", "run"]


def invalid_yaml(work: Path, model: str) -> list[str]:
    (work / "run.yaml").write_text(f"model: {model}\ntraining:\n  epochs: 1: 2\n")
    return ["config", "run.yaml"]


def missing_config(work: Path, model: str) -> list[str]:
    return ["train", "nope.yaml", "--output", "run"]


PAIR = {"prompt": "Where is my order?", "chosen": "It ships in two days.", "rejected": "No idea."}


def preference_without_rejected(work: Path, model: str) -> list[str]:
    write_rows(work / "prefs.jsonl", [{"prompt": "Where is my order?", "chosen": "It ships.", "answer": "No."}] * 3)
    return ["train", "--model", model, "--data", "prefs.jsonl", "--objective", "dpo", "--output", "run"]


def preference_of_unknown_fields(work: Path, model: str) -> list[str]:
    write_rows(work / "prefs.jsonl", [{"question": "Where is my order?", "good": "It ships.", "bad": "No."}] * 3)
    return ["train", "--model", model, "--data", "prefs.jsonl", "--objective", "dpo", "--output", "run"]


def kto_with_one_label(work: Path, model: str) -> list[str]:
    write_rows(work / "kto.jsonl", [{**GOOD_ROW, "label": True}] * 4)
    return ["train", "--model", model, "--data", "kto.jsonl", "--objective", "kto", "--output", "run"]


def dpo_on_an_sft_file(work: Path, model: str) -> list[str]:
    write_rows(work / "data.jsonl", [GOOD_ROW] * 3)
    return ["train", "--model", model, "--data", "data.jsonl", "--objective", "dpo", "--output", "run"]


def sft_on_a_preference_file(work: Path, model: str) -> list[str]:
    write_rows(work / "prefs.jsonl", [PAIR] * 3)
    return ["train", "--model", model, "--data", "prefs.jsonl", "--output", "run"]


def from_a_run_of_another_model(work: Path, model: str) -> list[str]:
    """A finished run (by the run directory's contract: config.yaml and summary.json) of another base model."""
    (work / "sft").mkdir()
    (work / "sft" / "config.yaml").write_text("model: someone/other-model\nmethod: lora\n")
    (work / "sft" / "summary.json").write_text("{}\n")
    write_rows(work / "prefs.jsonl", [PAIR] * 3)
    return ["train", "--from", "sft", "--model", model, "--data", "prefs.jsonl", "--objective", "dpo",
            "--output", "run"]


def debug_shows_traceback(work: Path, model: str) -> list[str]:
    return ["--debug", "train", "--model", model, "--data", "missing.jsonl", "--output", "run"]


def serve_batch_of_zero(work: Path, model: str) -> list[str]:
    return ["serve", model, "--max-batch", "0"]


def studio_without_a_workspace(work: Path, model: str) -> list[str]:
    return ["studio", "--workspace", str(work / "nowhere")]


def studio_upload_limit_of_zero(work: Path, model: str) -> list[str]:
    return ["studio", "--workspace", str(work), "--upload-limit-mb", "0"]


@dataclass
class Case:
    setup: Callable[[Path, str], list[str]]
    expected: list[str] = field(default_factory=list)
    skip: str | None = None


CASES = {
    "malformed-jsonl": Case(malformed_line_17, ["data.jsonl:17: invalid JSON ("]),
    "missing-fields": Case(
        missing_fields,
        ["qa.jsonl:1: no known record shape", "found fields: question, answer",
         "expected: text | prompt + completion | instruction (+ input) + output | messages"],
    ),
    "unknown-technique": Case(
        unknown_technique,
        ["unknown technique 'lorra' (did you mean 'lora'?)", "valid: ", *TECHNIQUES],
    ),
    "unknown-technique-yaml": Case(
        unknown_technique_in_yaml,
        ["run.yaml:4: method: unknown technique 'prefx' (did you mean 'prefix'?)", "valid: ", *TECHNIQUES],
    ),
    "unknown-key-set": Case(
        unknown_key_set, ["training.learning_rat: unknown key (did you mean 'learning_rate'?)", "valid keys here: "]
    ),
    "unknown-key-yaml": Case(
        unknown_key_yaml, ["run.yaml:6: method.rr: unknown key (did you mean 'r'?)", "valid keys here: r, alpha"]
    ),
    "empty-file": Case(empty_file, ["data.jsonl: no records"]),
    "serve-batch-of-zero": Case(serve_batch_of_zero, ["--max-batch must be 1 or more"]),
    "studio-without-a-workspace": Case(studio_without_a_workspace, ["nowhere: no such folder"]),
    "studio-upload-limit-of-zero": Case(studio_upload_limit_of_zero, ["--upload-limit-mb 0.0: give a size above 0"]),
    "non-utf8": Case(non_utf8, ["data.jsonl:2: not UTF-8 text", "save the file as UTF-8"]),
    "missing-file": Case(missing_file, ["missing.jsonl: no such file"]),
    "unreadable-file": Case(
        unreadable_file, ["data.jsonl: cannot read"], skip="root reads any file" if IS_ROOT else None
    ),
    "folder-not-a-dataset": Case(folder_not_a_dataset, ["data: a folder, but not one written by datasets' save_to_disk"]),
    "every-row-too-long": Case(every_row_too_long, ["every row is too long", "data.max_length=8"]),
    "max-length-below-8": Case(
        max_length_below_minimum, ["data.max_length: Input should be greater than or equal to 8 (got 4)"]
    ),
    "existing-output": Case(existing_output, ["run: already holds files", "--overwrite"]),
    "invalid-yaml": Case(invalid_yaml, ["run.yaml:3: invalid YAML ("]),
    "missing-config": Case(missing_config, ["nope.yaml: no such config file"]),
    "preference-without-rejected": Case(
        preference_without_rejected,
        ["prefs.jsonl:1: has 'chosen' but no 'rejected'", "found fields: prompt, chosen, answer"],
    ),
    "preference-of-unknown-fields": Case(
        preference_of_unknown_fields,
        ["prefs.jsonl:1: --objective dpo needs prompt + chosen + rejected", "found fields: question, good, bad"],
    ),
    "kto-with-one-label": Case(kto_with_one_label, ["kto.jsonl: every row has label true (desirable)", "kto"]),
    "dpo-on-an-sft-file": Case(
        dpo_on_an_sft_file, ["data.jsonl:1: --objective dpo needs prompt + chosen + rejected",
                             "found fields: prompt, completion"],
    ),
    "sft-on-a-preference-file": Case(
        sft_on_a_preference_file, ["prefs.jsonl:1: rows are preference rows", "--objective dpo"]
    ),
    "from-a-run-of-another-model": Case(
        from_a_run_of_another_model,
        ["--from sft: that run fine-tuned someone/other-model, but this run's model is "],
    ),
}
DEBUG = "debug"


@dataclass
class Outcome:
    result: subprocess.CompletedProcess
    before: dict[str, str]
    after: dict[str, str]
    home: Path


# Importing torch/transformers/peft takes ~4 s of CPU per `python -m honed train`, and this machine runs about one
# process at a time, so the many cases would take a minute. Instead one subprocess imports them once and forks a
# child per case; each child runs `python -m honed ARGS` (runpy on honed.__main__, as `-m` does) in its own working
# folder with its own HONED_HOME, stdout and stderr, and exits with its own code; an uncaught exception prints its
# traceback and exits 1, as the interpreter would. test_fork_runner_matches_python_m checks that, for two cases, the
# outcome is identical to a real `python -m honed`.
FORK_RUNNER = r"""
import json, os, runpy, sys, traceback
import datasets, honed.cli.main, honed.training.runner, trl.data_utils  # the slow imports, done once
from transformers import AutoTokenizer
AutoTokenizer.from_pretrained(sys.argv[1])  # loads transformers' lazy tokenizer modules too
results = {}
for job in json.loads(sys.stdin.read()):
    sys.stdout.flush(); sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.chdir(job["cwd"])
            os.environ["HONED_HOME"] = job["honed_home"]
            out = os.open(job["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            err = os.open(job["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(out, 1); os.dup2(err, 2)
            sys.argv = ["honed", *job["args"]]
            try:
                runpy.run_module("honed", run_name="__main__", alter_sys=True)
                code = 0
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
                if not isinstance(e.code, (int, type(None))):
                    print(e.code, file=sys.stderr)
            except BaseException:
                traceback.print_exc()
                code = 1
        finally:
            try:
                sys.stdout.flush(); sys.stderr.flush()
            finally:
                os._exit(code)
    _, status = os.waitpid(pid, 0)
    results[job["name"]] = os.waitstatus_to_exitcode(status)
print(json.dumps(results))
"""


def run_forked(jobs: dict[str, tuple[list[str], Path, Path]], model: Path, scratch: Path) -> dict:
    """name -> CompletedProcess for each (args, cwd, home), as if each were `python -m honed ARGS` run in cwd."""
    if not hasattr(os, "fork"):
        return {name: honed(args, cwd, home) for name, (args, cwd, home) in jobs.items()}
    payload = [
        {
            "name": name, "args": args, "cwd": str(cwd), "honed_home": str(home / "honed-home"),
            "stdout": str(scratch / f"{name}.out"), "stderr": str(scratch / f"{name}.err"),
        }
        for name, (args, cwd, home) in jobs.items()
    ]
    runner = subprocess.run(
        [sys.executable, "-c", FORK_RUNNER, str(model)], input=json.dumps(payload), capture_output=True, text=True,
        env=_env(scratch), cwd=scratch, timeout=300,
    )
    assert runner.returncode == 0, runner.stderr
    codes = json.loads(runner.stdout.strip().splitlines()[-1])
    return {
        name: subprocess.CompletedProcess(
            ["honed", *jobs[name][0]], codes[name],
            (scratch / f"{name}.out").read_text(), (scratch / f"{name}.err").read_text(),
        )
        for name in jobs
    }


def prepare(name: str, setup, model: Path, tmp_path_factory) -> tuple[list[str], Path, Path, dict]:
    root = tmp_path_factory.mktemp(f"cli-{name}")
    work, home = root / "work", root / "home"
    work.mkdir()
    home.mkdir()
    args = setup(work, str(model))
    return args, work, home, snapshot(work)


@pytest.fixture(scope="module")
def outcomes(tiny_model, tmp_path_factory) -> dict[str, Outcome]:
    setups = {name: case.setup for name, case in CASES.items() if not case.skip}
    setups[DEBUG] = debug_shows_traceback
    prepared = {name: prepare(name, setup, tiny_model, tmp_path_factory) for name, setup in setups.items()}
    results = run_forked(
        {name: (args, work, home) for name, (args, work, home, _) in prepared.items()},
        tiny_model, tmp_path_factory.mktemp("fork-runner"),
    )
    return {
        name: Outcome(results[name], before, snapshot(work), home) for name, (_, work, home, before) in prepared.items()
    }


@pytest.mark.parametrize("name", ["unknown-key-yaml", "malformed-jsonl"])
def test_fork_runner_matches_python_m(outcomes, tiny_model, tmp_path_factory, name):
    args, work, home, before = prepare(f"{name}-real", CASES[name].setup, tiny_model, tmp_path_factory)
    real = honed(args, work, home)
    forked = outcomes[name].result
    assert (real.returncode, real.stdout, real.stderr) == (forked.returncode, forked.stdout, forked.stderr)
    assert snapshot(work) == before


def _files_under(folder: Path) -> list[str]:
    return [str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.skip(reason=c.skip)) if c.skip else n for n, c in CASES.items()]
)
def test_bad_input_is_one_error_line(outcomes, name):
    outcome = outcomes[name]
    result = outcome.result
    stderr = result.stderr.strip()
    assert result.returncode == 2, f"exit {result.returncode}\nstderr:\n{result.stderr}"
    assert "Traceback" not in result.stderr
    assert "\n" not in stderr, f"more than one line on stderr:\n{result.stderr}"
    assert stderr.startswith("error: "), stderr
    for text in CASES[name].expected:
        assert text in stderr, f"{text!r} not in {stderr!r}"
    assert result.stdout.strip() == ""
    # nothing written or overwritten: the working folder (data, any --output, a sentinel) is byte for byte the same
    assert outcome.after == outcome.before
    assert "runs/" not in outcome.after  # not even the default output folder
    assert _files_under(outcome.home / "honed-home") == []


def test_existing_output_keeps_its_files(outcomes):
    outcome = outcomes["existing-output"]
    assert outcome.result.returncode == 2
    assert "run/sentinel.txt" in outcome.after
    assert outcome.after["run/sentinel.txt"] == hashlib.sha256(b"a previous run's results\n").hexdigest()
    assert {k for k in outcome.after if k.startswith("run/")} == {"run/", "run/sentinel.txt"}


def test_debug_shows_the_traceback(outcomes):
    outcome = outcomes[DEBUG]
    result = outcome.result
    assert result.returncode != 0
    assert "Traceback (most recent call last)" in result.stderr
    assert "UserError" in result.stderr
    assert "missing.jsonl: no such file" in result.stderr
    assert outcome.after == outcome.before


# --- the commands that succeed --------------------------------------------------------------------------------------


def test_help(tmp_path):
    result = honed(["--help"], tmp_path, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: honed")
    for verb in ("train", "eval", "methods", "config", "--debug", "--version"):
        assert verb in result.stdout
    assert result.stderr == ""


def test_no_command_prints_help(tmp_path):
    result = honed([], tmp_path, tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith("usage: honed")


def test_train_help_documents_flags_from_the_schema(tmp_path):
    result = honed(["train", "--help"], tmp_path, tmp_path)
    assert result.returncode == 0, result.stderr
    for flag in ("--method", "--model", "--data", "--max-length", "--output", "--overwrite", "--set", "--lr"):
        assert flag in result.stdout
    assert "Longest row in tokens" in " ".join(result.stdout.split())  # the max_length field's docstring


def test_methods_lists_every_technique_with_its_parameters(tmp_path):
    result = honed(["methods"], tmp_path, tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    blocks = {block.split()[0]: block for block in out.strip().split("\n\n") if block.strip()}
    assert [name for name in blocks if name in TECHNIQUES] == TECHNIQUES  # all seven, in the documented order
    parameters = {
        "lora": ["r = 8", "alpha = 32", "dropout = 0.1", "target_modules = 'all-linear'", "use_dora = False"],
        "prefix": ["num_virtual_tokens = 20", "prefix_projection = False"],
        "prompt": ["num_virtual_tokens = 20", "init_text = None"],
        "adapter": ["bottleneck_size = 64", "scaling = 1.0"],
        "adalora": ["target_r = 8", "init_r = 12", "tinit = 200", "tfinal = 1000"],
        "ia3": ["target_modules = None", "feedforward_modules = None"],
    }
    for name in TECHNIQUES:
        assert "default learning rate" in blocks[name]
        for parameter in parameters.get(name, []):
            assert parameter in blocks[name], f"{parameter!r} missing from {name}:\n{blocks[name]}"
    # full fine-tuning has no settings: summary, learning rate and its measured figures (a line per use case) only
    assert len(blocks["full"].splitlines()) == 2 + 1 + len(get_method("full").lr_measured)
    assert "--method NAME" in out


def test_config_prints_the_resolved_config(tmp_path, memorise_file):
    (tmp_path / "run.yaml").write_text(
        f"model: some/local-model\nmethod: {{name: adapter, bottleneck_size: 16}}\n"
        f"data:\n  train: {memorise_file.name}\ntraining:\n  epochs: 2\n"
    )
    result = honed(["config", "run.yaml", "--lr", "0.001", "--set", "training.batch_size=3"], tmp_path, tmp_path)
    assert result.returncode == 0, result.stderr
    printed = yaml.safe_load(result.stdout)
    assert printed["model"] == "some/local-model"
    assert printed["method"]["name"] == "adapter"
    assert printed["method"]["bottleneck_size"] == 16
    assert printed["method"]["scaling"] == 1.0  # a default, filled in
    assert printed["data"]["train"] == str(memorise_file.resolve())
    assert printed["training"]["epochs"] == 2
    assert printed["training"]["learning_rate"] == 0.001
    assert printed["training"]["batch_size"] == 3
    assert printed["output"] == "runs/adapter"
    assert printed["data"]["max_length"] == 1024  # defaults are filled in
    assert list(tmp_path.iterdir()) and not (tmp_path / "runs").exists()  # config loads and writes nothing
