"""One engine per loaded model: every answer honed writes (eval, compare, review, chat, serve) goes through it.

Requests join a running batch between decode steps and leave it when they end, are cancelled or time out
(continuous batching, as vLLM and llama.cpp's server do), each row with its own sampling settings, seed and LoRA
adapter. Models the fused decoder cannot run (generation/fused.py says which) answer one request at a time through
transformers' `generate` (generation/plain.py), as before; `Engine.path` says which one a model got, and why.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from honed.config import GenerationConfig
from honed.generation.plain import forward_logits, generate as generate_plainly, generate_streaming
from honed.generation.text import AnswerText, cut_at_stop, stop_token_ids

log = logging.getLogger("honed")

BASE = "__base__"  # the adapter name that means "adapters off" (peft's own name for it in mixed batches)


class Busy(Exception):
    """More requests are waiting than the queue allows."""


class TimedOut(Exception):
    """The request's deadline passed before its generation started."""


@dataclass
class Streamed:
    """How one answer ended; filled in when its generation ends."""

    text: str = ""
    tokens: int = 0
    ids: list[int] = field(default_factory=list)  # the tokens chosen, the stop token included (GRPO trains on them)
    finish_reason: str = "stop"  # "stop" (end of turn or a stop string), "length", or "timeout" (deadline passed)


class Answer:
    """The pieces of a request's answers as they are written: iterating gives (choice index, text piece) until
    every choice has ended; `outcomes` then hold each choice's totals. `close()` (or dropping the iterator early)
    cancels what is still generating: its rows leave the batch at the next step, changing no other answer."""

    def __init__(self, choices: int):
        self.outcomes = [Streamed() for _ in range(choices)]
        self.cancelled = threading.Event()
        self._events: collections.deque = collections.deque()
        self._ready = threading.Condition()
        self._open = choices

    def __iter__(self) -> Iterator[tuple[int, str]]:
        return self

    def __next__(self) -> tuple[int, str]:
        while True:
            with self._ready:
                while not self._events and self._open:
                    self._ready.wait()
                if not self._events:
                    raise StopIteration
                kind, index, value = self._events.popleft()
            if kind == "piece":
                return index, value
            if kind == "error":
                self._open = 0
                raise value

    def texts(self) -> Iterator[str]:
        """The pieces alone (one choice)."""
        try:
            for _, piece in self:
                yield piece
        finally:
            self.close()

    def close(self) -> None:
        self.cancelled.set()

    def _put(self, kind: str, index: int = 0, value=None) -> None:
        with self._ready:
            self._events.append((kind, index, value))
            if kind == "end":
                self._open -= 1
            elif kind == "error":
                self._open = 0
            self._ready.notify_all()


@dataclass
class Job:
    prompt_ids: list[int]
    settings: GenerationConfig
    adapter: str | None
    deadline: float
    answer: Answer
    on_end: object = None  # called with the job once every choice has ended (synchronous generation)


@dataclass
class Row:
    """One choice of one job, in the batch."""

    job: Job
    choice: int
    text: AnswerText
    adapter: int | None
    generator: object = None
    last: int = 0
    tokens: int = 0
    stop_ids: frozenset = field(default_factory=frozenset)

    @property
    def outcome(self) -> Streamed:
        return self.job.answer.outcomes[self.choice]

    def take(self, token: int) -> bool:
        """Adds the token the row chose; True once the answer has ended."""
        self.last = token
        self.tokens += 1
        piece = self.text.add(token)
        if piece:
            self.job.answer._put("piece", self.choice, piece)
        settings = self.job.settings
        if token in self.stop_ids or self.text.stopped:
            return self.end("stop")
        if self.tokens >= settings.max_new_tokens:
            return self.end("length")
        if time.monotonic() > self.job.deadline:
            return self.end("timeout")
        return False

    def end(self, reason: str) -> bool:
        rest = self.text.rest()
        if rest:
            self.job.answer._put("piece", self.choice, rest)
        self.outcome.text, self.outcome.tokens, self.outcome.finish_reason = self.text.text, self.tokens, reason
        self.outcome.ids = list(self.text.ids)
        self.job.answer._put("end", self.choice)
        return True


class Engine:
    """Answers for one model and its adapters. `adapters` names the LoRA adapters requests may ask for (each also
    may ask for BASE); without it the model answers as it is, its one adapter folded into the weights."""

    def __init__(self, model, tokenizer, adapters: list[str] | None = None, max_batch: int = 16,
                 max_queue: int = 64, precision: str = "auto"):
        self.model, self.tokenizer = model, tokenizer
        self.max_batch, self.max_queue = max_batch, max_queue
        self.stop_ids = frozenset(stop_token_ids(tokenizer, model))
        self.decoder, self.path = _decoder(model, adapters, max_batch, precision)
        self.adapters = list(adapters or [])
        self.steps = 0  # decode steps run (tests watch it go still once every answer has ended)
        self._pending: collections.deque[Job] = collections.deque()
        self._decoding = threading.Lock()  # the decoder's cache serves one caller at a time
        self._wake = threading.Condition()
        self._worker: threading.Thread | None = None
        self._closed = False

    @property
    def waiting(self) -> int:
        return len(self._pending)

    # Asynchronous: serve and chat

    def submit(self, prompt_ids: list[int], settings: GenerationConfig, adapter: str | None = None,
               deadline: float = float("inf"), choices: int = 1) -> Answer:
        """Queues a request; its answer streams from the returned `Answer`. Raises Busy past `max_queue`."""
        self._check(adapter, choices)
        answer = Answer(choices)
        with self._wake:
            if len(self._pending) >= self.max_queue:
                raise Busy(f"{len(self._pending)} requests already waiting (--max-queue {self.max_queue}); "
                           "retry later")
            self._pending.append(Job(prompt_ids, settings, adapter, deadline, answer))
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, daemon=True, name="honed-engine")
                self._worker.start()
            self._wake.notify_all()
        return answer

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify_all()
        if self._worker is not None:
            self._worker.join()

    def _check(self, adapter: str | None, choices: int) -> None:
        if adapter not in (None, BASE) and adapter not in self.adapters:
            raise KeyError(adapter)
        if choices > self.max_batch:
            raise ValueError(f"{choices} choices are more than the batch holds ({self.max_batch})")

    def _work(self) -> None:
        batch = _Batch(self) if self.decoder is not None else None
        while True:
            with self._wake:
                while not self._pending and not (batch and batch.rows) and not self._closed:
                    self._wake.wait(timeout=1.0)
                if self._closed:
                    closed = RuntimeError("the engine was closed")
                    self._fail_pending(closed)
                    for row in batch.rows if batch else []:
                        row.job.answer._put("error", value=closed)
                    return
                admitted = self._admissible(batch)
            try:
                with self._decoding:
                    self._start([job for job in admitted if self._still_wanted(job)], batch)
                    if batch and batch.rows:
                        batch.step()
            except Exception as error:  # a bug: the answers under way fail, the engine serves on
                log.exception("generation failed")
                batch = self._restart(batch, error)
            self._expire_waiting()

    def _restart(self, batch, error: Exception):
        if batch is None:
            return None
        for row in batch.rows:
            row.job.answer._put("error", value=error)
        self.decoder.active = 0
        return _Batch(self)

    def _admissible(self, batch) -> list[Job]:
        if batch is None:
            return [self._pending.popleft()] if self._pending else []
        admitted, free = [], self.max_batch - len(batch.rows)
        while self._pending and len(self._pending[0].answer.outcomes) <= free:
            job = self._pending.popleft()
            free -= len(job.answer.outcomes)
            admitted.append(job)
        return admitted

    @staticmethod
    def _still_wanted(job: Job) -> bool:
        if job.answer.cancelled.is_set():
            job.answer._put("error", value=TimedOut("cancelled before it started"))
            return False
        if time.monotonic() > job.deadline:
            job.answer._put("error", value=TimedOut("waited past the request timeout for a free model"))
            return False
        return True

    def _start(self, jobs: list[Job], batch) -> None:
        """Starts the jobs together; if that fails, each alone, so one bad request fails alone."""
        if batch is not None and len(jobs) > 1:
            try:
                batch.admit(jobs)
                return
            except Exception:  # noqa: BLE001 - retried one by one below, where the failure is reported
                pass
        for job in jobs:
            try:
                if batch is None:
                    self._run_plain(job)
                else:
                    batch.admit([job])
            except Exception as error:  # a bug or a bad request: the request fails, the engine serves on
                log.exception("generation failed")
                job.answer._put("error", value=error)

    def _expire_waiting(self) -> None:
        now = time.monotonic()
        with self._wake:
            expired = [job for job in self._pending if now > job.deadline or job.answer.cancelled.is_set()]
            for job in expired:
                self._pending.remove(job)
        for job in expired:
            job.answer._put("error", value=TimedOut("waited past the request timeout for a free model"))

    def _fail_pending(self, error: Exception) -> None:
        while self._pending:
            self._pending.popleft().answer._put("error", value=error)

    # Synchronous: eval, compare, review

    def generate(self, prompts: list[list[int]], settings: GenerationConfig, progress=None,
                 adapter: str | None = None) -> list[str]:
        """Answers to token-id prompts, in order, up to `settings.batch_size` (at most max_batch) at a time."""
        if self.decoder is None:
            with _activated(self.model, adapter):
                return generate_plainly(self.model, self.tokenizer, prompts, settings, progress)
        return [cut_at_stop(outcomes[0].text, settings.stop)
                for outcomes in self.completions(prompts, settings, 1, progress, adapter)]

    def completions(self, prompts: list[list[int]], settings: GenerationConfig, choices: int = 1, progress=None,
                    adapter: str | None = None) -> list[list[Streamed]]:
        """Each prompt's `choices` answers with their token ids, all decoded together (GRPO's groups of completions
        per prompt). Needs the fused decoder."""
        if self.decoder is None:
            raise RuntimeError(f"completions need the fused decoder; this model answers through the {self.path}")
        if choices > min(settings.batch_size, self.max_batch):
            raise ValueError(f"{choices} answers per prompt need a batch of at least as many rows (batch_size "
                             f"{settings.batch_size}, engine max_batch {self.max_batch})")
        answers = [Answer(choices) for _ in prompts]
        done = (lambda job: progress.update(1)) if progress is not None else None
        waiting = collections.deque(Job(p, settings, adapter, float("inf"), a, done)
                                    for p, a in zip(prompts, answers, strict=True))
        batch = _Batch(self, limit=min(settings.batch_size, self.max_batch))
        with self._decoding:
            if self.decoder.active:
                raise RuntimeError("generate() on an engine that is answering requests: give it an engine of its own")
            while waiting or batch.rows:
                joining = []
                while waiting and len(batch.rows) + choices * (len(joining) + 1) <= batch.limit:
                    joining.append(waiting.popleft())
                if joining:
                    batch.admit(joining)
                if batch.rows:
                    batch.step()
        return [answer.outcomes for answer in answers]

    def logits(self, sequences: list[list[int]], adapter: str | None = None) -> Iterator:
        """Teacher-forced next-token logits [1, len, vocab] (float32) of each whole sequence, in order, through the
        fused decoder (in its dtype, several sequences per pass) where there is one, else the model's own forward
        pass."""
        if self.decoder is None:
            for input_ids in sequences:
                with _activated(self.model, adapter):
                    yield forward_logits(self.model, input_ids)
            return
        index = None if adapter in (None, BASE) else self.adapters.index(adapter)
        parts = self.decoder.logits(sequences, index)
        while True:
            with self._decoding:  # held per pass, so a serving engine's requests go on between them
                part = next(parts, None)
            if part is None:
                return
            yield part

    # One at a time through transformers

    def _run_plain(self, job: Job) -> None:
        for choice in range(len(job.answer.outcomes)):
            if job.answer.cancelled.is_set():
                job.answer._put("end", choice)
                continue
            row = Row(job, choice, AnswerText(self.tokenizer, job.settings.stop), None, stop_ids=self.stop_ids)
            if job.settings.seed is not None:
                import torch

                torch.manual_seed(job.settings.seed + choice)  # transformers samples from the global generator
            with _activated(self.model, job.adapter):
                finished = generate_streaming(self.model, self.tokenizer, job.prompt_ids, job.settings, row,
                                              job.answer.cancelled, job.deadline)
            if not finished:
                row.end("timeout" if time.monotonic() > job.deadline else "stop")


class _Batch:
    """The rows decoding together, in the fused decoder's row order."""

    def __init__(self, engine: Engine, limit: int | None = None):
        self.engine, self.decoder = engine, engine.decoder
        self.limit = limit or engine.max_batch
        self.rows: list[Row] = []

    def admit(self, jobs: list[Job]) -> None:
        """Caches the jobs' prompts (together, where the decoder can), copies each to its further choices' rows, and
        picks each row's first token. On failure no row of these jobs is left in the batch."""
        import torch

        engine, decoder = self.engine, self.decoder
        adapters = [None if job.adapter in (None, BASE) else engine.adapters.index(job.adapter) for job in jobs]
        before = decoder.active
        firsts = [decoder.add_row() for _ in jobs]
        try:
            logits = decoder.prefill([(row, job.prompt_ids, adapter)
                                      for row, job, adapter in zip(firsts, jobs, adapters, strict=True)])
        except Exception:
            decoder.active = before
            raise
        joined: dict[int, tuple[Row, object]] = {}  # decoder row -> (its row, its prompt's logits)
        for first, job, adapter, first_logits in zip(firsts, jobs, adapters, logits, strict=True):
            for choice in range(len(job.answer.outcomes)):
                index = first
                if choice:
                    index = decoder.add_row()
                    decoder.copy_row(first, index)
                row = Row(job, choice, AnswerText(engine.tokenizer, job.settings.stop), adapter, stop_ids=engine.stop_ids)
                if job.settings.temperature > 0:
                    row.generator = torch.Generator(device=first_logits.device)
                    if job.settings.seed is not None:
                        row.generator.manual_seed(job.settings.seed + choice)
                    else:
                        row.generator.seed()
                joined[index] = (row, first_logits)
        self.rows.extend(joined[index][0] for index in sorted(joined))  # the decoder's rows from `before` on
        self._took({index: next_token(first_logits, row) for index, (row, first_logits) in joined.items()})

    def step(self) -> None:
        """One token for every row; ended and cancelled rows leave."""
        logits = self.decoder.decode([row.last for row in self.rows], [row.adapter for row in self.rows])
        self.engine.steps += 1
        greedy = logits.argmax(dim=-1).tolist()
        tokens = {i: greedy[i] if row.generator is None else next_token(logits[i], row)
                  for i, row in enumerate(self.rows)}
        self._took(tokens)

    def _took(self, tokens: dict[int, int]) -> None:
        ended = [i for i, token in tokens.items() if self.rows[i].job.answer.cancelled.is_set()
                 or self.rows[i].take(token)]
        for index in sorted(ended, reverse=True):
            self._drop(index)

    def _drop(self, index: int) -> None:
        row = self.rows[index]
        moved = self.decoder.drop_row(index)
        if moved is not None:
            self.rows[index] = self.rows[moved]
        self.rows.pop()
        job = row.job
        if job.on_end is not None and all(r.job is not job for r in self.rows):
            job.on_end(job)


def next_token(logits, row: Row) -> int:
    """Greedy, or sampled as transformers does: temperature, then top-k, then top-p, from the row's own generator
    (so a seeded request gets the same answer alone or in any batch)."""
    import torch

    settings = row.job.settings
    if row.generator is None:
        return int(logits.argmax())
    scores = logits / settings.temperature
    if settings.top_k and settings.top_k < scores.shape[-1]:
        kth = torch.topk(scores, settings.top_k).values[-1]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if settings.top_p < 1.0:
        ordered, order = torch.sort(scores)
        outside = ordered.softmax(dim=-1).cumsum(dim=-1) <= 1 - settings.top_p
        outside[-1] = False
        scores = scores.scatter(0, order[outside], float("-inf"))
    return int(torch.multinomial(scores.softmax(dim=-1), 1, generator=row.generator))


def _decoder(model, adapters: list[str] | None, rows: int, precision: str):
    """The fused decoder when it can run the model, with the reason otherwise (logged once)."""
    from honed.generation.fused import FusedDecoder, unsupported

    reason = unsupported(model)
    if reason is not None:
        return None, f"transformers generate, one request at a time ({reason})"
    import torch

    device = next(model.parameters()).device
    dtype = inference_dtype(device) if precision == "auto" else _dtype(precision)
    # On a CPU only the weights are narrowed: reading them is the cost, and fp32 activations keep greedy answers
    # closer to fp32 ones (measured on 16 support prompts, 32 tokens: 11 of 16 identical, against 8 in all-bf16).
    activations = torch.float32 if device.type == "cpu" else dtype
    decoder = FusedDecoder(model, dtype, rows, adapters, activations)
    described = _dtype_name(dtype) + (f" weights, {_dtype_name(activations)} activations" if activations != dtype else "")
    return decoder, f"fused decoder, {described}, batches of up to {rows}"


def _dtype_name(dtype) -> str:
    return {"torch.float32": "fp32", "torch.bfloat16": "bf16", "torch.float16": "fp16"}[str(dtype)]


def _dtype(name: str):
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[name]


def inference_dtype(device):
    """What `precision: auto` picks on this device: bf16 where it runs fast (measured, cached), else fp32."""
    import torch

    from honed.precision import choose_precision

    return _dtype(choose_precision("auto", device.type, threads=torch.get_num_threads()).name)


@contextlib.contextmanager
def _activated(model, adapter: str | None):
    """The plain path's adapter switch (one request at a time, so nothing else runs meanwhile)."""
    if adapter == BASE:
        with model.disable_adapter():
            yield
        return
    if adapter is not None:
        model.set_adapter(adapter)
    yield
