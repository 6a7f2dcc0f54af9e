"""YAML + `--set key=value` overrides -> a validated RunConfig, with every problem named by file, line and key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from honed.config.schema import RunConfig
from honed.errors import UserError, nearest
from honed.methods import get_method, method_names

# Keys whose values are paths: a relative path in a YAML file means relative to that file, as in compose files.
_PATH_KEYS = (("data", "train"), ("data", "validation"), ("data", "test"), ("training", "deepspeed"), ("training", "resume"))


def load_config(
    path: str | Path | None = None, overrides: list[str] | None = None, values: dict[str, Any] | None = None
) -> RunConfig:
    """Read the YAML (if any), apply flag values then `--set key=value` overrides, validate, return the schema."""
    raw, lines, source = ({}, {}, "config") if path is None else _read_yaml(Path(path))
    if path is not None:
        _resolve_paths_against(raw, Path(path).parent)
    for key, value in (values or {}).items():
        if value is not None:
            _set_path(raw, key.split("."), value)
            lines[key] = None  # came from the command line: no YAML line to point at
    for item in overrides or []:
        key, value = _parse_override(item)
        _set_path(raw, key.split("."), value)
        lines[key] = None
    return validate(raw, source, lines)


def to_yaml(config: RunConfig) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def validate(raw: dict, source: str = "config", lines: dict[str, int | None] | None = None) -> RunConfig:
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as error:
        problems = [_describe(e, raw, source, lines or {}) for e in _one_per_union(error.errors())]
        raise UserError("; ".join(dict.fromkeys(problems))) from None


def _one_per_union(errors: list[dict]) -> list[dict]:
    """A value that fits none of a union's types gives one error per type; the user gets one, listing them all."""
    merged: dict[tuple, dict] = {}
    for error in errors:
        path = tuple(_user_path(error["loc"]))
        if path in merged and error["type"] != "union_tag_invalid":
            first = merged[path]
            first["msg"] = f"{first['msg']}, or {error['msg'].removeprefix('Input should be ')}"
        else:
            merged[path] = dict(error)
    return list(merged.values())


def _read_yaml(path: Path) -> tuple[dict, dict[str, int], str]:
    if not path.is_file():
        raise UserError(f"{path}: no such config file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 text (byte {e.start})") from None
    return _parse_yaml(text, str(path))


def load_config_text(text: str, source: str, base: Path, values: dict[str, Any] | None = None) -> RunConfig:
    """A config from YAML text that is not a file yet (pasted into the studio), its relative paths taken from
    `base`; errors name `source` and the line."""
    raw, lines, _ = _parse_yaml(text, source)
    _resolve_paths_against(raw, base)
    for key, value in (values or {}).items():
        _set_path(raw, key.split("."), value)
        lines[key] = None
    return validate(raw, source, lines)


def _parse_yaml(text: str, path: str) -> tuple[dict, dict[str, int], str]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise UserError(f"{path}{where}: invalid YAML ({getattr(e, 'problem', None) or e})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"{path}:1: the config must be a mapping of keys (model, method, data, training, ...)")
    return data, _key_lines(node), str(path)


def _key_lines(node, prefix: str = "") -> dict[str, int]:
    """Dotted key -> 1-based line in the YAML, so errors can point at the line the user wrote."""
    lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = f"{prefix}{key_node.value}"
            lines[key] = key_node.start_mark.line + 1
            lines.update(_key_lines(value_node, key + "."))
    return lines


def _resolve_paths_against(raw: dict, folder: Path) -> None:
    entries = (raw.get("compare") or {}).get("techniques") if isinstance(raw.get("compare"), dict) else None
    places = [(raw.get(section), key) for section, key in _PATH_KEYS] + [(raw, "from_run")]
    places += [(entry, "data") for entry in entries or []]  # a preference stage's own data
    for section in ("training", "eval"):  # a reward's schema file
        rewards = (raw.get(section) or {}).get("rewards") if isinstance(raw.get(section), dict) else None
        places += [(reward, "schema") for reward in rewards or [] if isinstance(reward, dict)]
    for node, key in places:
        value = node.get(key) if isinstance(node, dict) else None
        if isinstance(value, str) and not Path(value).is_absolute() and (folder / value).exists():
            node[key] = str((folder / value).resolve())


def _parse_override(item: str) -> tuple[str, Any]:
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise UserError(f"--set {item!r}: expected key=value, e.g. --set training.learning_rate=1e-4")
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        parsed = value
    return key.strip(), parsed


def _set_path(raw: dict, keys: list[str], value: Any) -> None:
    node = raw
    for key in keys[:-1]:
        if isinstance(node.get(key), str) and key == "method":
            node[key] = {"name": node[key]}
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise UserError(f"{'.'.join(keys)}: '{key}' is not a section")
    current = node.get("method")
    if keys[-1] == "method" and isinstance(value, str) and isinstance(current, dict):
        if current.get("name", "lora") != value:
            node["method"] = {"name": value}  # switching technique drops the old technique's settings
        return
    node[keys[-1]] = value


def _describe(error: dict, raw: dict, source: str, lines: dict[str, int | None]) -> str:
    loc = _user_path(error["loc"])
    key = ".".join(loc)
    line = lines[key] if key in lines else lines.get(".".join(loc[:-1]))
    where = f"{source}:{line}" if line else source
    kind = error["type"]
    if kind == "union_tag_invalid":
        tag = error.get("ctx", {}).get("tag", "")
        return f"{where}: {key}: unknown technique {tag!r}{nearest(tag, method_names())}; valid: {', '.join(method_names())}"
    if kind == "extra_forbidden":
        valid = _valid_keys(loc[:-1], raw)
        return f"{where}: {key}: unknown key{nearest(loc[-1], valid)}; valid keys here: {', '.join(valid)}"
    message = error["msg"].removeprefix("Value error, ")
    if message.startswith(f"{key}: "):
        message = message.removeprefix(f"{key}: ")
    got = error.get("input")
    prefix = f"{where}: {key}: " if key else f"{where}: "
    return prefix + message + ("" if isinstance(got, dict) else f" (got {got!r})")


def _user_path(loc) -> list[str]:
    """The key path as the user typed it: pydantic adds the union's tag after every `method`, which nobody wrote."""
    parts = [str(part) for part in loc]
    names = set(method_names())
    return [part for i, part in enumerate(parts)
            if not (i and parts[i - 1] == "method" and part in names) and not _is_type_tag(part)]


def _is_type_tag(part: str) -> bool:
    """pydantic names the union member it tried in the path ('bool', 'dict[str,any]', 'literal[2,3]')."""
    return part in ("bool", "int", "float", "str", "list", "dict", "none") or (
        "[" in part and part.split("[")[0] in ("dict", "list", "literal", "tuple", "set"))


def _valid_keys(section: list[str], raw: dict) -> list[str]:
    from honed.config.schema import RunConfig

    model: type[BaseModel] = RunConfig
    node: Any = raw
    for part in section:
        node = node[int(part)] if isinstance(node, list) and part.isdigit() else (node or {}).get(part)
        if part.isdigit():
            continue
        if part == "method":
            name = node.get("name") if isinstance(node, dict) else node
            model = get_method(name if name in method_names() else "lora").config_cls
            continue
        model = _section_model(model.model_fields[part].annotation)
    return [name for name in model.model_fields if name != "name"] if section[-1:] == ["method"] else list(model.model_fields)


def _section_model(annotation) -> type[BaseModel]:
    """The pydantic model inside a field's type, looking through Optional and list."""
    from typing import get_args

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _section_model(arg)
        if found is not None:
            return found
    return None
