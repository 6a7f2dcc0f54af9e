"""training.objective and its keys: what a preference objective cannot use is refused, never silently ignored."""

from __future__ import annotations

import pytest

from honed.config import validate
from honed.errors import UserError


@pytest.mark.parametrize(("raw", "message"), [
    ({"training": {"beta": 0.2}}, "training: beta: used by objective dpo, kto or grpo only"),
    ({"training": {"objective": "dpo", "packing": True}}, "packing: true: not used by objective dpo"),
    ({"training": {"objective": "dpo", "batch_tokens": 512}}, "batch_tokens: not used by objective dpo"),
    ({"training": {"objective": "dpo", "logits": "all"}}, "logits: all: not used by objective dpo"),
    ({"training": {"objective": "kto", "group_by_length": True}}, "group_by_length: true .kto batches rows in order"),
    ({"training": {"objective": "kto", "batch_size": 1}}, "objective kto needs at least 2 rows per batch"),
    ({"training": {"objective": "dpo"}, "data": {"train_on": "all"}}, "data.train_on: all is not used by objective"),
])
def test_keys_a_preference_objective_does_not_use_are_refused(raw, message):
    with pytest.raises(UserError, match=message):
        validate(raw)


def test_a_preference_run_config_round_trips_through_its_saved_yaml():
    """A run's config.yaml writes every key with its value; reading it back must not trip the refusals above."""
    import yaml

    from honed.config import to_yaml

    config = validate({"training": {"objective": "kto", "beta": 0.3}, "from_run": "runs/sft"})
    again = validate(yaml.safe_load(to_yaml(config)))
    assert again == config and again.training.beta_value == 0.3
    assert validate({}).training.beta_value == 0.1 and validate({}).training.objective == "sft"
