"""Generation for every technique, shared by `honed eval`, `honed serve` and `honed chat`.

One module decides how a tuned model answers: where its turn ends (stop tokens and strings), how prompts of several
lengths share a batch (left padding), how peft's prompt-learning techniques generate (through the base model, see
below), and how a streamed answer is stopped when its reader leaves or its time is up. It lives at the bottom of the
package beside `honed.config`, not inside evaluate/ or serve/: both use it and it needs neither (nor train/).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from honed.config import GenerationConfig

# End-of-turn tokens of common chat templates; generation stops at any of them that the vocabulary has.
END_OF_TURN_TOKENS = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|endoftext|>")


def stop_token_ids(tokenizer, model=None) -> list[int]:
    """EOS, the end-of-turn tokens the vocabulary has and the model's own configured EOS: a chat model may end its
    turn with any of them, and generating past one writes the next (invented) turn."""
    ids = {tokenizer.eos_token_id}
    vocab = tokenizer.get_vocab()
    ids.update(vocab[token] for token in END_OF_TURN_TOKENS if token in vocab)
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids.update(configured if isinstance(configured, list) else [configured])
    return sorted(i for i in ids if i is not None)


def left_pad(batch: list[list[int]], pad_id: int):
    """Pads on the left, so every row's next token is generated at the same (last) position."""
    import torch

    width = max(map(len, batch))
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(batch), width), dtype=torch.long)
    for row, ids in enumerate(batch):
        input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
        attention[row, width - len(ids) :] = 1
    return input_ids, attention


def generation_options(model, tokenizer, settings: GenerationConfig) -> dict:
    """Keyword arguments of `generate` for these settings: greedy at temperature 0, honed's stop tokens and strings."""
    sampling = settings.temperature > 0
    options = {"temperature": settings.temperature, "top_p": settings.top_p} if sampling else {}
    if settings.stop:
        options.update(stop_strings=list(settings.stop), tokenizer=tokenizer)
    options.update(max_new_tokens=settings.max_new_tokens, do_sample=sampling,
                   eos_token_id=stop_token_ids(tokenizer, model), pad_token_id=tokenizer.pad_token_id)
    return options


# Batched answers (evaluation)


def generate(model, tokenizer, prompts: list[list[int]], settings: GenerationConfig, progress=None) -> list[str]:
    """Answers to token-id prompts, in order. Prompts are sorted by length inside so batches pad little."""
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    answers: dict[int, str] = {}
    for indices in _chunks(order, settings.batch_size):
        texts = _generate_batch(model, tokenizer, [prompts[i] for i in indices], settings)
        answers.update(zip(indices, texts, strict=True))
        if progress is not None:
            progress.update(len(indices))
    return [answers[i] for i in range(len(prompts))]


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _generate_batch(model, tokenizer, batch: list[list[int]], settings: GenerationConfig) -> list[str]:
    device = next(model.parameters()).device
    input_ids, attention = left_pad(batch, tokenizer.pad_token_id)
    options = generation_options(model, tokenizer, settings)
    new_tokens = generate_new_tokens(model, input_ids.to(device), attention.to(device), options)
    return [cut_at_stop(tokenizer.decode(row, skip_special_tokens=True), settings.stop) for row in new_tokens]


def cut_at_stop(text: str, stops: list[str]) -> str:
    """The answer up to the first stop string, without surrounding whitespace."""
    return _before_stop(text, stops).strip()


def _before_stop(text: str, stops) -> str:
    positions = [text.find(stop) for stop in stops if stop]
    return text[: min((p for p in positions if p >= 0), default=len(text))]


# Every technique through one call


def generate_new_tokens(model, input_ids, attention, options: dict):
    """model.generate for any technique, returning only the new tokens (options may carry a streamer)."""
    import torch

    with torch.inference_mode():
        if _soft_prompt(model):
            return _generate_after_soft_prompt(model, input_ids, attention, options)
        if _prefix_tuned(model):
            return _generate_after_prefix(model, input_ids, attention, options)
        output = model.generate(input_ids=input_ids, attention_mask=attention, **options)
        return output[:, input_ids.shape[1] :]


def _prefix_tuned(model) -> bool:
    config = getattr(model, "active_peft_config", None)
    return str(getattr(config, "peft_type", "")).endswith("PREFIX_TUNING")


def _generate_after_prefix(model, input_ids, attention, options: dict):
    """Prefix tuning's generate in peft 0.21 under transformers 5 drops the learned prefix once the KV cache is on:
    its answers were word for word the base model's (40 of 40 prompts, measured), while its own forward pass, which
    training uses, predicts otherwise. So honed hands the base model's generate the prefix as a filled cache,
    behind placeholder tokens that stand for the cached positions, exactly as peft's forward lays them out."""
    import torch

    base = model.get_base_model()
    prefix = model.active_peft_config.num_virtual_tokens
    batch = input_ids.shape[0]
    placeholders = input_ids.new_full((batch, prefix), int(options.get("pad_token_id") or 0))
    mask = torch.cat([attention.new_ones(batch, prefix), attention], dim=1)
    output = base.generate(input_ids=torch.cat([placeholders, input_ids], dim=1), attention_mask=mask,
                           past_key_values=model.get_prompt(batch_size=batch), **options)
    return output[:, prefix + input_ids.shape[1] :]


def _soft_prompt(model) -> bool:
    config = getattr(model, "active_peft_config", None)
    return config is not None and getattr(config, "is_prompt_learning", False) and \
        str(getattr(config, "peft_type", "")).endswith(("PROMPT_TUNING", "P_TUNING"))


def _generate_after_soft_prompt(model, input_ids, attention, options: dict):
    """Prompt tuning's generate in peft 0.21 under transformers 5 corrupts every token after the first once the KV
    cache is on (measured: coherent text without the cache, noise with it). So honed prepends the learned virtual
    tokens itself, as peft's forward does, and lets the base model's own generate run with a correct cache."""
    import torch

    base = model.get_base_model()
    embeds = base.get_input_embeddings()(input_ids)
    virtual = model.get_prompt(batch_size=input_ids.shape[0]).to(embeds.dtype)
    mask = torch.cat([attention.new_ones(attention.shape[0], virtual.shape[1]), attention], dim=1)
    return base.generate(inputs_embeds=torch.cat([virtual, embeds], dim=1), attention_mask=mask, **options)


# One answer, streamed (serve, chat)


@dataclass
class Streamed:
    """How a streamed answer ended; filled in when its iterator is exhausted."""

    text: str = ""
    tokens: int = 0
    finish_reason: str = "stop"  # "stop" (end of turn or a stop string), "length", or "timeout" (deadline passed)


def stream(model, tokenizer, prompt_ids: list[int], settings: GenerationConfig, outcome: Streamed,
           deadline: float = float("inf")) -> Iterator[str]:
    """The answer's text piece by piece as the model writes it; `outcome` holds the totals once exhausted.

    `generate` runs in a worker thread, checking after every token a stopping criterion that watches the deadline
    (a `time.monotonic()` value) and a cancel flag. Closing this iterator early (a client that hung up, Ctrl-C) sets
    the flag and waits for the thread, so when `close()` returns the model is idle: a caller that switches adapters
    for the next request cannot race a generation still running in the background.
    """
    from transformers import StoppingCriteriaList, TextIteratorStreamer

    cancel = threading.Event()
    halt = _halt_criterion(cancel, deadline)
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    options = generation_options(model, tokenizer, settings)
    options.update(streamer=streamer, stopping_criteria=StoppingCriteriaList([halt]))
    result: dict = {}
    worker = threading.Thread(target=_generate_into, args=(model, prompt_ids, options, result), daemon=True,
                              name="honed-generate")
    worker.start()
    try:
        yield from _shown_pieces(streamer, settings.stop, outcome)
    finally:
        cancel.set()
        worker.join()
    if "error" in result:
        raise result["error"]
    tokens = result["tokens"]
    outcome.tokens = int(tokens.numel())
    ended = outcome.tokens > 0 and int(tokens[-1]) in stop_token_ids(tokenizer, model)
    if halt.timed_out:
        outcome.finish_reason = "timeout"
    elif outcome.tokens >= settings.max_new_tokens and not ended:
        outcome.finish_reason = "length"


def _halt_criterion(cancel: threading.Event, deadline: float):
    """A stopping criterion (transformers' hook, checked after every new token) that ends generation once `cancel`
    is set or the deadline has passed; `timed_out` tells which."""
    import torch
    from transformers import StoppingCriteria

    class Halt(StoppingCriteria):
        timed_out = False

        def __call__(self, input_ids, scores, **kwargs):
            self.timed_out = self.timed_out or time.monotonic() > deadline
            done = self.timed_out or cancel.is_set()
            return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)

    return Halt()


def _generate_into(model, prompt_ids: list[int], options: dict, result: dict) -> None:
    """The worker thread's work; an error is kept for the reading thread, and ends the stream so it does not wait."""
    import torch

    try:
        ids = torch.tensor([prompt_ids], device=next(model.parameters()).device)
        result["tokens"] = generate_new_tokens(model, ids, torch.ones_like(ids), options)[0]
    except Exception as error:
        result["error"] = error
        options["streamer"].end()


def _shown_pieces(streamer, stops: list[str], outcome: Streamed) -> Iterator[str]:
    """The streamer's text cut at the first stop string. A tail that could still grow into a stop string is held
    back until it cannot, so no piece already sent has to be taken back."""
    text, sent = "", 0
    for piece in streamer:
        text += piece
        shown = _before_stop(text, stops)
        if len(shown) == len(text):
            shown = shown[: len(shown) - _stop_prefix_length(shown, stops)]
        if len(shown) > sent:
            yield shown[sent:]
            sent = len(shown)
    outcome.text = _before_stop(text, stops)
    if len(outcome.text) > sent:
        yield outcome.text[sent:]


def _stop_prefix_length(text: str, stops: list[str]) -> int:
    """Length of the longest end of `text` that is the start of a stop string."""
    return max((k for stop in stops for k in range(1, len(stop)) if text.endswith(stop[:k])), default=0)
