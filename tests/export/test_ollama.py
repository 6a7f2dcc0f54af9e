"""The Ollama Modelfile beside a GGUF: a Go TEMPLATE for the chat formats honed recognises, none for others."""

from __future__ import annotations

import pytest

from gguf_models import gemma_tokenizer
from honed.export.ollama import modelfile
from tiny import build_tokenizer

SMOLLM_LIKE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
LLAMA3_LIKE = (
    "{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + "
    "message['content'] + '<|eot_id|>' }}{% endfor %}"
)
PLAIN = "{% for message in messages %}{{ message['role'] + ': ' + message['content'] + '\n' }}{% endfor %}"


@pytest.mark.parametrize(("template", "family", "marker"), [
    (SMOLLM_LIKE, "ChatML", "<|im_start|>{{ .Role }}"),
    (LLAMA3_LIKE, "Llama 3", "<|start_header_id|>{{ .Role }}<|end_header_id|>"),
])
def test_a_recognised_chat_template_gets_its_ollama_template(template, family, marker):
    text, note = modelfile("./model.gguf", build_tokenizer(template))
    assert text.startswith("FROM ./model.gguf\n") and family in note
    assert 'TEMPLATE """' in text and marker in text
    assert 'PARAMETER stop "<|im_end|>"' in text
    if family == "ChatML":  # the template's own default system message, so Ollama's prompts match it
        assert 'SYSTEM """You are a helpful assistant."""' in text


def test_gemma_chat_template_gets_ollamas_gemma3_template_and_stops_at_the_end_of_a_turn():
    """Gemma 3's EOS is <eos>, but a chat turn ends with <end_of_turn>: Ollama must stop there too."""
    text, note = modelfile("./model.gguf", gemma_tokenizer())
    assert "Gemma" in note
    assert '{{- else if eq .Role "assistant" }}<start_of_turn>model\n' in text
    assert "{{ $.System }}" in text and "<bos>" not in text  # Ollama adds BOS itself
    assert 'PARAMETER stop "<end_of_turn>"' in text and 'PARAMETER stop "<eos>"' in text


def test_an_unknown_chat_template_leaves_the_template_to_the_gguf():
    text, note = modelfile("./model.gguf", build_tokenizer(PLAIN), adapter="./lora.gguf")
    assert not [line for line in text.splitlines() if line.startswith("TEMPLATE")]
    assert "ADAPTER ./lora.gguf" in text
    assert "embedded in the GGUF" in note and f"# {note}" in text
