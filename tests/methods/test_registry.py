"""Each technique's facts live in its registry entry, and every command reads them from there."""

from __future__ import annotations

from honed.compare.budget import BUDGETS
from honed.compare.contestants import plan_contestants
from honed.config import validate
from honed.methods import all_methods, describe_methods, method_names


def test_every_listing_of_techniques_has_one_order(tmp_path):
    """`honed methods`, the registry's names and `honed compare`'s default contestants list techniques alike."""
    listed = [block.split()[0] for block in describe_methods().split("\n\n")[:-1]]
    config = validate({"data": {"train": "train.jsonl", "test": "test.jsonl"}})
    compared = [c.label for c in plan_contestants(config, BUDGETS["quick"], tmp_path)][1:]  # after the base model
    assert listed == method_names() == compared
    assert listed[:4] == ["full", "lora", "prefix", "prompt"]  # the chapter's order first


def test_merging_and_sharing_a_served_base_are_fields_of_each_entry():
    assert {m.name for m in all_methods() if m.shares_base} == {"lora", "ia3"}
    assert {m.name for m in all_methods() if not m.can_merge} == {"full", "prefix", "prompt", "adapter"}
    for method in all_methods():
        assert method.can_merge == (method.unmergeable_because is None)
        assert not method.shares_base or method.can_merge  # what shares a base is an adapter of weights


def test_honed_methods_shows_the_sweep_behind_each_default_and_no_measured_rate_beats_it():
    """Every default learning rate was measured among rates about 3x apart on all three use cases
    (scripts/lr_sweep.py); a default moves when another rate beats it by more than 2 ROUGE-L on two use cases."""
    listing = describe_methods()
    for method in all_methods():
        block = next(b for b in listing.split("\n\n") if b.split()[0] == method.name)
        default = method.default_learning_rate
        assert set(method.lr_measured) == {"support", "medical", "content"}, method.name
        for usecase, by_rate in method.lr_measured.items():
            assert len(by_rate) >= 3 and default in by_rate, (method.name, usecase)
            assert f"{default:g} {by_rate[default]:.1f}*" in block
        for rate in method.lr_measured["support"]:
            beaten_on = [usecase for usecase, by_rate in method.lr_measured.items()
                         if by_rate[rate] > by_rate[default] + 2.0]
            assert len(beaten_on) < 2, f"{method.name}: {rate:g} beats the default {default:g} on {beaten_on}"
