"""honed's Trainer overrides four private methods of transformers' Trainer, where the Trainer offers no public hook:
writing a checkpoint (`_save_checkpoint`: the Trainer pickles optimizer, scheduler and RNG state) and the three
steps of resuming one at the moments the Trainer's loop needs them (weights before wrapping, optimizer once it
exists, RNG after skipping the trained batches). Everything else goes through public hooks: the NaN guard is a
callback on `on_pre_optimizer_step`, and the Trainer's own `_load_scaler` finds no `scaler.pt` in a verified
checkpoint. A private method that is renamed or reshaped in an upgrade would leave honed's override silently
uncalled; these tests name it instead. pyproject.toml pins transformers to the versions they passed on.

The overrides live in two honed classes: HonedBehaviours, mixed into every trainer (transformers' own and TRL's
DPOTrainer and KTOTrainer), and the supervised HonedTrainer's loader and loss. TRL's trainers subclass the
Trainer; where they define one of the methods the mixin overrides, honed's must still win in the MRO and pass on
arguments TRL's version takes."""

from __future__ import annotations

import inspect

import pytest
import transformers
from transformers import Trainer

from honed.training.trainer import HonedBehaviours, _trainer_class

PRIVATE = {
    "_save_checkpoint": ["self", "model", "trial"],
    "_load_from_checkpoint": ["self", "resume_from_checkpoint", "model"],
    "_load_optimizer_and_scheduler": ["self", "checkpoint"],
    "_load_rng_state": ["self", "checkpoint"],
}
PUBLIC = {  # documented as meant to be overridden, pinned all the same: honed passes their arguments on
    "training_step": ["self", "model", "inputs", "num_items_in_batch"],
    "compute_loss": ["self", "model", "inputs", "return_outputs", "num_items_in_batch"],
    "get_train_dataloader": ["self"],
    "evaluation_loop": ["self", "dataloader", "description", "prediction_loss_only", "ignore_keys",
                        "metric_key_prefix"],
    "autocast_smart_context_manager": ["self", "cache_enabled"],
}
PINNED = {**PRIVATE, **PUBLIC}


def _honed_overrides(cls) -> set[str]:
    """Trainer methods defined by honed's own classes in `cls`'s MRO."""
    return {name for klass in cls.__mro__ if klass.__module__.startswith("honed.")
            for name, value in vars(klass).items() if callable(value) and hasattr(Trainer, name)}


def test_every_method_honed_overrides_is_pinned():
    honed = _trainer_class()
    overrides = _honed_overrides(honed)
    assert overrides == set(PINNED), "pin each override of a Trainer method here (and why, if it is private)"
    assert not {name for name in overrides if name.startswith("_")} - set(PRIVATE)


@pytest.mark.parametrize("name", sorted(PINNED))
def test_the_trainer_still_has_each_overridden_method_with_the_pinned_parameters(name):
    advice = (f"honed.training.trainer.HonedTrainer.{name} overrides it: read Trainer.{name} in transformers "
              f"{transformers.__version__}, adapt the override and this pin, and the transformers range in pyproject.toml")
    assert hasattr(Trainer, name), f"transformers {transformers.__version__} has no Trainer.{name}; {advice}"
    theirs = list(inspect.signature(getattr(Trainer, name)).parameters)
    assert theirs == PINNED[name], f"Trainer.{name}{tuple(theirs)} != pinned {tuple(PINNED[name])}; {advice}"
    assert list(inspect.signature(getattr(_trainer_class(), name)).parameters) == theirs


def _honed_trl_trainer(objective: str) -> type:
    from honed.training.objectives.grpo import grpo_trainer_class
    from honed.training.preference import preference_trainer_class

    return grpo_trainer_class() if objective == "grpo" else preference_trainer_class(objective)


@pytest.mark.parametrize("objective", ["dpo", "kto", "grpo"])
def test_trl_trainers_get_the_same_behaviours_and_take_their_arguments(objective):
    """honed's DPO/KTO trainers are HonedBehaviours on TRL's class: the mixin's methods win in the MRO (TRL's own
    _save_checkpoint, which writes a model card and the Trainer's pickled checkpoint, is replaced like the
    Trainer's), and wherever TRL defines one of them, it still takes the arguments honed's super() call passes."""
    honed = _honed_trl_trainer(objective)
    trl_class = honed.__mro__[2]
    assert honed.__mro__[1] is HonedBehaviours and trl_class.__module__.startswith("trl.")
    assert _honed_overrides(honed) == _honed_overrides(HonedBehaviours) and _honed_overrides(honed) <= set(PINNED)
    for name in _honed_overrides(honed):
        assert getattr(honed, name) is getattr(HonedBehaviours, name), name
        theirs = getattr(trl_class, name)
        inspect.signature(theirs).bind(*PINNED[name])  # raises TypeError when TRL's version no longer takes them
    if objective != "grpo":
        assert "_save_checkpoint" in vars(trl_class), "TRL no longer overrides _save_checkpoint: drop this pin"
