"""Techniques by name. Each method folder registers itself once; a second entry with the same name is a bug."""

from __future__ import annotations

from honed.errors import UserError, nearest
from honed.methods.base import Method

_METHODS: dict[str, Method] = {}


def register(method: Method) -> Method:
    if method.name in _METHODS:
        raise ValueError(f"technique {method.name!r} is registered twice")
    _METHODS[method.name] = method
    return method


def get_method(name: str) -> Method:
    try:
        return _METHODS[name]
    except KeyError:
        raise UserError(
            f"unknown technique {name!r}{nearest(name, _METHODS)}; valid: {', '.join(method_names())}"
        ) from None


def method_names() -> list[str]:
    return [method.name for method in all_methods()]


def all_methods() -> list[Method]:
    """In display order, whatever the order of registration."""
    return sorted(_METHODS.values(), key=lambda method: method.display_order)
