"""An exported GGUF answering in llama.cpp itself (through llama-cpp-python): what a user of llama.cpp or Ollama
gets from the file, for the checks and measurements that compare it with honed's own answers.

llama-cpp-python runs the file; what it lacks is a greedy loop that stops at a set of token ids and renders each
conversation with the chat template stored in the file, which is written here.
"""

from __future__ import annotations

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
                   chat_template: str | None = None) -> Answers:
    """Greedy answers, one conversation at a time, each prompt rendered with the file's own chat template (or
    `chat_template`: a base model's file may carry none, and its adapter's run has one)."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    token = lambda i: llm.detokenize([i], special=True).decode()  # noqa: E731
    template = chat_template or llm.metadata["tokenizer.chat_template"]
    render = Jinja2ChatFormatter(template, eos_token=token(llm.token_eos()),
                                 bos_token=token(llm.token_bos()), add_generation_prompt=True)
    started = time.perf_counter()
    prompts = [llm.tokenize(render(messages=c).prompt.encode(), add_bos=False, special=True) for c in conversations]
    answers = greedy_tokens(llm, prompts, stops, new_tokens)
    return Answers(answers.tokens, time.perf_counter() - started)


def greedy_tokens(llm, prompts: list[list[int]], stops: set[int], new_tokens: int) -> Answers:
    """Greedy answers to prompts given as token ids, one at a time."""
    answers, started = [], time.perf_counter()
    for ids in prompts:
        answer: list[int] = []
        for tok in llm.generate(ids, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0, reset=True):
            if tok in stops or len(answer) == new_tokens:
                break
            answer.append(tok)
        answers.append(answer)
    return Answers(answers, time.perf_counter() - started)


def texts(llm, answers: Answers) -> list[str]:
    return [llm.detokenize(answer).decode("utf-8", errors="replace").strip() for answer in answers.tokens]
