"""Prefix and prompt tuning start from a text the frozen model has read, not from random vectors: at step 0 they
compute what the model computes after that text, so they start near the base model and learn from there."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from honed.data.loading import shared_system_prompt
from honed.methods import BuildContext, get_method
from honed.methods.prefix import text_prefix
from honed.methods.virtual_tokens import GENERIC_INIT_TEXT, init_ids
from honed.training import fit
from tiny import SUPPORT_QA, build_taught_model_dir, write_jsonl

NAMES = ["prefix", "prompt"]
TEXT = "Where is my order? It ships in two days."
INPUT = "How do I reset my password?"


@pytest.fixture(scope="module")
def taught_model(tmp_path_factory):
    return build_taught_model_dir(tmp_path_factory.mktemp("taught-llama"))


def _wrapped(path, name: str, context_text: str | None = None, **options):
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    method = get_method(name)
    model = AutoModelForCausalLM.from_pretrained(str(path)).eval()
    return method.wrap(model, method.config_cls(**options), BuildContext(1, tokenizer, context_text)), tokenizer


def _base_after(path, tokenizer, text: str, ids: list[int]):
    """The base model's logits for `ids`, read after the text's virtual-token ids."""
    prefix = init_ids(tokenizer, text, 20)
    with torch.no_grad():
        return AutoModelForCausalLM.from_pretrained(str(path))(input_ids=torch.tensor([prefix + ids])).logits[:, 20:]


@pytest.mark.parametrize("options", [{}, {"prefix_projection": True, "encoder_hidden_size": 24}],
                         ids=["embedding", "projection"])
def test_prefix_starts_as_the_keys_and_values_of_its_text(options, taught_model):
    """Every layer's keys and values, key/value heads (GQA) and rotary positions in peft's layout: the input after
    the prefix is read exactly as after the text itself."""
    model, tokenizer = _wrapped(taught_model, "prefix", init_text=TEXT, **options)
    ids = tokenizer(INPUT, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits
    torch.testing.assert_close(logits, _base_after(taught_model, tokenizer, TEXT, ids), atol=1e-4, rtol=1e-4)


def test_prompt_starts_as_the_embeddings_of_its_text(taught_model):
    model, tokenizer = _wrapped(taught_model, "prompt", init_text=TEXT)
    ids = tokenizer(INPUT, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[:, 20:]
    torch.testing.assert_close(logits, _base_after(taught_model, tokenizer, TEXT, ids), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_generation_after_a_text_start_continues_the_text(name, taught_model):
    """honed generates for both through the base model (peft's cached generate is wrong for them): greedy answers
    equal the base model's after the text itself."""
    from honed.generation import generate_new_tokens

    model, tokenizer = _wrapped(taught_model, name, init_text=TEXT)
    ids = torch.tensor([tokenizer(INPUT, add_special_tokens=False)["input_ids"]])
    options = {"max_new_tokens": 6, "do_sample": False, "pad_token_id": tokenizer.pad_token_id}
    answer = generate_new_tokens(model, ids, torch.ones_like(ids), options)
    base = AutoModelForCausalLM.from_pretrained(str(taught_model))
    after_text = torch.cat([torch.tensor([init_ids(tokenizer, TEXT, 20)]), ids], dim=1)
    expected = generate_new_tokens(base, after_text, torch.ones_like(after_text), options)
    assert answer.tolist() == expected.tolist()


def _starts_as(model, tokenizer, name: str, text: str) -> None:
    ids = init_ids(tokenizer, text, 20)
    start = model.prompt_encoder["default"].embedding.weight
    if name == "prefix":
        expected = text_prefix(model.get_base_model(), ids)
    else:
        expected = model.get_input_embeddings()(torch.tensor(ids))
    torch.testing.assert_close(start, expected)


@pytest.mark.parametrize("name", NAMES)
def test_the_start_is_init_text_else_the_shared_system_prompt_else_a_generic_instruction(name, taught_model):
    for options, context, expected in [({"init_text": TEXT}, "Be brief.", TEXT), ({}, "Be brief.", "Be brief."),
                                       ({}, None, GENERIC_INIT_TEXT)]:
        model, tokenizer = _wrapped(taught_model, name, context, **options)
        _starts_as(model, tokenizer, name, expected)


@pytest.mark.parametrize("name", NAMES)
def test_a_run_starts_from_its_data_s_system_prompt(name, taught_model, tmp_path):
    from honed.config import validate
    from honed.training.runner import set_up

    rows = write_jsonl(tmp_path / "rows.jsonl", [{"prompt": q, "completion": a} for q, a in SUPPORT_QA])
    config = validate({"model": str(taught_model), "method": name, "output": str(tmp_path / "run"),
                       "data": {"train": str(rows), "system_prompt": "Be brief."}, "training": {"max_steps": 1}})
    setup = set_up(config.for_training())
    _starts_as(setup.model, setup.tokenizer, name, "Be brief.")


def test_the_shared_system_prompt_is_found_only_when_every_row_has_it():
    system = {"role": "system", "content": "Be brief."}
    chat = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    assert shared_system_prompt([{"messages": [system, *chat]}] * 2) == "Be brief."
    assert shared_system_prompt([{"messages": [system, *chat]}, {"messages": chat}]) is None
    assert shared_system_prompt([{"text": "plain"}]) is None
    assert shared_system_prompt([{"prompt": [system, chat[0]], "chosen": [chat[1]]}]) == "Be brief."


def test_a_prefix_started_through_the_projection_reloads_with_plain_peft(taught_model, memorise_file, tmp_path):
    from peft import PeftModel

    trained = fit({"model": str(taught_model), "method": {"name": "prefix", "prefix_projection": True},
                   "data": {"train": str(memorise_file)}, "training": {"max_steps": 2, "threads": 1},
                   "output": str(tmp_path / "run")})
    reloaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(taught_model)),
                                         str(trained.run_dir / "adapter"))
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        torch.testing.assert_close(reloaded(input_ids=ids).logits, trained.model(input_ids=ids).logits)


def _val_losses(taught_model, tmp_path, name: str, steps: int, train: list[dict], validation: list[dict]):
    """(before, after) validation loss of a run at the technique's default learning rate."""
    summary = fit({
        "model": str(taught_model), "method": name,
        "data": {"train": str(write_jsonl(tmp_path / "train.jsonl", train)),
                 "validation": str(write_jsonl(tmp_path / "validation.jsonl", validation))},
        "training": {"max_steps": steps, "batch_size": 2, "warmup": 0, "threads": 1},
        "output": str(tmp_path / name),
    }).summary
    return summary["initial_val_loss"], summary["final_val_loss"]


def test_prefix_and_prompt_start_near_the_base_model(taught_model, tmp_path):
    """On answers the model knows (base loss 0.009) the generic instruction's start keeps them (0.069); peft's random
    prefix lost them (1.30 to 1.90 by seed)."""
    rows = [{"prompt": q, "completion": a} for q, a in SUPPORT_QA]
    base, _ = _val_losses(taught_model, tmp_path, "lora", 1, rows, rows)
    for name in NAMES:
        before, _ = _val_losses(taught_model, tmp_path, name, 1, rows, rows)
        assert before == pytest.approx(base, abs=0.15), f"{name} starts at {before:.3f}, the base model at {base:.3f}"


def test_prefix_and_prompt_learn_a_new_style_in_a_few_steps(taught_model, tmp_path):
    """The house greeting, never seen by the model, on questions held out from training (base 1.32). In 12 steps
    prefix tuning went 1.29 -> 0.86 and prompt tuning 1.29 -> 0.52; from peft's random start prefix tuning went
    1.80 -> 1.40, still above the base model, and prompt tuning 1.22 -> 0.95."""
    def styled(pairs):
        return [{"prompt": q, "completion": f"Hi there, thanks for contacting support. {a}"} for q, a in pairs]

    train, validation = styled(SUPPORT_QA[0::3] + SUPPORT_QA[1::3]), styled(SUPPORT_QA[2::3])
    base, _ = _val_losses(taught_model, tmp_path, "lora", 1, train, validation)
    for name in NAMES:
        before, after = _val_losses(taught_model, tmp_path, name, 12, train, validation)
        assert after < base - 0.3, f"{name}: validation loss {before:.3f} -> {after:.3f}, base model {base:.3f}"
