"""An exported GGUF answering in llama.cpp itself (through llama-cpp-python): what a user of llama.cpp or Ollama
gets from the file, for the checks and measurements that compare it with honed's own answers.

llama-cpp-python runs the file; what it lacks is a greedy loop that stops at a set of token ids and renders each
conversation with the chat template stored in the file, which is written here.
"""

from __future__ import annotations

import ctypes
import time
from dataclasses import dataclass
from pathlib import Path


def load(path: Path, threads: int = 1, **options):
    """One thread suits tiny models (on a shared 2-core machine two threads that meet at every barrier stall when
    another process takes a core); the default model, alone on the machine, takes two."""
    import llama_cpp

    return llama_cpp.Llama(model_path=str(path), n_ctx=1024, n_threads=threads, n_threads_batch=threads,
                           verbose=False, **options)


@dataclass
class Answers:
    tokens: list[list[int]]
    seconds: float  # prompts and generation together, as a user waits for them

    @property
    def tokens_per_s(self) -> float:
        return sum(len(t) for t in self.tokens) / max(self.seconds, 1e-9)


def greedy_answers(llm, conversations: list[list[dict]], stops: set[int], new_tokens: int,
                   chat_template: str | None = None, together: bool = False) -> Answers:
    """Greedy answers, one conversation at a time or all `together`, each prompt rendered with the file's own chat template (or
    `chat_template`: a base model's file may carry none, and its adapter's run has one)."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    token = lambda i: llm.detokenize([i], special=True).decode()  # noqa: E731
    template = chat_template or llm.metadata["tokenizer.chat_template"]
    render = Jinja2ChatFormatter(template, eos_token=token(llm.token_eos()),
                                 bos_token=token(llm.token_bos()), add_generation_prompt=True)
    started = time.perf_counter()
    prompts = [llm.tokenize(render(messages=c).prompt.encode(), add_bos=False, special=True) for c in conversations]
    answers = (greedy_together if together else greedy_tokens)(llm, prompts, stops, new_tokens)
    return Answers(answers.tokens, time.perf_counter() - started)


def greedy_tokens(llm, prompts: list[list[int]], stops: set[int], new_tokens: int) -> Answers:
    """Greedy answers to prompts given as token ids, one at a time, as llama.cpp's CLI answers one user."""
    answers, started = [], time.perf_counter()
    for ids in prompts:
        answer: list[int] = []
        for tok in llm.generate(ids, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0, reset=True):
            if tok in stops or len(answer) == new_tokens:
                break
            answer.append(tok)
        answers.append(answer)
    return Answers(answers, time.perf_counter() - started)


def greedy_together(llm, prompts: list[list[int]], stops: set[int], new_tokens: int) -> Answers:
    """Greedy answers to prompts given as token ids, decoded together: one llama_decode a step carries the next token
    of every answer still going (the prompts too are read in one batch), so the weights are read once a step for all
    of them (as llama.cpp's server decodes its parallel slots): the demo's 16 answers took 25 s one at a time on one
    core, 13 s together. llama-cpp-python's Llama decodes one sequence at a time; llama.cpp's C API, which it binds,
    decodes several, and is used here for that. The answers are llama.cpp's as much as the one-at-a-time ones, which
    themselves move with the context's size: the demo's Q4_1 base, greedy, answered 2 of its first 4 prompts
    differently in a context sized for the prompt than in Llama's 1024-token one."""
    started = time.perf_counter()
    with _Sequences(llm, prompts, new_tokens) as sequences:
        answers: list[list[int]] = [[] for _ in prompts]
        going = sequences.read_prompts()
        while going:
            finished = {i for i, tok in going.items() if tok in stops or len(answers[i]) == new_tokens}
            for i, tok in going.items():
                if i not in finished:
                    answers[i].append(tok)
            going = sequences.step({i: answers[i][-1] for i in going if i not in finished})
    return Answers(answers, time.perf_counter() - started)


class _Sequences:
    """A llama.cpp context of its own on `llm`'s weights (and LoRA adapter), one sequence per prompt in a KV cache
    they share, masked from each other; each step returns the greedy next token of each sequence asked about."""

    def __init__(self, llm, prompts: list[list[int]], new_tokens: int):
        import llama_cpp as c

        self.c, self.llm, self.prompts = c, llm, prompts
        self.positions = [len(p) for p in prompts]
        params = c.llama_context_default_params()
        per_sequence = -(-(max(len(p) for p in prompts) + new_tokens + 1) // 256) * 256  # llama.cpp's cache unit
        params.n_ctx = len(prompts) * per_sequence
        params.n_batch = max(sum(len(p) for p in prompts), len(prompts))
        params.n_ubatch = min(params.n_batch, 512)
        params.n_seq_max = len(prompts)
        params.kv_unified = False  # a stream of the cache per sequence: each attends to its own tokens only
        params.n_threads = params.n_threads_batch = llm.n_threads
        params.no_perf = True
        self.params = params

    def __enter__(self):
        c = self.c
        self.ctx = c.llama_init_from_model(self.llm.model, self.params)
        if self.ctx is None:
            raise RuntimeError("llama.cpp could not make a context for batched decoding")
        self.adapter = None
        if self.llm.lora_path:
            self.adapter = c.llama_adapter_lora_init(self.llm.model, self.llm.lora_path.encode())
            adapters = (c.llama_adapter_lora_p_ctypes * 1)(self.adapter)
            scales = (ctypes.c_float * 1)(self.llm.lora_scale)
            c.llama_set_adapters_lora(self.ctx, adapters, 1, scales)
        self.batch = c.llama_batch_init(self.params.n_batch, 0, 1)
        self.n_vocab = self.llm.n_vocab()
        return self

    def __exit__(self, *exc):
        c = self.c
        c.llama_batch_free(self.batch)
        c.llama_free(self.ctx)
        if self.adapter is not None:
            c.llama_adapter_lora_free(self.adapter)

    def read_prompts(self) -> dict[int, int]:
        rows = [(i, tok, pos, pos == len(p) - 1) for i, p in enumerate(self.prompts) for pos, tok in enumerate(p)]
        return self._decode(rows)

    def step(self, last: dict[int, int]) -> dict[int, int]:
        rows = [(i, tok, self.positions[i], True) for i, tok in last.items()]
        for i in last:
            self.positions[i] += 1
        return self._decode(rows) if rows else {}

    def _decode(self, rows) -> dict[int, int]:
        import numpy as np

        c, batch = self.c, self.batch
        batch.n_tokens = len(rows)
        wanted = []
        for j, (seq, tok, pos, logits) in enumerate(rows):
            batch.token[j], batch.pos[j], batch.n_seq_id[j], batch.logits[j] = tok, pos, 1, logits
            batch.seq_id[j][0] = seq
            if logits:
                wanted.append((seq, j))
        if c.llama_decode(self.ctx, batch) != 0:
            raise RuntimeError("llama.cpp's llama_decode failed")
        return {seq: int(np.ctypeslib.as_array(c.llama_get_logits_ith(self.ctx, j), shape=(self.n_vocab,)).argmax())
                for seq, j in wanted}


def texts(llm, answers: Answers) -> list[str]:
    return [llm.detokenize(answer).decode("utf-8", errors="replace").strip() for answer in answers.tokens]
