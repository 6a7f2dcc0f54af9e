"""Chat in the studio: a run, or the base model it was tuned from, answering a conversation streamed piece by piece;
the page asks two at once for side by side. Models load through honed serve's pool, so a run and its base share one
copy of the weights and one engine (their answers decode in one batch)."""

from __future__ import annotations

import collections
import threading

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from honed.errors import UserError

BASE_SUFFIX = "#base"  # "runs/x#base": the base model runs/x was tuned from, with the run's chat template
KEPT = 2  # runs kept loaded (each with its base): a third evicts the least recently used


class Models:
    """Loaded runs, each as a pool of the run and its base (honed.serve.pool)."""

    def __init__(self):
        self._pools: collections.OrderedDict = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, run_dir: str, base: bool):
        from honed.rundir import read_config
        from honed.serve.pool import load_pool, model_name

        with self._lock:
            pool = self._pools.pop(run_dir, None)
            if pool is None:
                pool = load_pool([run_dir])
                pool.start(max_batch=4)
            self._pools[run_dir] = pool
            while len(self._pools) > KEPT:
                self._pools.popitem(last=False)[1].close()
        from pathlib import Path

        name = model_name(read_config(run_dir).model) if base else Path(run_dir).name
        return pool.get(name)

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()


def router(studio) -> APIRouter:
    routes = APIRouter()
    workspace = studio.workspace

    @routes.get("/chat")
    def chat_page(request: Request, left: str = "", right: str = ""):
        runs = workspace.run_names()
        return studio.page(request, "chat.html", runs=runs, left=left, right=right)

    @routes.post("/api/chat")
    async def answer(request: Request):
        """The answer as plain text, streamed as it is written; closing the request stops its generation."""
        from starlette.concurrency import run_in_threadpool

        from honed.config import GenerationConfig
        from honed.data.encoding import generation_prompt_ids

        body = await request.json()
        reference = str(body.get("model") or "")
        run, base = reference.removesuffix(BASE_SUFFIX), reference.endswith(BASE_SUFFIX)
        messages = _messages(body)
        settings = GenerationConfig(max_new_tokens=int(body.get("max_new_tokens") or 256),
                                    temperature=float(body.get("temperature") or 0.0),
                                    top_p=float(body.get("top_p") or 1.0), stop=list(body.get("stop") or []))
        served = await run_in_threadpool(studio.models.get, str(workspace.run(run)), base)
        prompt = generation_prompt_ids(served.tokenizer, messages)
        limit = served.context_length - len(prompt)
        if limit < 1:
            raise UserError(f"the conversation is {len(prompt)} tokens, the model's whole context; clear it")
        settings = settings.model_copy(update={"max_new_tokens": min(settings.max_new_tokens, limit)})
        answer = served.submit(prompt, settings)
        return StreamingResponse(answer.texts(), media_type="text/plain; charset=utf-8",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    return routes


def _messages(body: dict) -> list[dict]:
    messages = []
    if body.get("system"):
        messages.append({"role": "system", "content": str(body["system"])})
    for message in body.get("messages") or []:
        role, content = message.get("role"), message.get("content")
        if role not in ("user", "assistant") or not isinstance(content, str):
            raise UserError("messages: each is {role: user or assistant, content: text}")
        messages.append({"role": role, "content": content})
    if not messages or messages[-1]["role"] != "user":
        raise UserError("messages: the conversation must end with the user's turn")
    return messages
