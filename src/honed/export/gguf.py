"""Write a model, or a LoRA adapter, as a GGUF file that llama.cpp (and Ollama, which runs it) loads.

The gguf package (llama.cpp's own Python library) provides the file writer, the Hugging Face -> GGUF tensor names
(`get_tensor_name_map`) and the quantisers. What it leaves to llama.cpp's convert_hf_to_gguf.py script, which is not
an importable package, is done here: which hyperparameters each architecture needs, the Q/K row permutation of the
llama architecture, Gemma's norm offset, RoPE frequency factors, and the adapter layout of convert_lora_to_gguf.py.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from honed.errors import UserError

log = logging.getLogger("honed")


@dataclass(frozen=True)
class Quant:
    """One `--quant` choice: the file type the GGUF declares, the type its matrices are written in by the gguf
    package (None: float), or llama.cpp's own quantiser for the k-quants, which the gguf package cannot write."""

    file_type: str  # gguf.LlamaFileType member
    matrix_type: str | None = None  # gguf.GGMLQuantizationType member
    by_llama_cpp: bool = False

    @property
    def coarse(self) -> bool:
        """4 and 5 bits: the LM head (or the embeddings it is tied to) is written in Q8_0 instead, as llama.cpp's
        quantiser keeps that tensor at 6 bits or more; it decides every answer's token."""
        return self.matrix_type in ("Q4_0", "Q4_1", "Q5_0", "Q5_1")


QUANT_TYPES = {
    "f32": Quant("ALL_F32"),
    "f16": Quant("MOSTLY_F16"),
    "bf16": Quant("MOSTLY_BF16", "BF16"),
    "q8_0": Quant("MOSTLY_Q8_0", "Q8_0"),
    "q4_0": Quant("MOSTLY_Q4_0", "Q4_0"),
    "q4_1": Quant("MOSTLY_Q4_1", "Q4_1"),
    "q5_0": Quant("MOSTLY_Q5_0", "Q5_0"),
    "q5_1": Quant("MOSTLY_Q5_1", "Q5_1"),
    "q4_k_m": Quant("MOSTLY_Q4_K_M", by_llama_cpp=True),
    "q5_k_m": Quant("MOSTLY_Q5_K_M", by_llama_cpp=True),
    "q6_k": Quant("MOSTLY_Q6_K", by_llama_cpp=True),
}
QUANTS = tuple(QUANT_TYPES)
DEFAULT_QUANT = "q8_0"
LLAMA_CPP_INSTALL = "pip install llama-cpp-python (on a CPU with AMX: CMAKE_ARGS=-DGGML_NATIVE=OFF pip install ...)"


def check_quant(quant: str) -> Quant:
    """The quant's facts, or one line: an unknown name, or a k-quant without llama.cpp's quantiser installed."""
    import importlib.util

    from honed.errors import nearest

    if quant not in QUANT_TYPES:
        raise UserError(f"--quant {quant}: choose one of {', '.join(QUANTS)}{nearest(quant, QUANTS)}")
    chosen = QUANT_TYPES[quant]
    if chosen.by_llama_cpp:
        try:
            import llama_cpp  # noqa: F401  (a broken build fails here, before anything is merged or written)
        except Exception as error:
            why = "" if importlib.util.find_spec("llama_cpp") is None else f" (it is installed but fails: {error})"
            raise UserError(f"--quant {quant}: k-quants are written by llama.cpp's quantiser, which comes with "
                            f"llama-cpp-python{why}; install it: {LLAMA_CPP_INSTALL}") from None
    return chosen


@dataclass(frozen=True)
class Architecture:
    """How one transformers model type becomes a llama.cpp architecture."""

    gguf_name: str  # llama.cpp's architecture name (gguf.MODEL_ARCH_NAMES)
    # llama.cpp's llama graph rotates adjacent pairs of each head's dimensions; transformers' Llama rotates the two
    # halves. convert_hf_to_gguf.py reorders Q and K rows so both compute the same; qwen2/qwen3/gemma3 use
    # llama.cpp's NEOX (half) rotation and keep transformers' order.
    permute_qk: bool
    rope_scaling: bool  # llama.cpp reads a rope_freqs tensor for this architecture (Llama 3.1's RoPE)
    # Added to every weight whose transformers name ends in "norm.weight": Gemma's RMSNorm scales by (1 + w),
    # llama.cpp's by w, so convert_hf_to_gguf.py stores 1 + w. Weights only: a LoRA delta is not offset.
    norm_shift: float = 0.0
    # llama.cpp runs the config's sliding-window layers with their window (it ignores the window of llama/qwen2)
    sliding_window: bool = False
    # What llama.cpp would compute differently from transformers for this config: one phrase per problem, none
    # when it runs as transformers does. Checked before anything loads.
    problems: Callable[[object], list[str]] | None = None
    # Writes the hyperparameters this architecture reads beyond those every architecture shares
    hyperparameters: Callable[[object, object], None] | None = None


def _gemma3_problems(config) -> list[str]:
    """Gemma 3 settings that llama.cpp's gemma3 graph (src/models/gemma3.cpp) does not read and computes otherwise."""
    problems = []
    if getattr(config, "attn_logit_softcapping", None) is not None:
        problems.append("attention logit soft-capping (attn_logit_softcapping), which llama.cpp does not apply")
    # llama.cpp scales queries by 1/sqrt(head_dim), or 1/sqrt(hidden / heads) for a 62-layer (27B) model; transformers
    # by 1/sqrt(query_pre_attn_scalar)
    scale = config.hidden_size // config.num_attention_heads if config.num_hidden_layers == 62 else _head_dim(config)
    if config.query_pre_attn_scalar != scale:
        problems.append(f"query_pre_attn_scalar {config.query_pre_attn_scalar}, where llama.cpp scales queries by "
                        f"1/sqrt({scale})")
    if getattr(config, "use_bidirectional_attention", False):
        problems.append("bidirectional attention, where llama.cpp's gemma3 is causal")
    kinds = set(config.layer_types)
    if kinds - {"sliding_attention", "full_attention"}:
        problems.append(f"layer types {sorted(kinds - {'sliding_attention', 'full_attention'})}")
    if "sliding_attention" in kinds and not config.sliding_window:
        problems.append("sliding-attention layers without a sliding_window")
    for kind, params in (getattr(config, "rope_parameters", None) or {}).items():
        if params.get("rope_type", "default") != "default":
            problems.append(f"{params['rope_type']!r} RoPE scaling on its {kind} layers")
    return problems


def _gemma3_hyperparameters(writer, config) -> None:
    """The sliding window, which layers use it, listed per layer (llama.cpp would otherwise assume every sixth layer
    global, as in Gemma 3 itself; Ollama's converter lists them too), those layers' own RoPE base, the logit cap."""
    local = (getattr(config, "rope_parameters", None) or {}).get("sliding_attention", {})
    writer.add_sliding_window(config.sliding_window or 0)
    writer.add_sliding_window_pattern([kind == "sliding_attention" for kind in config.layer_types])
    writer.add_rope_freq_base_swa(float(local.get("rope_theta", 10000.0)))
    if config.final_logit_softcapping:
        writer.add_final_logit_softcapping(float(config.final_logit_softcapping))


ARCHITECTURES = {
    "llama": Architecture("llama", permute_qk=True, rope_scaling=True),
    "mistral": Architecture("llama", permute_qk=True, rope_scaling=True),  # llama.cpp runs Mistral as llama
    "qwen2": Architecture("qwen2", permute_qk=False, rope_scaling=False),
    "qwen3": Architecture("qwen3", permute_qk=False, rope_scaling=False),
    "gemma3_text": Architecture("gemma3", permute_qk=False, rope_scaling=False, norm_shift=1.0, sliding_window=True,
                                problems=_gemma3_problems, hyperparameters=_gemma3_hyperparameters),
}


def architecture(config) -> Architecture:
    """The llama.cpp architecture of a transformers config, or one line naming what is supported or what of this
    model llama.cpp would compute differently."""
    model_type = getattr(config, "model_type", None)
    if model_type not in ARCHITECTURES:
        raise UserError(f"GGUF export supports {', '.join(ARCHITECTURES)} models (the llama family, SmolLM, Qwen2/3, "
                        f"Gemma 3); this run's model is {model_type!r}")
    arch = ARCHITECTURES[model_type]
    problems = arch.problems(config) if arch.problems else []
    if problems:
        raise UserError(f"GGUF export: llama.cpp would not compute this {model_type} model as transformers does: it "
                        f"has {'; '.join(problems)}")
    return arch


def rope_factors(config, arch: Architecture) -> np.ndarray | None:
    """Per-frequency RoPE divisors for scaled RoPE (llama.cpp's rope_freqs tensor), None for plain RoPE.

    Computed from transformers' own RoPE initialisers: default frequencies over scaled ones. Only scalings that
    rescale frequencies and nothing else (linear, llama3) fit the tensor; others get a clear error."""
    import torch
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    params = _rope_parameters(config)
    kind = params.get("rope_type", "default")
    if kind == "default":
        return None
    if kind not in ("linear", "llama3") or not arch.rope_scaling:
        raise UserError(f"GGUF export: {config.model_type} with {kind!r} RoPE scaling is not supported "
                        "(llama-family models with linear or llama3 scaling are)")
    dim = _head_dim(config)
    base = float(params.get("rope_theta", 10000.0))
    plain = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    scaled, attention_factor = ROPE_INIT_FUNCTIONS[kind](config, "cpu")
    if abs(float(attention_factor) - 1.0) > 1e-6:
        raise UserError(f"GGUF export: {kind!r} RoPE scaling with an attention factor is not supported")
    return (plain / scaled.float()).numpy().astype(np.float32)


def _rope_parameters(config) -> dict:
    """RoPE parameters of the global layers, which llama.cpp's rope.* keys describe: transformers 5 keeps one set per
    layer type for models with sliding-window layers (Gemma 3), as convert_hf_to_gguf.py reads them."""
    params = dict(getattr(config, "rope_parameters", None) or {})
    return dict(params.get("full_attention", params))


def _head_dim(config) -> int:
    return getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads


def permute_qk(weights: np.ndarray, n_head: int, n_head_kv: int | None = None) -> np.ndarray:
    """Reorder each head's rows from rotate-half to interleaved pairs (convert_hf_to_gguf.py's `permute`); works for
    weights, biases and LoRA B matrices alike, since only rows (output features) move."""
    heads = n_head_kv if n_head_kv is not None and n_head_kv != n_head else n_head
    shape = weights.shape
    return weights.reshape(heads, 2, shape[0] // heads // 2, *shape[1:]).swapaxes(1, 2).reshape(shape)


def gguf_tensor_name(hf_name: str, arch: Architecture, n_blocks: int) -> str | None:
    return _name_map(arch.gguf_name, n_blocks).get_name(hf_name, try_suffixes=(".weight", ".bias"))


@functools.lru_cache(maxsize=8)
def _name_map(arch_name: str, n_blocks: int):
    import gguf

    model_arch = next(k for k, v in gguf.MODEL_ARCH_NAMES.items() if v == arch_name)
    return gguf.get_tensor_name_map(model_arch, n_blocks)


def gguf_tensors(state: dict, config, arch: Architecture) -> Iterator[tuple[str, np.ndarray]]:
    """(GGUF name, float32 array) for every weight llama.cpp reads, in llama.cpp's layout."""
    n_blocks = config.num_hidden_layers
    for name, tensor in state.items():
        if name == "lm_head.weight" and getattr(config, "tie_word_embeddings", False):
            continue  # tied: llama.cpp reuses token_embd when the file has no output.weight
        target = gguf_tensor_name(name, arch, n_blocks)
        if target is None:
            raise UserError(f"GGUF export: no llama.cpp tensor for {name!r} of this {config.model_type} model")
        data = tensor.detach().float().cpu().numpy()
        if arch.norm_shift and name.endswith("norm.weight"):
            data = data + arch.norm_shift
        yield target, _llama_layout(target, data, config, arch)
    factors = rope_factors(config, arch)
    if factors is not None:
        yield "rope_freqs.weight", factors


def _llama_layout(name: str, data: np.ndarray, config, arch: Architecture) -> np.ndarray:
    if not arch.permute_qk:
        return data
    if ".attn_q." in name:
        return permute_qk(data, config.num_attention_heads)
    if ".attn_k." in name:
        return permute_qk(data, config.num_attention_heads, config.num_key_value_heads)
    return data


def encode(data: np.ndarray, quant: str, head: bool = False):
    """(array, raw GGML type or None) as the writer takes it. Vectors (norms, biases, RoPE factors) stay float32,
    as llama.cpp's converter keeps them; a block type needs rows that are whole blocks, else float16. `head`: the
    LM head, or the embeddings it is tied to (see Quant.coarse)."""
    from gguf import GGMLQuantizationType as Q
    from gguf import quants

    chosen = QUANT_TYPES[quant]
    if data.ndim < 2 or quant == "f32":
        return data.astype(np.float32), None
    kind = "Q8_0" if head and chosen.coarse else chosen.matrix_type
    if kind is None:
        return data.astype(np.float16), None
    block = quants.GGML_QUANT_SIZES[Q[kind]][0]
    if data.shape[-1] % block == 0:
        return quants.quantize(data, Q[kind]), Q[kind]
    return data.astype(np.float16), None


def file_type(quant: str):
    from gguf import LlamaFileType

    return LlamaFileType[QUANT_TYPES[quant].file_type]


def _fits_float16(model) -> bool:
    """float16, llama.cpp's usual input to its quantiser, unless a weight is beyond its range (65504): then float32,
    twice the size on disk for a moment, rather than infinities in the file."""
    return all(float(t.abs().max()) < 65504 for t in model.state_dict().values() if t.is_floating_point() and t.numel())


def quantise_with_llama_cpp(source: Path, path: Path, quant: str) -> None:
    """llama.cpp's own quantiser (llama-cpp-python's binding of llama_model_quantize) from a float GGUF. Its
    parameters start from the library's defaults: the struct's fields differ between llama-cpp-python versions."""
    import ctypes

    import llama_cpp

    from honed.hardware import physical_cores

    # llama-cpp-python prints llama.cpp's log (a line per tensor) unless its logger is raised; --debug keeps it
    logging.getLogger("llama-cpp-python").setLevel(logging.DEBUG if log.isEnabledFor(logging.DEBUG) else logging.ERROR)
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = int(file_type(quant))
    params.nthread = physical_cores()
    tmp = path.with_name(f".{path.name}.partial")
    try:
        if llama_cpp.llama_model_quantize(str(source).encode(), str(tmp).encode(), ctypes.byref(params)) != 0:
            raise UserError(f"{path}: llama.cpp's quantiser failed for --quant {quant} (run with --debug to see why)")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def gguf_file_type(path: Path) -> int | None:
    """The file type a GGUF declares (gguf.LlamaFileType's value), None when it declares none."""
    from honed.export.gguf_header import read_header

    return read_header(path).fields.get("general.file_type")


def tensor_types(path: Path) -> dict[str, int]:
    """How many tensors of each GGML type the file holds, most first: what a quant really holds once llama.cpp
    falls back to another type for rows that are not whole blocks of 256 (SmolLM2 is 576 wide, Gemma 3 270M 640)."""
    from honed.export.gguf_header import read_header

    return read_header(path).tensor_types


def add_hyperparameters(writer, config, arch: Architecture, n_vocab: int) -> None:
    """The hyperparameters llama.cpp's loaders read: those every architecture shares, then the architecture's own."""
    params = _rope_parameters(config)
    head_dim = _head_dim(config)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads or config.num_attention_heads)
    writer.add_key_length(head_dim)
    writer.add_value_length(head_dim)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(float(params.get("rope_theta", getattr(config, "rope_theta", 10000.0))))
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_vocab_size(n_vocab)
    if arch.hyperparameters:
        arch.hyperparameters(writer, config)


def write_model(path: Path, model, tokenizer, tokenizer_dir: Path, quant: str, name: str,
                base_gguf: Path | None = None) -> None:
    """A whole model (already merged) with its tokenizer and chat template, as one GGUF file at `path`; a k-quant
    is written in float first, then quantised by llama.cpp."""
    if QUANT_TYPES[quant].by_llama_cpp:
        source = path.with_name(f".{path.name}.float")
        try:
            write_model(source, model, tokenizer, tokenizer_dir, "f16" if _fits_float16(model) else "f32", name,
                        base_gguf)
            quantise_with_llama_cpp(source, path, quant)
        finally:
            source.unlink(missing_ok=True)
        return
    import gguf

    from honed.export.gguf_vocab import add_tokenizer

    config = model.config
    arch = architecture(config)
    n_vocab = model.get_input_embeddings().weight.shape[0]
    window = getattr(config, "sliding_window", None)
    if window and window < config.max_position_embeddings and not arch.sliding_window:
        log.warning("llama.cpp runs %s without its %d-token sliding window: answers past %d tokens of context may "
                    "differ from transformers'", config.model_type, window, window)

    heads = {"token_embd.weight"} if getattr(config, "tie_word_embeddings", False) else {"output.weight"}

    def fill(writer) -> None:
        writer.add_type(gguf.GGUFType.MODEL)
        writer.add_name(name)
        writer.add_file_type(file_type(quant))
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
        add_hyperparameters(writer, config, arch, n_vocab)
        add_tokenizer(writer, tokenizer, tokenizer_dir, n_vocab, base_gguf)
        for target, data in gguf_tensors(model.state_dict(), config, arch):
            array, raw = encode(data, quant, head=target in heads)
            writer.add_tensor(target, array, raw_dtype=raw)

    write_gguf(path, arch.gguf_name, fill)


def write_lora_adapter(path: Path, adapter: dict, config, alpha: float, name: str) -> None:
    """A peft LoRA state dict as a llama.cpp adapter (convert_lora_to_gguf.py's layout): for each adapted weight
    `<gguf name>.lora_a` (rank x in) and `.lora_b` (out x rank), B's rows in the same llama.cpp order as the base
    weight they add to, and `adapter.lora.alpha`, from which llama.cpp scales by alpha / rank."""
    import gguf

    arch = architecture(config)

    def fill(writer) -> None:
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_name(name)
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
        for target, lora_a, lora_b in lora_pairs(adapter, config, arch):
            writer.add_tensor(f"{target}.lora_a", lora_a)
            writer.add_tensor(f"{target}.lora_b", lora_b)

    write_gguf(path, arch.gguf_name, fill)


def lora_pairs(adapter: dict, config, arch: Architecture) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """(GGUF base tensor name, A, B) per adapted weight, from peft's `...<module>.lora_A.weight` keys."""
    for key in sorted(k for k in adapter if k.endswith(".lora_A.weight")):
        module = key.removeprefix("base_model.model.").removesuffix(".lora_A.weight")
        target = gguf_tensor_name(f"{module}.weight", arch, config.num_hidden_layers)
        if target is None:
            raise UserError(f"GGUF adapter export: no llama.cpp tensor for the adapted module {module!r}")
        lora_a = adapter[key].detach().float().cpu().numpy()
        lora_b = adapter[key.replace(".lora_A.", ".lora_B.")].detach().float().cpu().numpy()
        yield target, lora_a, _llama_layout(target, lora_b, config, arch)


def write_gguf(path: Path, arch_name: str, fill: Callable) -> None:
    """Write through gguf's GGUFWriter into a temporary sibling, fsync, rename: a failure (a full disk) leaves no
    partial file under `path`, and is one line for the user."""
    import gguf

    tmp = path.with_name(f".{path.name}.partial")
    writer = gguf.GGUFWriter(None, arch_name)
    try:
        fill(writer)
        writer.write_header_to_file(tmp)
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.flush()
        os.fsync(writer.fout[0].fileno())
        writer.close()
        os.replace(tmp, path)
    except OSError as error:
        raise UserError(f"{path}: could not write the GGUF file ({error.strerror or error})") from None
    finally:
        writer.close()
        tmp.unlink(missing_ok=True)
