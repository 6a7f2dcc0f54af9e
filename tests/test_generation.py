"""honed.generation: the engine's answers equal transformers' own, alone or batched with others; a stream shows no
stop string and takes nothing back; a closed or expired answer leaves the batch without changing the others."""

from __future__ import annotations

import time

import pytest

from honed.config import GenerationConfig
from honed.generation import BASE, Engine, TimedOut, generate
from honed.generation.plain import generate as plain_generate
from honed.generation.text import AnswerText

QUESTIONS = ["Where is my order?", "Hi", "What is the refund policy for goods damaged on their way abroad?", "x y"]


@pytest.fixture(scope="module")
def base(tiny_model):
    """The tiny random model: it rarely ends its turn, so a generation runs to max_new_tokens unless stopped."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from honed.data.encoding import generation_prompt_ids

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model))
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model)).eval()
    prompts = [generation_prompt_ids(tokenizer, [{"role": "user", "content": q}]) for q in QUESTIONS]
    return model, tokenizer, prompts


@pytest.fixture(scope="module")
def engine(base):
    model, tokenizer, _ = base
    engine = Engine(model, tokenizer, max_batch=4, precision="fp32")
    yield engine
    engine.close()


def _streamed(engine, prompt, settings, **kwargs):
    answer = engine.submit(prompt, settings, **kwargs)
    return list(answer.texts()), answer.outcomes[0]


def test_the_fused_decoder_answers_as_transformers_does_alone_and_batched(base, engine):
    """fp32 (what the tests' machine measures as fastest): token for token, at batch 1 and with rows of different
    lengths joining and leaving one batch."""
    model, tokenizer, prompts = base
    assert engine.path.startswith("fused decoder, fp32")
    settings = GenerationConfig(max_new_tokens=20, batch_size=1)
    expected = plain_generate(model, tokenizer, prompts, settings)
    assert engine.generate(prompts, settings) == expected
    assert engine.generate(prompts, settings.model_copy(update={"batch_size": 3})) == expected
    assert len(set(expected)) == len(expected)


def test_streamed_answer_equals_the_batched_one(base, engine):
    _, _, prompts = base
    settings = GenerationConfig(max_new_tokens=24)
    pieces, outcome = _streamed(engine, prompts[0], settings)
    assert len(pieces) > 1 and "".join(pieces) == outcome.text
    assert outcome.text.strip() == engine.generate(prompts[:1], settings)[0]
    assert (outcome.tokens, outcome.finish_reason) == (24, "length")


def test_a_stop_string_ends_the_stream_and_never_shows(base, engine):
    """The stop string is taken from the model's own unstopped answer, so it does occur, split across pieces."""
    model, tokenizer, prompts = base
    whole = "".join(_streamed(engine, prompts[0], GenerationConfig(max_new_tokens=24))[0])
    stop = whole[len(whole) // 2 : len(whole) // 2 + 3]
    settings = GenerationConfig(max_new_tokens=24, stop=[stop])
    pieces, outcome = _streamed(engine, prompts[0], settings)
    assert "".join(pieces) == outcome.text == whole[: whole.find(stop)]
    assert outcome.tokens < 24 and outcome.finish_reason == "stop"
    assert plain_generate(model, tokenizer, prompts[:1], settings)[0] == outcome.text.strip()


class _Pieces:
    """A byte-level tokenizer whose token i is the UTF-8 bytes of pieces[i] (or pieces[i] itself, if bytes)."""

    def __init__(self, pieces):
        self.pieces = [p if isinstance(p, bytes) else p.encode() for p in pieces]

    def decode(self, ids, skip_special_tokens=True):
        return b"".join(self.pieces[i] for i in ids).decode("utf-8", errors="replace")


@pytest.mark.parametrize(("pieces", "shown", "stopped"), [
    (["Hel", "lo\n", "\nBye"], ["Hel", "lo"], True),  # "\n" held back until it turned out to start the stop string
    (["a\n", "b\n", "x"], ["a", "\nb", "\nx"], False),  # held back, then released when it did not
    (["one ", "two"], ["one ", "two"], False),  # spaces between pieces are kept
    (["caf", b"\xc3", b"\xa9!"], ["caf", "é!"], False),  # half a character waits for the rest
])
def test_pieces_hold_back_what_may_start_a_stop_string(pieces, shown, stopped):
    text = AnswerText(_Pieces(pieces), ["\n\n"])
    out = [text.add(i) for i in range(len(pieces))]
    out.append(text.rest())
    assert [piece for piece in out if piece] == shown
    assert text.stopped is stopped and text.text == "".join(shown)


def test_a_closed_answer_leaves_the_batch_and_changes_no_other(base, engine):
    """A reader that leaves (a dropped client, Ctrl-C): its row stops at the next step while the others go on, and
    theirs are the answers they give alone."""
    _, _, prompts = base
    settings = GenerationConfig(max_new_tokens=40)
    alone = [engine.generate([p], settings)[0] for p in prompts[1:3]]
    dropped = engine.submit(prompts[0], GenerationConfig(max_new_tokens=400))
    others = [engine.submit(p, settings) for p in prompts[1:3]]
    next(dropped)
    dropped.close()
    assert ["".join(a.texts()).strip() for a in others] == alone
    steps = engine.steps
    time.sleep(0.3)
    assert engine.steps == steps, "the closed answer is still generating"


def test_deadlines_end_an_answer_as_timeout_or_refuse_it(base, engine):
    _, _, prompts = base
    _, outcome = _streamed(engine, prompts[0], GenerationConfig(max_new_tokens=400), deadline=time.monotonic() + 0.05)
    assert outcome.finish_reason == "timeout" and 0 < outcome.tokens < 400
    with pytest.raises(TimedOut):
        list(engine.submit(prompts[0], GenerationConfig(max_new_tokens=4), deadline=time.monotonic() - 1))


def test_seeded_sampling_is_the_same_alone_and_batched(base, engine):
    _, _, prompts = base
    sampled = GenerationConfig(max_new_tokens=16, temperature=1.0, top_k=20, top_p=0.9, seed=7)

    def answer(settings, company=()):
        others = [engine.submit(p, GenerationConfig(max_new_tokens=30)) for p in company]
        text = "".join(engine.submit(prompts[0], settings).texts())
        for other in others:
            other.close()
        return text

    alone = answer(sampled)
    assert answer(sampled, prompts[1:]) == alone
    assert answer(sampled.model_copy(update={"seed": 8})) != alone
    greedy = answer(GenerationConfig(max_new_tokens=16))
    assert answer(sampled.model_copy(update={"top_k": 1})) == greedy


def test_n_choices_come_from_one_prompt(base, engine):
    _, _, prompts = base
    answer = engine.submit(prompts[1], GenerationConfig(max_new_tokens=12, temperature=1.0, seed=3), choices=3)
    texts = ["", "", ""]
    for index, piece in answer:
        texts[index] += piece
    assert [o.text for o in answer.outcomes] == texts and len(set(texts)) == 3
    assert all(o.tokens == 12 for o in answer.outcomes)
    greedy = engine.submit(prompts[1], GenerationConfig(max_new_tokens=12), choices=2)
    list(greedy)
    assert greedy.outcomes[0].text == greedy.outcomes[1].text


def test_groups_of_completions_carry_their_token_ids(base, engine):
    """GRPO's groups: each prompt's choices decoded together, each with the ids it chose (its text decodes from
    them); the same seed gives the same groups, and groups wider than the batch are refused."""
    _, tokenizer, prompts = base
    sampled = GenerationConfig(max_new_tokens=10, temperature=1.0, seed=5, batch_size=4)
    groups = engine.completions(prompts[:3], sampled, choices=2)
    assert [len(group) for group in groups] == [2, 2, 2]
    for group in groups:
        for outcome in group:
            assert len(outcome.ids) == outcome.tokens == 10
            assert tokenizer.decode(outcome.ids, skip_special_tokens=True) == outcome.text
    assert [[o.ids for o in g] for g in engine.completions(prompts[:3], sampled, choices=2)] == \
        [[o.ids for o in g] for g in groups]
    with pytest.raises(ValueError, match="5 answers per prompt need a batch of at least as many rows"):
        engine.completions(prompts[:1], sampled, choices=5)


@pytest.fixture(scope="module")
def two_adapters(base):
    """Two LoRA adapters of seeded noise on the tiny model, so each answers differently from the base."""
    import copy

    import torch
    from peft import LoraConfig, get_peft_model

    model, tokenizer, _ = base
    config = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False)
    peft_model = get_peft_model(copy.deepcopy(model), config, adapter_name="left")
    peft_model.add_adapter("right", LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj", "up_proj"],
                                               init_lora_weights=False))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
    return peft_model.eval(), tokenizer


def test_each_row_answers_with_its_own_adapter_in_one_batch(base, two_adapters):
    """LoRA adapters of one base in one batch (peft's mixed batches, done in the fused decoder): each answer is
    what peft gives for that adapter alone."""
    _, _, prompts = base
    model, tokenizer = two_adapters
    settings = GenerationConfig(max_new_tokens=16)
    expected = {}
    for adapter in ("left", "right"):
        model.set_adapter(adapter)
        expected[adapter] = plain_generate(model, tokenizer, prompts, settings)
    with model.disable_adapter():
        expected[BASE] = plain_generate(model, tokenizer, prompts, settings)
    engine = Engine(model, tokenizer, adapters=["left", "right"], max_batch=12, precision="fp32")
    try:
        assert engine.path.startswith("fused decoder")
        jobs = [(adapter, i, engine.submit(p, settings, adapter)) for i, p in enumerate(prompts)
                for adapter in ("left", BASE, "right")]
        answers = {(adapter, i): "".join(a.texts()).strip() for adapter, i, a in jobs}
    finally:
        engine.close()
    assert answers == {(adapter, i): expected[adapter][i] for adapter, i, _ in jobs}
    assert len({expected[a][0] for a in expected}) == 3


def test_one_adapter_alone_is_folded_into_the_weights(base, two_adapters):
    _, _, prompts = base
    model, tokenizer = two_adapters
    model.set_adapter("right")
    settings = GenerationConfig(max_new_tokens=16)
    engine = Engine(model, tokenizer, precision="fp32")
    assert all(not projection.loras for layer in engine.decoder.layers
               for projection in (layer.qkv, layer.o, layer.gate_up, layer.down))
    assert engine.generate(prompts, settings) == plain_generate(model, tokenizer, prompts, settings)


def test_what_the_fused_decoder_cannot_run_answers_through_transformers(base):
    """IA3 (like prefix tuning, bottleneck adapters and non-Llama architectures) is not in the fused decoder: the
    engine says so and answers one request at a time through transformers, with the same results."""
    import copy

    from peft import IA3Config, get_peft_model

    model, tokenizer, prompts = base
    ia3 = get_peft_model(copy.deepcopy(model), IA3Config(target_modules=["k_proj", "v_proj", "down_proj"],
                                                         feedforward_modules=["down_proj"])).eval()
    engine = Engine(ia3, tokenizer)
    try:
        assert engine.decoder is None and "ia3" in engine.path
        settings = GenerationConfig(max_new_tokens=12)
        expected = plain_generate(ia3, tokenizer, prompts, settings)
        assert engine.generate(prompts, settings) == expected
        streamed = [engine.submit(p, settings) for p in prompts]
        assert ["".join(a.texts()).strip() for a in streamed] == expected
    finally:
        engine.close()


def test_generate_is_the_engine_for_one_call(base):
    model, tokenizer, prompts = base
    settings = GenerationConfig(max_new_tokens=8, batch_size=2)
    assert generate(model, tokenizer, prompts, settings) == plain_generate(model, tokenizer, prompts, settings)


def test_packed_bf16_weights_compute_what_f_linear_does():
    """oneDNN's pre-packed matmul is a private torch operator: this fails loudly if a torch release changes it."""
    import torch

    from honed.generation.fused import Projection, _pack, _packing_works

    if not torch.backends.mkldnn.is_available() or not _packing_works(torch.bfloat16, torch.device("cpu")):
        pytest.skip("no oneDNN bf16 on this CPU; the decoder uses F.linear")
    weight = torch.randn(96, 64).to(torch.bfloat16)
    projection = Projection(None, None, _pack(weight), torch.bfloat16)
    x = torch.randn(2, 3, 64)
    expected = torch.nn.functional.linear(x.to(torch.bfloat16), weight).float()
    assert torch.allclose(projection(x, []), expected, atol=2e-2, rtol=2e-2)


def test_generation_sits_below_evaluate_serve_and_train():
    """evaluate, serve and chat all use it, so it may use none of them (nor the training stack)."""
    import subprocess
    import sys

    code = ("import sys, honed.generation; print(sorted(m for m in sys.modules "
            "if m.startswith(('honed.training', 'honed.evaluation', 'honed.serve', 'honed.compare'))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "[]"


def test_teacher_forced_logits_of_the_fused_decoder_are_the_models(base, two_adapters, engine):
    """What perplexity scores: the same logits as the model's own forward pass (fp32), per adapter too, for several
    sequences asked at once."""
    import torch

    from honed.generation.plain import forward_logits

    model, _, prompts = base
    for logits, prompt in zip(engine.logits(prompts), prompts, strict=True):
        assert torch.allclose(logits, forward_logits(model, prompt), atol=1e-4)
    assert engine.decoder.active == 0  # no row of the cache is taken
    lora, tokenizer = two_adapters
    with_adapters = Engine(lora, tokenizer, adapters=["left", "right"], precision="fp32")
    lora.set_adapter("right")
    [logits] = with_adapters.logits(prompts[2:3], "right")
    assert torch.allclose(logits, forward_logits(lora, prompts[2]), atol=1e-4)


def test_prompts_read_together_get_the_numbers_they_get_alone(base, two_adapters):
    """Where matmul rows are independent (oneDNN's packed bf16), prompts of different lengths and adapters are read in
    one pass; each prompt's cache and logits must equal, bit for bit, what it gets read alone, or a batched answer
    would differ from the answer alone."""
    import torch

    from honed.generation.fused import FusedDecoder, _packing_works

    if not _packing_works(torch.bfloat16, torch.device("cpu")):
        pytest.skip("no oneDNN bf16 on this CPU: prompts are read one at a time")
    _, _, prompts = base
    lora, _ = two_adapters
    decoder = FusedDecoder(lora, torch.bfloat16, rows=8, adapters=["left", "right"], activations=torch.float32)
    assert decoder.rows_independent
    adapters = [None, 0, 1, 0]
    alone = []
    for prompt, adapter in zip(prompts, adapters, strict=True):
        [logits] = decoder.prefill([(decoder.add_row(), prompt, adapter)])
        alone.append(logits)
    cached = [keys[:4].clone() for keys in decoder.keys]
    decoder.active = 0
    rows = [decoder.add_row() for _ in prompts]
    together = decoder.prefill(list(zip(rows, prompts, adapters, strict=True)))
    assert all(torch.equal(a, t) for a, t in zip(alone, together, strict=True))
    assert all(torch.equal(before, keys[:4]) for before, keys in zip(cached, decoder.keys, strict=True))
    read = list(decoder.logits(prompts[:2], 1))
    assert torch.equal(read[1][0, -1], decoder.prefill([(decoder.add_row(), prompts[1], 1)])[0])


@pytest.mark.parametrize("architecture", ["qwen2", "gpt2"])
def test_other_architectures_fused_where_known_else_through_transformers(base, architecture):
    """Qwen2 (biases on q, k and v) runs in the fused decoder, GPT-2 through transformers; both answer as
    transformers does."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, Qwen2Config, Qwen2ForCausalLM

    _, tokenizer, prompts = base
    torch.manual_seed(0)
    if architecture == "qwen2":
        model = Qwen2ForCausalLM(Qwen2Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                                             num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                             max_position_embeddings=256))
        with torch.no_grad():  # initialised to zero: random biases, so a mishandled one shows
            for name, parameter in model.named_parameters():
                if name.endswith("bias"):
                    parameter.copy_(torch.randn(parameter.shape) * 0.5)
    else:
        model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=2, n_head=4,
                                           n_positions=256))
    model.eval()
    engine = Engine(model, tokenizer, max_batch=4, precision="fp32")
    assert (engine.decoder is not None) == (architecture == "qwen2"), engine.path
    settings = GenerationConfig(max_new_tokens=12, batch_size=4)
    assert engine.generate(prompts, settings) == plain_generate(model, tokenizer, prompts, settings)


def test_closing_the_engine_ends_the_answers_under_way(base):
    """A server shutting down: a reader still waiting gets an error, not a hang."""
    model, tokenizer, prompts = base
    engine = Engine(model, tokenizer, max_batch=2, precision="fp32")
    answer = engine.submit(prompts[1], GenerationConfig(max_new_tokens=480))
    next(answer)
    engine.close()
    with pytest.raises(RuntimeError, match="closed"):
        list(answer)
