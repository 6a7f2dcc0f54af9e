"""honed.generation: a streamed answer equals the batched one, stop strings never leak into a stream, and a stream
that is closed early or runs out of time stops its generation before it returns."""

from __future__ import annotations

import threading
import time

import pytest

from honed.config import GenerationConfig
from honed.generation import Streamed, _shown_pieces, generate, stream

PROMPT = [{"role": "user", "content": "Where is my order?"}]


@pytest.fixture(scope="module")
def base(tiny_model):
    """The tiny random model: it rarely ends its turn, so a generation runs to max_new_tokens unless stopped."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from honed.data.encoding import generation_prompt_ids

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model))
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model)).eval()
    return model, tokenizer, generation_prompt_ids(tokenizer, PROMPT)


def _streamed(model, tokenizer, prompt, settings, **kwargs) -> tuple[list[str], Streamed]:
    outcome = Streamed()
    return list(stream(model, tokenizer, prompt, settings, outcome, **kwargs)), outcome


def test_streamed_answer_equals_the_batched_one(base):
    model, tokenizer, prompt = base
    settings = GenerationConfig(max_new_tokens=24)
    pieces, outcome = _streamed(model, tokenizer, prompt, settings)
    assert len(pieces) > 1 and "".join(pieces) == outcome.text
    assert outcome.text.strip() == generate(model, tokenizer, [prompt], settings)[0]
    assert (outcome.tokens, outcome.finish_reason) == (24, "length")


def test_a_stop_string_ends_the_stream_and_never_shows(base):
    """The stop string is taken from the model's own unstopped answer, so it does occur, split across pieces."""
    model, tokenizer, prompt = base
    whole = "".join(_streamed(model, tokenizer, prompt, GenerationConfig(max_new_tokens=24))[0])
    stop = whole[len(whole) // 2 : len(whole) // 2 + 3]
    settings = GenerationConfig(max_new_tokens=24, stop=[stop])
    pieces, outcome = _streamed(model, tokenizer, prompt, settings)
    assert "".join(pieces) == outcome.text == whole[: whole.find(stop)]
    assert outcome.tokens < 24 and outcome.finish_reason == "stop"
    assert generate(model, tokenizer, [prompt], settings)[0] == outcome.text.strip()


@pytest.mark.parametrize(("pieces", "shown"), [
    (["Hel", "lo\n", "\nBye"], ["Hel", "lo"]),  # "\n" held back until it turned out to start the stop string
    (["a\n", "b\n", "\n"], ["a", "\nb"]),  # held back, then released when it did not
    (["one ", "two"], ["one ", "two"]),  # spaces between pieces are kept
])
def test_pieces_hold_back_what_may_start_a_stop_string(pieces, shown):
    outcome = Streamed()
    assert list(_shown_pieces(iter(pieces), ["\n\n"], outcome)) == shown
    assert outcome.text == "".join(shown)


def test_closing_a_stream_stops_its_generation_before_returning(base):
    """A reader that leaves (a dropped client, Ctrl-C) must not leave the model generating in the background."""
    model, tokenizer, prompt = base
    calls = []
    hook = model.register_forward_hook(lambda module, args, output: calls.append(1))
    try:
        pieces = stream(model, tokenizer, prompt, GenerationConfig(max_new_tokens=400), Streamed())
        next(pieces)
        pieces.close()
        stopped_at = len(calls)
        time.sleep(0.3)
        assert len(calls) == stopped_at < 50  # nothing runs after close(), and it stopped early
        assert not [t for t in threading.enumerate() if t.name == "honed-generate"]
    finally:
        hook.remove()


def test_a_passed_deadline_ends_the_stream_as_timeout(base):
    model, tokenizer, prompt = base
    _, outcome = _streamed(model, tokenizer, prompt, GenerationConfig(max_new_tokens=400),
                           deadline=time.monotonic() - 1)
    assert outcome.finish_reason == "timeout" and outcome.tokens == 1


def test_generation_sits_below_evaluate_serve_and_train():
    """evaluate, serve and chat all use it, so it may use none of them (nor the training stack)."""
    import subprocess
    import sys

    code = ("import sys, honed.generation; print(sorted(m for m in sys.modules "
            "if m.startswith(('honed.training', 'honed.evaluation', 'honed.serve', 'honed.compare'))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "[]"
