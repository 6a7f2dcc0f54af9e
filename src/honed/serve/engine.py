"""One generation at a time, with a bounded waiting line and a deadline per request.

A CPU (or a single GPU) runs one model call fastest alone; concurrent requests wait their turn, and beyond
`max_queue` waiting they are turned away at once (HTTP 429) rather than piling up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from honed.serve.pool import Served


class Busy(Exception):
    """More requests are waiting than the queue allows."""


class TimedOut(Exception):
    """The request's deadline passed before or during generation."""


@dataclass
class Request:
    prompt_ids: list[int]
    max_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    deadline: float = float("inf")  # time.monotonic() value


@dataclass
class Outcome:
    text: str = ""
    completion_tokens: int = 0
    finish_reason: str = "stop"


class Engine:
    def __init__(self, max_queue: int = 8):
        self.max_queue = max_queue
        self._turn = threading.Lock()
        self._count = threading.Lock()
        self.waiting = 0

    def run(self, served: Served, request: Request, outcome: Outcome) -> Iterator[str]:
        """Text pieces as they are generated; `outcome` holds the totals once the iterator is exhausted."""
        self._enter()
        try:
            if not self._turn.acquire(timeout=max(0.0, min(request.deadline - time.monotonic(), 1e6))):
                raise TimedOut("waited past the request timeout for a free model")
        finally:
            self._leave()
        try:
            yield from _generate(served, request, outcome)
        finally:
            self._turn.release()

    def _enter(self) -> None:
        with self._count:
            if self.waiting >= self.max_queue:
                raise Busy(f"{self.waiting} requests already waiting (--max-queue {self.max_queue}); retry later")
            self.waiting += 1

    def _leave(self) -> None:
        with self._count:
            self.waiting -= 1


def _generate(served: Served, request: Request, outcome: Outcome) -> Iterator[str]:
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

    from honed.evaluate.generation import cut_at_stop, generate_new_tokens, stop_token_ids

    class Deadline(StoppingCriteria):
        hit = False

        def __call__(self, input_ids, scores, **kwargs):
            Deadline.hit = Deadline.hit or time.monotonic() > request.deadline
            return torch.full((input_ids.shape[0],), Deadline.hit, dtype=torch.bool, device=input_ids.device)

    tokenizer = served.tokenizer
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    sampling = request.temperature > 0
    options = {"max_new_tokens": request.max_tokens, "do_sample": sampling, "streamer": streamer,
               "stopping_criteria": StoppingCriteriaList([Deadline()]), "pad_token_id": tokenizer.pad_token_id}
    if sampling:
        options.update(temperature=request.temperature, top_p=request.top_p)
    if request.stop:
        options.update(stop_strings=list(request.stop), tokenizer=tokenizer)
    result: dict = {}

    def work():
        try:
            with served.active() as model:
                options["eos_token_id"] = stop_token_ids(tokenizer, model)
                device = next(model.parameters()).device
                ids = torch.tensor([request.prompt_ids], device=device)
                result["tokens"] = generate_new_tokens(model, ids, torch.ones_like(ids), options)[0]
        except Exception as error:  # surfaced in the request thread below
            result["error"] = error
            streamer.on_finalized_text("", stream_end=True)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    text = ""
    for piece in streamer:
        cut = cut_at_stop(text + piece, list(request.stop)) if request.stop else text + piece
        fresh = cut[len(text):]
        text = cut
        if fresh:
            yield fresh
    thread.join()
    if "error" in result:
        raise result["error"]
    tokens = result["tokens"]
    outcome.text = text
    outcome.completion_tokens = int(tokens.numel())
    if Deadline.hit:
        outcome.finish_reason = "timeout"
    elif outcome.completion_tokens >= request.max_tokens and not _ended(tokens, tokenizer, served):
        outcome.finish_reason = "length"
    else:
        outcome.finish_reason = "stop"


def _ended(tokens, tokenizer, served) -> bool:
    from honed.evaluate.generation import stop_token_ids

    return int(tokens[-1]) in stop_token_ids(tokenizer, served.model) if tokens.numel() else False
