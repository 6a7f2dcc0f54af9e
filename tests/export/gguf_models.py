"""Tiny random models of each architecture GGUF export supports, each with a real BPE tokenizer of the kind that
family ships: byte-level GPT-2 style (llama, like SmolLM2), byte-level with Qwen2's split regex (qwen2, qwen3) and
SentencePiece-style BPE with byte fallback (mistral, like Mistral 7B and Llama 2; gemma3_text, without the space
prefix, like Gemma 3)."""

from __future__ import annotations

from pathlib import Path

from tiny import CHATML, CORPUS, build_tokenizer

MISTRAL_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] "
    "+ ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' ' + message['content'] + eos_token }}{% endif %}"
    "{% endfor %}"
)

# Gemma 3's own chat template (google/gemma-3-270m-it): the system message joins the first user turn; "model" turns.
GEMMA3_TEMPLATE = (
    "{{ bos_token }}\n"
    "{%- if messages[0]['role'] == 'system' -%}\n"
    "    {%- if messages[0]['content'] is string -%}\n"
    "        {%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}\n"
    "    {%- else -%}\n"
    "        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\\n\\n' -%}\n"
    "    {%- endif -%}\n"
    "    {%- set loop_messages = messages[1:] -%}\n"
    "{%- else -%}\n"
    "    {%- set first_user_prefix = \"\" -%}\n"
    "    {%- set loop_messages = messages -%}\n"
    "{%- endif -%}\n"
    "{%- for message in loop_messages -%}\n"
    "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}\n"
    "        {{ raise_exception(\"Conversation roles must alternate user/assistant/user/assistant/...\") }}\n"
    "    {%- endif -%}\n"
    "    {%- if (message['role'] == 'assistant') -%}\n"
    "        {%- set role = \"model\" -%}\n"
    "    {%- else -%}\n"
    "        {%- set role = message['role'] -%}\n"
    "    {%- endif -%}\n"
    "    {{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else \"\") }}\n"
    "    {%- if message['content'] is string -%}\n"
    "        {{ message['content'] | trim }}\n"
    "    {%- elif message['content'] is iterable -%}\n"
    "        {%- for item in message['content'] -%}\n"
    "            {%- if item['type'] == 'image' -%}\n"
    "                {{ '<start_of_image>' }}\n"
    "            {%- elif item['type'] == 'text' -%}\n"
    "                {{ item['text'] | trim }}\n"
    "            {%- endif -%}\n"
    "        {%- endfor -%}\n"
    "    {%- else -%}\n"
    "        {{ raise_exception(\"Invalid content type\") }}\n"
    "    {%- endif -%}\n"
    "    {{ '<end_of_turn>\\n' }}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}\n"
    "    {{'<start_of_turn>model\\n'}}\n"
    "{%- endif -%}\n"
)

# Text that exercises every split: contractions, digits, punctuation runs, newlines, non-ASCII, special tokens.
PROBES = [
    "Where is my order? It ships in 2 days.",
    "I'll reset it: 12345 -- done!!\n\nThanks  a lot,\tBob",
    "Ünïcödé text, emoji 🙂 and numbers 2024.",
]


def qwen_tokenizer():
    """Byte-level BPE with Qwen2's own pre-tokenizer (its split regex, then byte-level without a regex)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(CORPUS * 5, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   unk_token=None)
    fast.chat_template = CHATML
    return fast


def sentencepiece_tokenizer():
    """Llama 2 / Mistral style: BPE over '▁'-prefixed words, unknown bytes as <0xNN> tokens, BOS added; the merges
    are learned here and handed to transformers' LlamaTokenizer, which brings Llama's normaliser and decoder."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaTokenizer

    tokenizer = Tokenizer(models.BPE(byte_fallback=True, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()  # learn merges within words, as SentencePiece does
    specials = ["<unk>", "<s>", "</s>"] + [f"<0x{byte:02X}>" for byte in range(256)]
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=specials)
    tokenizer.train_from_iterator(CORPUS * 5, trainer)
    vocab = tokenizer.get_vocab()
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" "))
              for m in __import__("json").loads(tokenizer.to_str())["model"]["merges"]]
    # legacy: a space prefix after special tokens too, as the Llama 2 and Mistral 7B tokenizers (and llama.cpp) do
    fast = LlamaTokenizer(vocab=vocab, merges=merges, add_bos_token=True, legacy=True)
    fast.chat_template = MISTRAL_TEMPLATE
    return fast


def gemma_tokenizer():
    """Gemma 3 style: BPE with byte fallback over text whose spaces become '▁', no space prefix, BOS added; Gemma's
    special tokens at its ids (<pad> 0, <eos> 1, <bos> 2, <unk> 3, <mask> 4), its turn markers, and newline runs
    kept whole as plain added tokens (as Gemma's user-defined pieces are), all inside the base vocabulary."""
    from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers, trainers
    from transformers import GemmaTokenizer

    tokenizer = Tokenizer(models.BPE(byte_fallback=True, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="never")  # merges within words, as SentencePiece
    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_turn>", "<end_of_turn>"]
    newlines = ["\n", "\n\n"]
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=specials + newlines +
                                  [f"<0x{byte:02X}>" for byte in range(256)])
    tokenizer.train_from_iterator(CORPUS * 5, trainer)
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" "))
              for m in __import__("json").loads(tokenizer.to_str())["model"]["merges"]]
    fast = GemmaTokenizer(vocab=tokenizer.get_vocab(), merges=merges, add_bos_token=True)
    # the turn markers: special added tokens that no special-token attribute names (gguf's LlamaHfVocab types those
    # as plain text)
    fast.add_tokens([AddedToken(text, special=True, normalized=False) for text in specials[5:]] +
                    [AddedToken(text, special=False, normalized=False) for text in newlines])
    fast.chat_template = GEMMA3_TEMPLATE
    return fast


def build(path: Path, model_type: str, rope_parameters: dict | None = None, **overrides) -> Path:
    """A saved tiny random model of `model_type` with its family's tokenizer (`overrides`: config fields)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    tokenizer = {"llama": build_tokenizer, "mistral": sentencepiece_tokenizer, "qwen2": qwen_tokenizer,
                 "qwen3": qwen_tokenizer, "gemma3_text": gemma_tokenizer}[model_type]()
    torch.manual_seed(0)
    extra = {"rope_parameters": rope_parameters, **overrides} if rope_parameters else dict(overrides)
    if model_type == "qwen3":
        # Qwen3 sets its head size apart from hidden_size / heads; 128, as every Qwen3 has, because transformers'
        # GGUF reader does not read attention.key_length for qwen3 and assumes Qwen3Config's default of 128.
        extra["head_dim"] = 128
    if model_type == "gemma3_text":
        # Gemma 3's shape: sliding-window layers with every sixth global (layer 5 of 6), a window far shorter than
        # the test prompts, and heads of 256 (not hidden_size / heads), with queries scaled by 1/sqrt(256), as in
        # every Gemma 3 but the 27B. transformers' GGUF reader reads neither the query scale nor the layer pattern
        # (nor the local RoPE base or a logit cap) and assumes Gemma3TextConfig's defaults, which these are.
        extra = {"num_hidden_layers": 6, "sliding_window": 8, "head_dim": 256, "query_pre_attn_scalar": 256,
                 **extra}
    config = AutoConfig.for_model(model_type, **{
        "vocab_size": len(tokenizer), "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 512,
        "tie_word_embeddings": model_type != "mistral", "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id, "bos_token_id": tokenizer.bos_token_id, **extra})
    model = AutoModelForCausalLM.from_config(config)
    with torch.no_grad():  # random norms and biases, so a tensor mapped to the wrong place shows in the logits
        for name, parameter in model.named_parameters():
            if parameter.ndim == 1:
                parameter.add_(torch.randn_like(parameter) * 0.1)
    model.save_pretrained(str(path))
    tokenizer.save_pretrained(str(path))
    return path
