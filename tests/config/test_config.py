"""load_config: YAML, flags and --set in that order of precedence, and every problem named by file, line and key."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from honed.config import RunConfig, load_config, to_yaml, validate
from honed.errors import UserError
from honed.methods import method_names

REPO = Path(__file__).resolve().parents[2]
TECHNIQUES = ["full", "lora", "prefix", "prompt", "adapter", "adalora", "ia3"]


def write_yaml(folder: Path, text: str, name: str = "run.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def error_of(*args, **kwargs) -> str:
    with pytest.raises(UserError) as raised:
        load_config(*args, **kwargs)
    return str(raised.value)


def test_defaults_without_a_file():
    config = load_config()
    assert isinstance(config, RunConfig)
    assert config.model == "smollm2-135m"
    assert config.method.name == "lora" and config.method.r == 8
    assert config.output is None and config.run_dir == Path("runs/lora")  # each verb has its own default
    assert config.data.max_length == 1024 and config.data.train_on == "completion"
    assert config.training.learning_rate is None


def test_yaml_values_are_read(tmp_path):
    path = write_yaml(tmp_path, """
        model: my/model
        method: {name: lora, r: 16, alpha: 8}
        training:
          epochs: 3
          learning_rate: 1.0e-3
        output: runs/mine
    """)
    config = load_config(path)
    assert config.model == "my/model"
    assert (config.method.name, config.method.r, config.method.alpha) == ("lora", 16, 8)
    assert config.training.epochs == 3 and config.training.learning_rate == 1e-3
    assert config.output == "runs/mine"


@pytest.mark.parametrize(
    ("values", "overrides", "expected"),
    [
        ({}, [], 1e-3),  # YAML alone
        ({"training.learning_rate": 2e-3}, [], 2e-3),  # a flag beats the YAML
        ({}, ["training.learning_rate=3e-3"], 3e-3),  # --set beats the YAML
        ({"training.learning_rate": 2e-3}, ["training.learning_rate=3e-3"], 3e-3),  # --set beats the flag
        ({"training.learning_rate": None}, [], 1e-3),  # a flag not given leaves the YAML value
    ],
)
def test_precedence_yaml_then_flags_then_set(tmp_path, values, overrides, expected):
    path = write_yaml(tmp_path, """
        training:
          learning_rate: 1.0e-3
          batch_size: 2
    """)
    config = load_config(path, overrides, values)
    assert config.training.learning_rate == expected
    assert config.training.batch_size == 2  # untouched keys keep the YAML value


@pytest.mark.parametrize(
    ("item", "key", "value"),
    [
        ("training.epochs=2.5", "epochs", 2.5),
        ("training.gradient_checkpointing=true", "gradient_checkpointing", True),
        ("training.max_steps=10", "max_steps", 10),
        ("training.scheduler=linear", "scheduler", "linear"),
        ("training.max_steps=", "max_steps", None),  # empty value is null
    ],
)
def test_set_values_are_parsed_as_yaml(item, key, value):
    assert getattr(load_config(overrides=[item]).training, key) == value


def test_set_nested_mapping_value():
    config = load_config(overrides=["data.fields={prompt: question, completion: answer}"])
    assert config.data.fields == {"prompt": "question", "completion": "answer"}


@pytest.mark.parametrize("item", ["training.epochs", "=3", "  =3"])
def test_set_without_key_value_is_an_error(item):
    message = error_of(overrides=[item])
    assert message.startswith(f"--set {item!r}: expected key=value")


@pytest.mark.parametrize("name", TECHNIQUES)
def test_method_name_shorthand(tmp_path, name):
    config = load_config(write_yaml(tmp_path, f"method: {name}\n"))
    assert config.method.name == name
    assert config.method == type(config.method)()  # every setting at its default
    assert config.run_dir == Path(f"runs/{name}")


def test_method_mapping_without_name_is_lora():
    config = validate({"method": {"r": 4}})
    assert config.method.name == "lora" and config.method.r == 4


def test_set_into_a_method_given_by_name(tmp_path):
    config = load_config(write_yaml(tmp_path, "method: lora\n"), overrides=["method.r=32"])
    assert config.method.name == "lora" and config.method.r == 32


@pytest.mark.parametrize(
    ("values", "overrides"),
    [
        ({"method": "prefix"}, []),
        ({}, ["method=prefix"]),
    ],
    ids=["flag", "set"],
)
def test_switching_method_drops_the_old_methods_keys(tmp_path, values, overrides):
    path = write_yaml(tmp_path, """
        method:
          name: lora
          r: 16
          use_dora: true
    """)
    config = load_config(path, overrides, values)
    assert config.method.name == "prefix"
    assert config.method.num_virtual_tokens == 20
    assert config.run_dir == Path("runs/prefix")


def test_switching_method_then_setting_its_keys(tmp_path):
    path = write_yaml(tmp_path, "method: {name: lora, r: 16}\n")
    config = load_config(path, ["method.num_virtual_tokens=5"], {"method": "prompt"})
    assert (config.method.name, config.method.num_virtual_tokens) == ("prompt", 5)


@pytest.mark.parametrize(
    ("values", "overrides"),
    [({"method": "lora"}, []), ({}, ["method=lora"])],
    ids=["flag", "set"],
)
def test_naming_the_same_method_again_keeps_its_settings(tmp_path, values, overrides):
    # `honed train run.yaml --method lora` names the technique the YAML already uses: nothing is switched,
    # so the YAML's r: 16 must survive (it silently fell back to r=8 when this was written).
    path = write_yaml(tmp_path, "method:\n  name: lora\n  r: 16\n")
    config = load_config(path, overrides, values)
    assert config.method.name == "lora"
    assert config.method.r == 16


# --- errors ------------------------------------------------------------------------------------------------------


def test_unknown_method_key_names_the_nearest_and_the_line(tmp_path):
    path = write_yaml(tmp_path, """
        model: my/model
        method:
          name: lora
          rr: 16
    """)
    message = error_of(path)
    assert message.startswith(f"{path}:4: method.rr: unknown key (did you mean 'r'?)")
    assert "valid keys here: r, alpha, dropout, target_modules, use_dora, use_rslora" in message


def test_unknown_method_key_is_checked_against_the_chosen_method(tmp_path):
    path = write_yaml(tmp_path, """
        method:
          name: prefix
          num_virtual_token: 10
    """)
    message = error_of(path)
    assert message.startswith(f"{path}:3: method.num_virtual_token: unknown key (did you mean 'num_virtual_tokens'?)")
    assert "valid keys here: num_virtual_tokens, prefix_projection, encoder_hidden_size" in message


@pytest.mark.parametrize(
    ("text", "line", "key", "nearest"),
    [
        ("trainng:\n  epochs: 2\n", 1, "trainng", "training"),
        ("training:\n  epochs: 2\n  learning_rat: 0.1\n", 3, "training.learning_rat", "learning_rate"),
        ("data:\n  max_lenght: 64\n", 2, "data.max_lenght", "max_length"),
        ("eval:\n  generation:\n    max_new_token: 4\n", 3, "eval.generation.max_new_token", "max_new_tokens"),
    ],
)
def test_unknown_key_anywhere(tmp_path, text, line, key, nearest):
    path = write_yaml(tmp_path, text)
    message = error_of(path)
    assert message.startswith(f"{path}:{line}: {key}: unknown key (did you mean '{nearest}'?); valid keys here: ")
    assert nearest in message.split("valid keys here: ")[1]


def test_unknown_key_without_close_match_has_no_guess(tmp_path):
    message = error_of(write_yaml(tmp_path, "zzzzzz: 1\n"))
    assert "zzzzzz: unknown key; valid keys here: model, method, data, training, eval, output" in message
    assert "did you mean" not in message


def test_unknown_key_from_set_is_reported_without_a_file():
    message = error_of(overrides=["method.rr=3"])
    assert message.startswith("config: method.rr: unknown key (did you mean 'r'?)")


@pytest.mark.parametrize(
    ("name", "nearest"),
    [("lorra", "lora"), ("prefx", "prefix"), ("adaptr", "adapter"), ("ia_3", "ia3"), ("xyzzy", None)],
)
def test_unknown_technique_lists_valid_ones(tmp_path, name, nearest):
    path = write_yaml(tmp_path, f"model: my/model\nmethod: {name}\n")
    message = error_of(path)
    assert message.startswith(f"{path}:2: method: unknown technique '{name}'")
    valid = message.split("; valid: ")[1]
    assert sorted(valid.split(", ")) == sorted(TECHNIQUES)
    if nearest:
        assert f"(did you mean '{nearest}'?)" in message
    else:
        assert "did you mean" not in message


def test_unknown_technique_from_a_flag():
    message = error_of(values={"method": "lorra"})
    assert "unknown technique 'lorra' (did you mean 'lora'?); valid: " in message


def test_all_seven_techniques_are_registered():
    assert sorted(method_names()) == sorted(TECHNIQUES)


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        ("training:\n  batch_size: four\n", 2, "training.batch_size: Input should be a valid integer"),
        ("training:\n  epochs: [1, 2]\n", 2, "training.epochs: Input should be a valid number"),
        ("training:\n  learning_rate: 0\n", 2, "training.learning_rate: Input should be greater than 0 (got 0)"),
        ("training:\n  learning_rate: -1.0e-4\n", 2, "training.learning_rate: Input should be greater than 0"),
        ("data:\n  max_length: 4\n", 2, "data.max_length: Input should be greater than or equal to 8 (got 4)"),
        ("data:\n  format: csv\n", 2, "data.format: Input should be 'auto', 'text', 'prompt_completion'"),
        ("training:\n  warmup: 2.5\n", 2, "training.warmup: a warmup of 1 or more is a number of steps"),
        ("method:\n  name: lora\n  r: 0\n", 3, "method.r: Input should be greater than or equal to 1 (got 0)"),
        ("data:\n  fields: {question: q}\n", 2, "data.fields: unknown field name(s) ['question']"),
    ],
)
def test_wrong_values_name_file_line_and_key(tmp_path, text, line, expected):
    path = write_yaml(tmp_path, text)
    message = error_of(path)
    assert message.startswith(f"{path}:{line}: {expected}")


@pytest.mark.parametrize("value", ["0", "-0.001"])
def test_learning_rate_must_be_positive_from_set(value):
    message = error_of(overrides=[f"training.learning_rate={value}"])
    assert "training.learning_rate: Input should be greater than 0" in message


def test_several_errors_are_gathered_into_one_message(tmp_path):
    path = write_yaml(tmp_path, """
        model: my/model
        method:
          name: lora
          rr: 16
        training:
          batch_size: four
          learning_rate: 0
    """)
    message = error_of(path)
    parts = message.split("; ")
    starts = [p for p in parts if re.match(re.escape(str(path)) + r":\d+: ", p)]
    assert [s.split(": ")[0] for s in starts] == [f"{path}:4", f"{path}:6", f"{path}:7"]
    assert "method.rr: unknown key (did you mean 'r'?)" in message
    assert "training.batch_size: Input should be a valid integer" in message
    assert "training.learning_rate: Input should be greater than 0" in message
    assert "\n" not in message  # one line for the CLI


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("model: x\ntraining:\n  epochs: 1: 2\n", 3),
        ("model: x\nmethod: [lora\ntraining: {}\n", 3),
        ("model: x\n\ttraining: {}\n", 2),
        ("model: x\ntraining:\n  epochs: 1\n epochs: 2\n", 4),
    ],
)
def test_invalid_yaml_names_file_and_line(tmp_path, text, line):
    path = write_yaml(tmp_path, text)
    message = error_of(path)
    assert message.startswith(f"{path}:{line}: invalid YAML (")


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "42\n"])
def test_config_must_be_a_mapping(tmp_path, text):
    path = write_yaml(tmp_path, text)
    assert error_of(path).startswith(f"{path}:1: the config must be a mapping")


def test_empty_yaml_is_all_defaults(tmp_path):
    assert load_config(write_yaml(tmp_path, "# nothing\n")) == load_config()


def test_missing_config_file(tmp_path):
    path = tmp_path / "nope.yaml"
    assert error_of(path) == f"{path}: no such config file"


def test_non_utf8_config(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_bytes(b"model: caf\xe9\n")
    assert error_of(path).startswith(f"{path}: not UTF-8 text")


def test_relative_data_paths_resolve_against_the_yaml_folder(tmp_path, monkeypatch):
    folder = tmp_path / "project" / "configs"
    (folder / "data").mkdir(parents=True)
    for name in ("train.jsonl", "val.jsonl", "test.jsonl"):
        (folder / "data" / name).write_text('{"text": "a"}\n')
    path = write_yaml(folder, """
        data:
          train: data/train.jsonl
          validation: ./data/val.jsonl
          test: data/test.jsonl
    """)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(path)
    assert config.data.train == str((folder / "data" / "train.jsonl").resolve())
    assert config.data.validation == str((folder / "data" / "val.jsonl").resolve())
    assert config.data.test == str((folder / "data" / "test.jsonl").resolve())
    # the same relative YAML path read from another working directory still finds the file
    assert Path(config.data.train).is_file()


def test_paths_that_do_not_resolve_and_flag_paths_are_left_alone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write_yaml(tmp_path, "data:\n  train: missing/train.jsonl\n  test: org/dataset\n")
    config = load_config(path)
    assert config.data.train == "missing/train.jsonl"
    assert config.data.test == "org/dataset"
    (tmp_path / "sub").mkdir()
    yaml_in_sub = write_yaml(tmp_path / "sub", "model: x\n")
    config = load_config(yaml_in_sub, values={"data.train": "rel/train.jsonl"})
    assert config.data.train == "rel/train.jsonl"  # flags are relative to the working directory, as usual


def test_to_yaml_round_trips(tmp_path):
    config = load_config(overrides=["method=adapter", "method.bottleneck_size=16", "training.epochs=2"])
    path = tmp_path / "resolved.yaml"
    path.write_text(to_yaml(config))
    assert load_config(path) == config


# --- the shipped examples all validate ----------------------------------------------------------------------------

EXAMPLES = sorted((REPO / "examples").glob("**/*.yaml")) + sorted((REPO / "examples").glob("**/*.yml"))


@pytest.mark.parametrize(
    "path",
    EXAMPLES or [pytest.param(None, marks=pytest.mark.skip(reason="no example YAML under examples/ yet"))],
    ids=lambda p: str(p.relative_to(REPO)) if p else "none",
)
def test_shipped_example_validates(path, monkeypatch):
    monkeypatch.chdir(REPO)
    config = load_config(path)
    assert isinstance(config, RunConfig)
    for data_path in (config.data.train, config.data.validation, config.data.test):
        if data_path and (data_path.startswith(("/", ".")) or data_path.endswith((".jsonl", ".json", ".csv"))):
            assert Path(data_path).exists(), f"{path}: data path {data_path} does not exist"


# --- values from flags and --set are not blamed on a YAML line ------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "overrides"),
    [({"training.batch_size": 0}, []), ({}, ["training.batch_size=0"])],
    ids=["flag", "set"],
)
def test_bad_value_from_the_command_line_is_not_blamed_on_the_yaml(tmp_path, values, overrides):
    path = write_yaml(tmp_path, "training:\n  batch_size: 4\n")
    message = error_of(path, overrides, values)
    assert "training.batch_size: Input should be greater than or equal to 1 (got 0)" in message
    # line 2 holds `batch_size: 4`, a valid value: pointing there (or at `training:` on line 1) misleads
    assert f"{path}:2:" not in message
    assert f"{path}:1:" not in message
