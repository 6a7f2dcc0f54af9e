"""DPO on TRL's DPOTrainer, with honed's behaviours (training/preference.py, shared with the other preference
objective)."""

from __future__ import annotations

from honed.training.preference import preference_objective

OBJECTIVE = preference_objective("dpo")
