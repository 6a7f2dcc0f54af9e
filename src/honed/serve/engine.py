"""One generation at a time, with a bounded waiting line and a deadline per request.

A CPU (or a single GPU) runs one model call fastest alone, and the adapters sharing a base model are switched per
request on that one copy, so a second generation running beside the first would run with the wrong adapter.
Concurrent requests wait their turn, and beyond `max_queue` waiting they are turned away at once (HTTP 429) rather
than piling up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from honed.config import GenerationConfig
from honed.generation import Streamed, stream
from honed.serve.pool import Served


class Busy(Exception):
    """More requests are waiting than the queue allows."""


class TimedOut(Exception):
    """The request's deadline passed before or during generation."""


@dataclass
class Request:
    prompt_ids: list[int]
    settings: GenerationConfig
    deadline: float = float("inf")  # time.monotonic() value


class Engine:
    def __init__(self, max_queue: int = 8):
        self.max_queue = max_queue
        self._turn = threading.Lock()
        self._count = threading.Lock()
        self.waiting = 0

    def run(self, served: Served, request: Request, outcome: Streamed) -> Iterator[str]:
        """Text pieces as they are generated; `outcome` holds the totals once the iterator is exhausted.

        Closing the iterator early stops the generation and waits for it before the model is handed to the next
        request: the adapter switch (`served.active()`) is undone and the turn released only once nothing runs.
        """
        self._wait_for_turn(request.deadline)
        try:
            with served.active() as model:
                yield from stream(model, served.tokenizer, request.prompt_ids, request.settings, outcome,
                                  request.deadline)
        finally:
            self._turn.release()

    def _wait_for_turn(self, deadline: float) -> None:
        self._enter()
        try:
            if not self._turn.acquire(timeout=max(0.0, min(deadline - time.monotonic(), 1e6))):
                raise TimedOut("waited past the request timeout for a free model")
        finally:
            self._leave()

    def _enter(self) -> None:
        with self._count:
            if self.waiting >= self.max_queue:
                raise Busy(f"{self.waiting} requests already waiting (--max-queue {self.max_queue}); retry later")
            self.waiting += 1

    def _leave(self) -> None:
        with self._count:
            self.waiting -= 1
