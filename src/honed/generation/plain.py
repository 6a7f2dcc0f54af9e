"""transformers' `generate` for every model and technique the fused decoder does not run (generation/fused.py):
prompts of several lengths share a batch by left padding, peft's prompt-learning techniques generate through the
base model (see below), and a streamed answer stops when its reader leaves or its time is up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from honed.config import GenerationConfig
from honed.generation.text import cut_at_stop, stop_token_ids


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
    options = {"temperature": settings.temperature, "top_p": settings.top_p, "top_k": settings.top_k} if sampling \
        else {}
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


def forward_logits(model, input_ids: list[int]):
    """Teacher-forced next-token logits [1, len, vocab] of one sequence, from the model's own forward pass."""
    import torch

    ids = torch.tensor([input_ids], device=next(model.parameters()).device)
    with torch.inference_mode():
        # From the logits, not `.loss`: AdaLoRA adds its regulariser to `.loss`, even in eval mode.
        return model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits


# One answer, streamed (the engine's path for models the fused decoder does not run)


def generate_streaming(model, tokenizer, prompt_ids: list[int], settings: GenerationConfig, row,
                       cancel: threading.Event, deadline: float) -> bool:
    """Generates one answer into `row` (generation.engine.Row), token by token; stops early when `cancel` is set
    or the deadline (a `time.monotonic()` value) passes. Returns whether the row ended (else it was halted)."""
    import torch
    from transformers import StoppingCriteriaList
    from transformers.generation.streamers import BaseStreamer

    class IntoRow(BaseStreamer):
        """transformers hands a streamer the prompt first, then each new token."""

        prompt_seen = False
        ended = False

        def put(self, value):
            if not self.prompt_seen:
                self.prompt_seen = True
                return
            for token in value.reshape(-1).tolist():
                self.ended = self.ended or row.take(int(token))

        def end(self):
            pass

    into_row = IntoRow()
    options = generation_options(model, tokenizer, settings)
    options.update(streamer=into_row, stopping_criteria=StoppingCriteriaList([_halt(cancel, deadline, into_row)]))
    ids = torch.tensor([prompt_ids], device=next(model.parameters()).device)
    generate_new_tokens(model, ids, torch.ones_like(ids), options)
    return into_row.ended


def _halt(cancel: threading.Event, deadline: float, into_row):
    """A stopping criterion (transformers' hook, checked after every new token) that ends generation once the row
    has ended, `cancel` is set or the deadline has passed."""
    import torch
    from transformers import StoppingCriteria

    class Halt(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            done = into_row.ended or cancel.is_set() or time.monotonic() > deadline
            return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)

    return Halt()
