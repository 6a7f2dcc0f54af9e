"""Rewards: how right one completion is, as a number a program computes from the prompt, the completion and the
reference row. One registry for GRPO training (`training.rewards`) and for `honed eval` (`eval.rewards`), so a run is
trained and judged by the same functions.

An answer meant to be JSON must be the JSON object alone: inside code fences, or after a sentence of prose, it is
invalid, since a program ingesting it would fail too.
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from honed.errors import UserError, nearest
from honed.metrics import normalise_answer, rouge_one

Scorer = Callable[[str, str, dict], float]  # (prompt, completion, row with its "reference" text) -> reward
PYTHON = "python:"


@dataclass(frozen=True)
class RewardKind:
    name: str
    description: str
    option: str | None  # the setting it needs beside its name: schema, pattern, max_words
    build: Callable[[dict], Scorer]  # from the reward's settings
    optional: str | None = None  # a setting it takes when given


def parse_json_object(text: str) -> dict | None:
    """The completion as a JSON object, or None: the whole completion, nothing around it."""
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return None
    return value if isinstance(value, dict) else None


def _json_valid(settings: dict) -> Scorer:
    return lambda prompt, completion, row: float(parse_json_object(completion) is not None)


def load_schema(path: str) -> dict:
    """A JSON Schema from a file, checked against its own metaschema, so a broken schema fails at the start."""
    from jsonschema import exceptions, validators

    file = Path(path)
    try:
        schema = json.loads(file.read_text(encoding="utf-8"))
    except OSError:
        raise UserError(f"{path}: no such schema file") from None
    except json.JSONDecodeError as error:
        raise UserError(f"{path}, line {error.lineno}: not JSON ({error.msg})") from None
    if not isinstance(schema, dict):
        raise UserError(f"{path}: a JSON Schema is an object, not {type(schema).__name__}")
    try:
        validators.validator_for(schema).check_schema(schema)
    except exceptions.SchemaError as error:
        where = "/".join(str(part) for part in error.path) or "(top level)"
        raise UserError(f"{path}: not a valid JSON Schema at {where}: {error.message}") from None
    return schema


def _json_schema(settings: dict) -> Scorer:
    from jsonschema import validators

    schema = load_schema(settings["schema"])
    validator = validators.validator_for(schema)(schema)

    def scored(prompt: str, completion: str, row: dict) -> float:
        value = parse_json_object(completion)
        return float(value is not None and validator.is_valid(value))

    return scored


def closed_fields(schema: dict | None, reference: dict) -> list[str]:
    """The fields with a right answer: with a schema, those it fixes (an enum, a const, a pattern, or not a
    string); without one, every field whose reference is not free text (longer than three words)."""
    if schema is not None:
        properties = schema.get("properties", {})
        return [name for name, rule in properties.items() if _is_closed(rule)]
    return [name for name, value in reference.items() if not (isinstance(value, str) and len(value.split()) > 3)]


def _is_closed(rule: dict) -> bool:
    if any(key in rule for key in ("enum", "const", "pattern")):
        return True
    kinds = rule.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else kinds
    if not kinds and "anyOf" in rule:
        return all(_is_closed(option) for option in rule["anyOf"])
    return bool(kinds) and "string" not in kinds


def field_scores(completion: str, reference: str, schema: dict | None = None) -> dict[str, float] | None:
    """Each closed field of the reference JSON: 1.0 where the completion has exactly its value, else 0.0 (all 0.0
    for a completion that is not JSON). None when the reference is not a JSON object."""
    expected = parse_json_object(reference)
    if expected is None:
        return None
    answer = parse_json_object(completion) or {}
    return {name: float(name in answer and answer[name] == expected.get(name))
            for name in closed_fields(schema, expected)}


def _field_match(settings: dict) -> Scorer:
    schema = load_schema(settings["schema"]) if settings.get("schema") else None

    def scored(prompt: str, completion: str, row: dict) -> float:
        fields = field_scores(completion, row["reference"], schema)
        if fields is None:
            raise UserError("reward field_match: the reference answer is not a JSON object")
        return sum(fields.values()) / len(fields) if fields else 0.0

    return scored


def _exact_match(settings: dict) -> Scorer:
    return lambda prompt, completion, row: float(normalise_answer(completion) == normalise_answer(row["reference"]))


def _regex(settings: dict) -> Scorer:
    try:
        pattern = re.compile(settings["pattern"])
    except re.error as error:
        raise UserError(f"reward regex: pattern {settings['pattern']!r} does not compile: {error}") from None
    return lambda prompt, completion, row: float(pattern.search(completion) is not None)


def _rouge_l(settings: dict) -> Scorer:
    return lambda prompt, completion, row: rouge_one(completion, row["reference"])["rougeL"] / 100


def _length(settings: dict) -> Scorer:
    limit = settings["max_words"]
    return lambda prompt, completion, row: -min(1.0, max(0, len(completion.split()) - limit) / limit)


REWARDS: tuple[RewardKind, ...] = (
    RewardKind("json_valid", "1 when the completion is one JSON object and nothing else, else 0", None, _json_valid),
    RewardKind("json_schema", "1 when the completion is a JSON object valid under the schema file, else 0", "schema",
               _json_schema),
    RewardKind("field_match", "share of the reference JSON's closed fields (enums, patterns, numbers, null) the "
               "completion gets exactly right (0 for invalid JSON)", None, _field_match, optional="schema"),
    RewardKind("exact_match", "1 when the completion equals the reference after normalisation, else 0", None,
               _exact_match),
    RewardKind("regex", "1 when the pattern matches somewhere in the completion (anchor it to match all)", "pattern",
               _regex),
    RewardKind("rougeL", "ROUGE-L F1 against the reference, 0 to 1", None, _rouge_l),
    RewardKind("length", "0 up to max_words, then down to -1 at twice that many words", "max_words", _length),
)


def reward_names() -> list[str]:
    return [kind.name for kind in REWARDS]


def describe_rewards() -> str:
    names = "; ".join(f"{kind.name}: {kind.description}" for kind in REWARDS)
    return names + f"; {PYTHON} module:function: your own"


def reward_kind(name: str) -> RewardKind:
    for kind in REWARDS:
        if kind.name == name:
            return kind
    raise UserError(f"reward {name!r} does not exist{nearest(name, reward_names())}; rewards: "
                    f"{', '.join(reward_names())}, or '{PYTHON} module:function'")


def check_settings(name: str, settings: dict) -> None:
    """A reward's name and the option it needs, checked where the config is validated (no file is read here)."""
    if name.startswith(PYTHON):
        if ":" not in name[len(PYTHON):].strip():
            raise ValueError(f"{name!r}: write 'python: module:function'")
        return
    try:
        kind = reward_kind(name)
    except UserError as error:
        raise ValueError(str(error)) from None
    if kind.option and settings.get(kind.option) is None:
        raise ValueError(f"reward {name} needs `{kind.option}`")
    stray = sorted(option for option, value in settings.items()
                   if value is not None and option not in (kind.option, kind.optional))
    if stray:
        raise ValueError(f"reward {name} does not use {', '.join(stray)}")


@dataclass(frozen=True)
class Reward:
    """A reward ready to score: its label in reports and metrics, its weight, and its function."""

    label: str
    weight: float
    scorer: Callable[[list[str], list[str], list[dict]], list[float]]  # batched: prompts, completions, rows

    def __call__(self, prompts: list[str], completions: list[str], rows: list[dict]) -> list[float]:
        try:
            values = self.scorer(prompts, completions, rows)
        except UserError:
            raise
        except Exception as error:  # the user's own function: named, in one line, never a traceback
            raise UserError(f"reward {self.label} raised {type(error).__name__}: {error}") from None
        if len(values) != len(completions):
            raise UserError(f"reward {self.label} returned {len(values)} values for {len(completions)} completions")
        return [float(value) for value in values]


def build_reward(name: str, weight: float = 1.0, **settings) -> Reward:
    """The reward a config names, with its files read and its function imported: a bad one fails here, before
    any training or generation."""
    if name.startswith(PYTHON):
        return Reward(reward_label(name), weight, _user_function(name[len(PYTHON):].strip()))
    scorer = reward_kind(name).build(settings)
    return Reward(name, weight, lambda prompts, completions, rows: [
        scorer(prompt, completion, row) for prompt, completion, row in zip(prompts, completions, rows, strict=True)])


def reward_label(name: str) -> str:
    """A key for eval.json and metrics.jsonl: 'python: pkg.mod:fn' -> 'fn'."""
    return name[len(PYTHON):].strip().rsplit(":", 1)[-1] if name.startswith(PYTHON) else name


def _user_function(target: str) -> Callable[[list[str], list[str], list[dict]], list[float]]:
    """TRL's reward functions (prompts, completions, **kwargs) -> list of floats are taken as they are; a function of
    one (prompt, completion, row) -> float is mapped over the batch."""
    module_name, _, attribute = target.rpartition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # ImportError, or the module's own code failing: one line either way
        raise UserError(f"reward python: {target}: cannot import {module_name} ({type(error).__name__}: {error})"
                        ) from None
    function = getattr(module, attribute, None)
    if not callable(function):
        raise UserError(f"reward python: {target}: {module_name} has no function {attribute}")
    first = next(iter(inspect.signature(function).parameters), "")
    if first == "prompts":
        return lambda prompts, completions, rows: function(
            prompts=prompts, completions=completions, **_columns(rows))
    return lambda prompts, completions, rows: [function(prompt, completion, row)
                                               for prompt, completion, row in zip(prompts, completions, rows,
                                                                                  strict=True)]


def _columns(rows: list[dict]) -> dict[str, list]:
    """The rows' fields as TRL passes dataset columns: one keyword per field, a list over the batch."""
    keys = dict.fromkeys(key for row in rows for key in row)
    return {key: [row.get(key) for row in rows] for key in keys if key not in ("prompts", "completions")}


def total(rewards: list[Reward], prompts: list[str], completions: list[str], rows: list[dict]
          ) -> tuple[list[float], dict[str, list[float]]]:
    """The weighted sum per completion, and each reward's own values (for metrics and reports)."""
    each = {reward.label: reward(prompts, completions, rows) for reward in rewards}
    sums = [sum(reward.weight * each[reward.label][i] for reward in rewards) for i in range(len(completions))]
    return sums, each
