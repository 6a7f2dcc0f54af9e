"""A run's tokenizer as GGUF metadata: vocabulary, token types, merges, pre-tokenizer, special tokens, chat template.

llama.cpp re-implements each tokenizer from this metadata, so it must say which pre-tokenizer (text-splitting regex)
the vocabulary was learned with, and which tokens are control tokens (`<|im_start|>` must stay one token when a chat
template writes it). The gguf package provides the writer and `SpecialVocab` (merges, special ids, chat template) and
`LlamaHfVocab` (SentencePiece-style vocabularies); the rest of llama.cpp's conversion lives in its
convert_hf_to_gguf.py script, which is not part of the package, so the few pieces needed are here.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from honed.errors import UserError

log = logging.getLogger("honed")

# Byte-level pre-tokenizers that are not one Split regex: GPT-2's own regex (inside ByteLevel, llama.cpp: "gpt-2"),
# and SmolLM's (every digit apart, then GPT-2's regex; "smollm"), as llama.cpp's llama-vocab.cpp names them.
_GPT2 = ("ByteLevel",)
_SMOLLM = ("Digits", "ByteLevel")


def add_tokenizer(writer, tokenizer, tokenizer_dir: Path, n_vocab: int, base_gguf: Path | None) -> None:
    """Write the tokenizer of `tokenizer_dir` (a run's `tokenizer/` folder) for a model of `n_vocab` embeddings."""
    import gguf

    spec = json.loads((tokenizer_dir / "tokenizer.json").read_text(encoding="utf-8"))
    model = spec.get("model", {})
    if model.get("type") == "BPE" and model.get("byte_fallback"):
        tokens, types, scores = _sentencepiece_vocab(tokenizer, tokenizer_dir, n_vocab)
        writer.add_tokenizer_model("llama")
        writer.add_tokenizer_pre("default")
        writer.add_token_scores(scores)
        # Measured like the BOS flag below: Llama 2 and Mistral put '▁' before the first word, Gemma does not, and
        # llama.cpp assumes the prefix unless told
        writer.add_add_space_prefix("".join(tokenizer.tokenize("a")).startswith("\u2581"))
        merges = False
    elif model.get("type") == "BPE" and (spec.get("decoder") or {}).get("type") == "ByteLevel":
        tokens, types = _byte_level_vocab(tokenizer, n_vocab)
        writer.add_tokenizer_model("gpt2")
        writer.add_tokenizer_pre(pre_tokenizer_name(spec.get("pre_tokenizer"), base_gguf))
        merges = True
    else:
        raise UserError(f"{tokenizer_dir}: a {model.get('type')} tokenizer; GGUF export supports byte-level BPE "
                        "(GPT-2, Llama 3, Qwen, SmolLM) and SentencePiece-style BPE (Llama 2, Mistral) tokenizers")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    special = gguf.SpecialVocab(tokenizer_dir, load_merges=merges, n_vocab=n_vocab)
    # Measured, not parsed: whether encoding adds BOS/EOS is what training saw, and llama.cpp's defaults differ
    # by tokenizer type, so both flags are always written.
    probe = tokenizer("a")["input_ids"]
    special.add_special_token["bos"] = tokenizer.bos_token_id is not None and probe[:1] == [tokenizer.bos_token_id]
    special.add_special_token["eos"] = tokenizer.eos_token_id is not None and probe[-1:] == [tokenizer.eos_token_id]
    special.chat_template = tokenizer.chat_template or special.chat_template
    special.add_to_gguf(writer, quiet=True)


def _byte_level_vocab(tokenizer, n_vocab: int) -> tuple[list[str], list[int]]:
    """Tokens in id order with llama.cpp's types. gguf's own BpeVocab marks special tokens that also sit in the base
    vocabulary (SmolLM2's `<|im_start|>` is id 1 of its vocab.json) as normal text, which would let llama.cpp cut
    them into pieces; here an added special token is CONTROL, an added plain one USER_DEFINED, as llama.cpp's
    converter does. Ids the tokenizer lacks (embeddings padded past the vocabulary) become unused placeholders."""
    from gguf import TokenType

    by_id = {index: token for token, index in tokenizer.get_vocab().items()}
    added = tokenizer.added_tokens_decoder
    tokens, types = [], []
    for index in range(n_vocab):
        if index not in by_id:
            tokens.append(f"[PAD{index}]")
            types.append(TokenType.UNUSED)
        elif index in added:
            tokens.append(added[index].content)
            types.append(TokenType.CONTROL if added[index].special else TokenType.USER_DEFINED)
        else:
            tokens.append(by_id[index])
            types.append(TokenType.NORMAL)
    return tokens, types


def _sentencepiece_vocab(tokenizer, tokenizer_dir: Path, n_vocab: int) -> tuple[list[bytes], list[int], list[float]]:
    """Tokens and types from gguf's LlamaHfVocab, as llama.cpp's converter takes them for a tokenizer.json-only
    Llama/Mistral/Gemma tokenizer. LlamaHfVocab gives every token the score -1000; llama.cpp's SentencePiece tokenizer
    merges the highest-scoring pair first, so equal scores would merge left to right instead of in learned order.
    A BPE vocabulary lists tokens in the order their merges were learned, so -id restores that order.
    LlamaHfVocab also types an added token inside the base vocabulary as plain text unless it is a named special
    token (BOS, EOS, ...): Gemma's <start_of_turn> and newline runs are such tokens, which llama.cpp would then cut
    into pieces. Here, as for byte-level vocabularies, an added special token is CONTROL and an added plain one
    USER_DEFINED (kept whole, as transformers keeps it), the types llama.cpp's own Gemma 3 files give them."""
    from gguf import LlamaHfVocab, TokenType

    vocab = LlamaHfVocab(tokenizer_dir)
    added = tokenizer.added_tokens_decoder
    tokens, types, scores = [], [], []
    for index, (text, _, kind) in enumerate(vocab.all_tokens()):
        if index in added and kind != TokenType.BYTE:
            kind = TokenType.CONTROL if added[index].special else TokenType.USER_DEFINED
        tokens.append(text)
        types.append(kind)
        scores.append(-1000.0 if kind != TokenType.NORMAL else -float(index))
    for index in range(len(tokens), n_vocab):
        tokens.append(f"[PAD{index}]".encode())
        types.append(TokenType.UNUSED)
        scores.append(-1000.0)
    return tokens, types, scores


def pre_tokenizer_name(pre_tokenizer: dict | None, base_gguf: Path | None = None) -> str:
    """llama.cpp's name for the regex that splits text before byte-level BPE.

    When the base model came from a GGUF file (the default model does), its own name is kept: transformers'
    converter rebuilt SmolLM2's digit-splitting pre-tokenizer as plain GPT-2 (which tokenizes the same, since its
    vocabulary has no multi-digit tokens), and llama.cpp's "smollm" also decodes spaces as SmolLM2 does.
    Otherwise the tokenizer.json's pre-tokenizer is matched against the regexes transformers' own GGUF reader
    maps to llama.cpp names, so a file honed writes reads back with the same split."""
    if base_gguf is not None:
        name = _gguf_pre(base_gguf)
        if name:
            return name
    shape = _shape(pre_tokenizer)
    if shape == _GPT2 and pre_tokenizer.get("use_regex", True):
        return "gpt-2"
    if shape == _SMOLLM and pre_tokenizer["pretokenizers"][0].get("individual_digits"):
        return "smollm"
    if shape == ("Split", "ByteLevel"):
        regex = pre_tokenizer["pretokenizers"][0].get("pattern", {}).get("Regex")
        for name, split in _known_splits().items():
            if regex == split:
                return name
    raise UserError(f"tokenizer: its pre-tokenizer {_describe(pre_tokenizer)} is not one llama.cpp is known to "
                    "match; GGUF export supports GPT-2, SmolLM, Llama 3 and Qwen2 style byte-level BPE")


def _known_splits() -> dict[str, str]:
    """llama.cpp pre-tokenizer names and their Split regexes, from transformers' GGUF reader (first name per regex,
    all of them names llama.cpp accepts)."""
    from transformers.integrations.gguf.gguf_tokenizer_mapping import GGUF_PRE_TOKENIZER_SPLITS

    first: dict[str, str] = {}
    for name, regex in GGUF_PRE_TOKENIZER_SPLITS.items():
        first.setdefault(regex, name)
    return {name: regex for regex, name in first.items()}


def _shape(pre_tokenizer: dict | None) -> tuple[str, ...]:
    if not pre_tokenizer:
        return ()
    if pre_tokenizer.get("type") == "Sequence":
        return tuple(part.get("type") for part in pre_tokenizer.get("pretokenizers", []))
    return (pre_tokenizer.get("type"),)


def _describe(pre_tokenizer: dict | None) -> str:
    return "(none)" if not pre_tokenizer else f"({' + '.join(_shape(pre_tokenizer))})"


def _gguf_pre(path: Path) -> str | None:
    from honed.export.gguf_header import read_header

    fields = read_header(path).fields
    return fields.get("tokenizer.ggml.pre") if fields.get("tokenizer.ggml.model") == "gpt2" else None
