"""Where prefix and prompt tuning start: the frozen model reading a text, not random vectors.

Random virtual tokens are far from anything the model has seen: peft's prefix starts as N(0, 1) keys and values at
every layer, which on SmolLM2-135M raised the validation loss before the first step from 5.17 to 12.9. Starting from
a text the model has read makes the virtual tokens a sensible prompt at step 0, and training refines it.
"""

from __future__ import annotations

from honed.methods.base import BuildContext

GENERIC_INIT_TEXT = "You are a helpful assistant. Answer the user's question."


def init_text(configured: str | None, context: BuildContext) -> str:
    """The method's own init_text; else the system prompt every training row shares (the task in its own words);
    else a generic instruction."""
    return configured or context.init_text or GENERIC_INIT_TEXT


def init_ids(tokenizer, text: str, count: int) -> list[int]:
    """`count` tokens that end where the text ends, repeating the text when it is shorter (plain text, no chat
    template). The input follows the virtual tokens, so it should not follow a sentence cut off: on SmolLM2-135M
    and the chapter's two sentences the step-0 loss after the generic text's last 20 tokens was 4.47 (5.17 after
    no text), after its first 20 (ending inside the second copy) 6.16."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"] or [tokenizer.eos_token_id]
    return (ids * (count // len(ids) + 1))[-count:]
