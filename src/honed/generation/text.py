"""Where an answer ends and what of it is shown: stop tokens, stop strings, and text pieces that never take back
what was already sent. Shared by every engine path, so a streamed answer, a batched one and a plain `generate` end
at the same place."""

from __future__ import annotations

# End-of-turn tokens of common chat templates; generation stops at any of them that the vocabulary has.
END_OF_TURN_TOKENS = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|endoftext|>")


def stop_token_ids(tokenizer, model=None) -> list[int]:
    """EOS, the end-of-turn tokens the vocabulary has and the model's own configured EOS: a chat model may end its
    turn with any of them, and generating past one writes the next (invented) turn."""
    ids = {tokenizer.eos_token_id}
    vocab = tokenizer.get_vocab()
    ids.update(vocab[token] for token in END_OF_TURN_TOKENS if token in vocab)
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids.update(configured if isinstance(configured, list) else [configured])
    return sorted(i for i in ids if i is not None)


def cut_at_stop(text: str, stops: list[str]) -> str:
    """The answer up to the first stop string, without surrounding whitespace."""
    return before_stop(text, stops).strip()


def before_stop(text: str, stops) -> str:
    positions = [text.find(stop) for stop in stops if stop]
    return text[: min((p for p in positions if p >= 0), default=len(text))]


def stop_prefix_length(text: str, stops: list[str]) -> int:
    """Length of the longest end of `text` that is the start of a stop string."""
    return max((k for stop in stops for k in range(1, len(stop)) if text.endswith(stop[:k])), default=0)


class AnswerText:
    """One answer's tokens as text: what may be shown so far, and whether a stop string has been written.

    The whole answer is decoded again after each token (a byte-level tokenizer may need several tokens for one
    character, which shows as U+FFFD until complete); a tail that could still grow into a stop string is held back
    until it cannot, so no piece already sent has to be taken back."""

    def __init__(self, tokenizer, stops: list[str]):
        self.tokenizer, self.stops = tokenizer, [stop for stop in stops if stop]
        self.ids: list[int] = []
        self.text = ""
        self.sent = 0
        self.stopped = False

    def add(self, token: int) -> str:
        """The new piece to show after `token` ('' when nothing new may be shown yet)."""
        self.ids.append(token)
        whole = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        self.text = before_stop(whole, self.stops)
        self.stopped = len(self.text) < len(whole)
        if self.stopped:
            return self._piece(self.text)
        if whole.endswith("\ufffd"):
            return ""
        return self._piece(self.text[: len(self.text) - stop_prefix_length(self.text, self.stops)])

    def rest(self) -> str:
        """Whatever was held back, once the answer has ended."""
        return self._piece(self.text)

    def _piece(self, shown: str) -> str:
        if len(shown) <= self.sent:
            return ""
        piece, self.sent = shown[self.sent :], len(shown)
        return piece
