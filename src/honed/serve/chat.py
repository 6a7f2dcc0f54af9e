"""honed chat: talk to a run in the terminal, tokens printed as they are generated."""

from __future__ import annotations

import sys
from collections.abc import Callable

from honed.config import GenerationConfig
from honed.data.encoding import generation_prompt_ids
from honed.errors import UserError
from honed.serve.pool import Served

HELP_TEXT = "commands: /reset (forget the conversation), /exit (or Ctrl-D)"


def chat_loop(served: Served, system: str | None, max_new_tokens: int, temperature: float,
              read: Callable[[str], str] = input, write=sys.stdout) -> int:
    """Reads a line, answers it with the whole conversation as context, repeats; returns the turns answered."""
    if max_new_tokens < 1 or temperature < 0:
        raise UserError("--max-new-tokens must be 1 or more and --temperature 0 (greedy) or more")
    history: list[dict] = []
    turns = 0
    write.write(f"chatting with {served.name}; {HELP_TEXT}\n")
    while True:
        try:
            line = read("> ")
        except EOFError:
            write.write("\n")
            return turns
        text = line.strip()
        if not text:
            continue
        if text in ("/exit", "/quit"):
            return turns
        if text == "/reset":
            history.clear()
            write.write("(conversation cleared)\n")
            continue
        history.append({"role": "user", "content": text})
        messages = ([{"role": "system", "content": system}] if system else []) + history
        prompt = generation_prompt_ids(served.tokenizer, messages)
        settings = GenerationConfig(max_new_tokens=max(1, min(max_new_tokens, served.context_length - len(prompt))),
                                    temperature=temperature)
        answer = served.submit(prompt, settings)
        for piece in answer.texts():
            write.write(piece)
            write.flush()
        write.write("\n")
        history.append({"role": "assistant", "content": answer.outcomes[0].text})
        turns += 1
