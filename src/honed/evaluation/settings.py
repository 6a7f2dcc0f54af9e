"""Build an EvalConfig from command-line values, validated like every config."""

from __future__ import annotations

from pydantic import ValidationError

from honed.config import EvalConfig
from honed.errors import UserError


def eval_settings(limit=None, max_new_tokens=None, batch_size=None, temperature=None, metrics=None,
                  precision=None, drift=None, general=None) -> EvalConfig:
    given = {"max_new_tokens": max_new_tokens, "batch_size": batch_size, "temperature": temperature,
             "precision": precision}
    generation = {k: v for k, v in given.items() if v is not None}
    raw: dict = {"generation": generation}
    if limit is not None:
        raw["limit"] = limit
    if drift is not None:
        raw["drift"] = drift
    if general is not None:
        raw["general"] = general
    if metrics:
        raw["metrics"] = [m.strip() for m in metrics.split(",") if m.strip()]
    try:
        return EvalConfig.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise UserError(f"eval setting {where}: {first['msg']} (got {first.get('input')!r})") from None
