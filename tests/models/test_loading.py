"""Loading a base model's tokenizer: every command that prompts a base model gets it from here, template included."""

from __future__ import annotations

from honed.data.encoding import FALLBACK_CHAT_TEMPLATE
from honed.models import load_tokenizer


def test_a_tokenizer_without_a_chat_template_gets_honeds_fallback(tiny_base_model):
    tokenizer = load_tokenizer(str(tiny_base_model))
    assert tokenizer.chat_template == FALLBACK_CHAT_TEMPLATE and tokenizer.pad_token is not None


def test_a_tokenizer_with_its_own_chat_template_keeps_it(tiny_model):
    from tiny import CHATML

    assert load_tokenizer(str(tiny_model)).chat_template == CHATML
