"""Budgets: the one set of steps, batch and evaluation that every technique of a comparison gets."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Budget:
    name: str
    max_steps: int
    batch_size: int
    eval_rows: int
    max_new_tokens: int
    val_fraction: float  # held out of train only when the config names no validation set
    purpose: str


# Sized for the smallest machine honed supports (2 CPU cores, SmolLM2-135M): `quick` compares the seven techniques
# in about 11 minutes there (measured), `standard` in 35-45 minutes per recipe. On a GPU both take minutes.
BUDGETS = {
    "quick": Budget("quick", max_steps=10, batch_size=8, eval_rows=24, max_new_tokens=48, val_fraction=0.08,
                    purpose="a first look: is the data learnable, which techniques move at all"),
    "standard": Budget("standard", max_steps=24, batch_size=8, eval_rows=40, max_new_tokens=64, val_fraction=0.08,
                       purpose="the comparison to decide on: enough steps for every technique to show its trend"),
}


def get_budget(name: str) -> Budget:
    from honed.errors import UserError

    if name not in BUDGETS:
        raise UserError(f"unknown budget {name!r}; valid: {', '.join(BUDGETS)}")
    return BUDGETS[name]
