"""Generation for every technique, shared by `honed eval`, `honed compare`, `honed review`, `honed serve` and
`honed chat`: the one place callers go through.

An `Engine` holds one loaded model (with its adapters) and answers requests batched continuously through a fused
decoder (generation/fused.py) where the model allows, else through transformers' `generate` one request at a time
(generation/plain.py). Where an answer ends and what of it is shown is decided once (generation/text.py). The package
sits at the bottom beside `honed.config`: evaluate/, serve/ and train/ use it, and it needs none of them.
"""

from __future__ import annotations

from honed.config import GenerationConfig
from honed.generation.engine import BASE, Answer, Busy, Engine, Streamed, TimedOut, inference_dtype
from honed.generation.plain import generate_new_tokens, generation_options, left_pad
from honed.generation.text import cut_at_stop, stop_token_ids


def generate(model, tokenizer, prompts: list[list[int]], settings: GenerationConfig, progress=None) -> list[str]:
    """Answers to token-id prompts, in order, `settings.batch_size` at a time, through an engine made for the call
    (it copies the weights as they are now, so a model still training is answered as it stands)."""
    engine = Engine(model, tokenizer, max_batch=settings.batch_size, precision=settings.precision)
    return engine.generate(prompts, settings, progress)


__all__ = ["BASE", "Answer", "Busy", "Engine", "Streamed", "TimedOut", "cut_at_stop", "generate",
           "generate_new_tokens", "generation_options", "inference_dtype", "left_pad", "stop_token_ids"]
