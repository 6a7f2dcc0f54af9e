"""Tiny random models and tokenizers built in-process, so the suite needs no download and stays fast."""

from __future__ import annotations

import json
from pathlib import Path

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

CORPUS = [
    "How do I reset my password? Open settings and choose reset.",
    "Where is my order? It ships in two days.",
    "Hi there, thanks for contacting support. Reply here if you need anything else.",
    "The quick brown fox jumps over the lazy dog. Ünïcödé text, emoji 🙂 and numbers 12345.",
    "Custom sentence 1. Custom sentence 2.",
]


def build_tokenizer(chat_template: str | None = CHATML):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(CORPUS * 5, trainer)
    eos = "<|im_end|>" if chat_template else "<|endoftext|>"
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, eos_token=eos, pad_token=eos, bos_token="<|im_start|>", unk_token=None
    )
    if chat_template:
        fast.chat_template = chat_template
    return fast


def build_model_dir(path: Path, chat_template: str | None = CHATML, layers: int = 2, tied: bool = False) -> Path:
    """A tiny random Llama + tokenizer saved as a normal HF folder, loadable through honed's real loading path.
    `tied`: the output layer shares the input embeddings, as in SmolLM2, Qwen2.5, Llama 3.2 and Gemma."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_tokenizer(chat_template)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        tie_word_embeddings=tied,
    )
    LlamaForCausalLM(config).save_pretrained(str(path))
    tokenizer.save_pretrained(str(path))
    return path


MEMORISE = [
    {"prompt": "Where is my order?", "completion": "It ships in two days."},
    {"prompt": "How do I reset my password?", "completion": "Open settings and choose reset."},
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


SUPPORT_QA = [
    ("How do I reset my password?", "Open settings and choose reset."),
    ("Where is my order?", "It ships in two days."),
    ("Where is my order? Thanks.", "It ships in two days."),
    ("How do I reset my password? Thanks.", "Open settings and choose reset."),
    ("Hi there, where is my order?", "It ships in two days."),
    ("Hi there, how do I reset my password?", "Open settings and choose reset."),
]


def build_taught_model_dir(path: Path, steps: int = 300) -> Path:
    """The tiny model after a moment of full training on plain support chats and the corpus (about 6 s on one
    thread): its keys and values are those of a model that has learned something, and its predictions depend on
    the context. A random model's hardly do, so starting points of prefix or prompt tuning cannot be told apart."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    build_model_dir(path)
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    model = AutoModelForCausalLM.from_pretrained(str(path))
    chats = [[{"role": "user", "content": q}, {"role": "assistant", "content": a}] for q, a in SUPPORT_QA]
    texts = [tokenizer.apply_chat_template(chat, tokenize=False) for chat in chats] + CORPUS
    batch = tokenizer(texts, return_tensors="pt", padding=True)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: more threads only wait on each other (38 s on two busy cores)
    try:
        for _ in range(steps):
            model(**batch, labels=labels).loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    finally:
        torch.set_num_threads(threads)
    model.save_pretrained(str(path))
    return path
