"""honed export --gguf / --gguf-adapter on tiny random models of each supported architecture, read back with
transformers' own GGUF reader and the gguf package's reader."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gguf_models import PROBES, build
from honed.cli.main import main
from honed.training import fit, load_run
from tiny import MEMORISE, write_jsonl

ARCHITECTURES = ["llama", "mistral", "qwen2", "qwen3", "gemma3_text"]
CHAT = [{"role": "user", "content": "Where is my order?"}, {"role": "assistant", "content": "It ships in 2 days."}]


@pytest.fixture(scope="module")
def lora_runs(tmp_path_factory):
    """One short LoRA run per architecture, trained hard enough that merging changes the logits."""
    runs = {}
    for model_type in ARCHITECTURES:
        root = tmp_path_factory.mktemp(f"gguf-{model_type}")
        base = build(root / "base", model_type)
        data = write_jsonl(root / "train.jsonl", MEMORISE * 4)
        runs[model_type] = fit({"model": str(base), "method": "lora", "data": {"train": str(data)},
                                "training": {"max_steps": 2, "batch_size": 2, "learning_rate": 5e-2},
                                "output": str(root / "run")}).run_dir
    return runs


def _chat_ids(tokenizer) -> torch.Tensor:
    text = tokenizer.apply_chat_template(CHAT, tokenize=False)
    return torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"]])


def _logits(model, ids):
    with torch.no_grad():
        return model(input_ids=ids).logits


def _read_back(path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name).eval()
    return model, AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)


def _export(run_dir, out, *flags) -> None:
    assert main(["export", str(run_dir), "--gguf", str(out), *flags]) == 0


@pytest.mark.parametrize("model_type", ARCHITECTURES)
def test_f16_gguf_gives_the_tuned_logits_and_tokenizer_through_transformers_reader(lora_runs, tmp_path, model_type):
    from transformers import AutoModelForCausalLM

    run = load_run(lora_runs[model_type])
    out = tmp_path / "model.gguf"
    _export(run.run_dir, out, "--quant", "f16")
    model, tokenizer = _read_back(out)
    ids = _chat_ids(run.tokenizer)
    expected = _logits(run.model, ids)
    base = AutoModelForCausalLM.from_pretrained(str(run.config.model)).eval()
    assert (expected - _logits(base, ids)).abs().max() > 1e-2  # the LoRA moved the model: merging is checked
    assert (_logits(model, ids) - expected).abs().max() < 1e-2
    for text in PROBES:
        assert tokenizer(text)["input_ids"] == run.tokenizer(text)["input_ids"], text
    assert tokenizer.chat_template == run.tokenizer.chat_template
    # transformers' reader rebuilds SentencePiece vocabularies without the space that Mistral's tokenizer (and
    # llama.cpp) put after a special token; test_llama_cpp checks llama.cpp's own tokens for such a chat
    if model_type != "mistral":
        assert _chat_ids(tokenizer).tolist() == ids.tolist()


@pytest.mark.parametrize("model_type", ["llama", "qwen3", "gemma3_text"])
def test_q8_0_gguf_differs_from_the_model_only_by_block_quantisation(lora_runs, tmp_path, model_type):
    """Q8_0 stores each block of 32 weights as int8 times one float16 scale (the block's largest magnitude / 127):
    each weight in the file is within the rounding that implies, and the file's logits are those of the model with
    its weights rounded that way."""
    from gguf import GGMLQuantizationType, GGUFReader, quants

    from honed.export.gguf import architecture, gguf_tensors

    run = load_run(lora_runs[model_type])
    merged = run.model.merge_and_unload()
    out = tmp_path / "model.gguf"
    _export(run.run_dir, out)  # q8_0 is the default
    expected = dict(gguf_tensors(merged.state_dict(), merged.config, architecture(merged.config)))
    quantised = 0
    for tensor in GGUFReader(str(out)).tensors:
        if tensor.tensor_type != GGMLQuantizationType.Q8_0:
            continue
        stored = quants.dequantize(tensor.data, tensor.tensor_type).reshape(-1, 32)
        source = expected[tensor.name].reshape(-1, 32)
        step = abs(source).max(axis=1, keepdims=True) / 127
        # half a step of rounding, plus the float16 rounding of the scale (2**-11 relative) times up to 127 steps
        assert (abs(stored - source) <= step * (0.5 + 127 * 2**-11) + 1e-7).all(), tensor.name
        quantised += 1
    assert quantised >= 7 * merged.config.num_hidden_layers  # every projection, not just a few tensors

    with torch.no_grad():  # the same rounding applied to the model itself
        for parameter in merged.parameters():
            if parameter.ndim == 2 and parameter.shape[-1] % 32 == 0:
                block = quants.quantize(parameter.numpy(), GGMLQuantizationType.Q8_0)
                parameter.copy_(torch.from_numpy(quants.dequantize(block, GGMLQuantizationType.Q8_0)))
    model, _ = _read_back(out)
    ids = _chat_ids(run.tokenizer)
    read = _logits(model, ids)
    assert (read - _logits(merged, ids)).abs().max() < 1e-4
    assert (read - _logits(run.model, ids)).abs().max() < 5e-2


@pytest.mark.parametrize("quant", ["q4_0", "q4_1", "q5_0", "q5_1"])
def test_4_and_5_bit_ggufs_hold_their_blocks_and_keep_the_tied_head_at_8_bits(lora_runs, tmp_path, quant):
    """The gguf package's block quantisers: every projection in the file is the merged weight rounded to the
    chosen type; the embeddings, which the tied LM head reads, are Q8_0, as llama.cpp's quantiser keeps them."""
    from gguf import GGMLQuantizationType, GGUFReader, quants

    from honed.export.gguf import architecture, gguf_tensors

    run = load_run(lora_runs["llama"])
    merged = run.model.merge_and_unload()
    out = tmp_path / "model.gguf"
    _export(run.run_dir, out, "--quant", quant)
    expected = dict(gguf_tensors(merged.state_dict(), merged.config, architecture(merged.config)))
    chosen = GGMLQuantizationType[quant.upper()]
    types = {}
    for tensor in GGUFReader(str(out)).tensors:
        types[tensor.name] = tensor.tensor_type
        if tensor.tensor_type in (chosen, GGMLQuantizationType.Q8_0):
            rounded = quants.dequantize(quants.quantize(expected[tensor.name], tensor.tensor_type), tensor.tensor_type)
            assert (quants.dequantize(tensor.data, tensor.tensor_type) == rounded).all(), tensor.name
    assert types.pop("token_embd.weight") == GGMLQuantizationType.Q8_0
    matrices = [name for name, kind in types.items() if kind == chosen]
    assert len(matrices) == 7 * merged.config.num_hidden_layers  # every projection
    assert {kind for name, kind in types.items() if name not in matrices} == {GGMLQuantizationType.F32}  # norms
    model, _ = _read_back(out)
    ids = _chat_ids(run.tokenizer)
    assert (_logits(model, ids) - _logits(run.model, ids)).abs().max() < 0.5  # coarser, still the tuned model


def test_gguf_metadata_names_the_tokenizer_template_and_tied_embeddings(lora_runs, tmp_path):
    from gguf import GGUFReader

    out = tmp_path / "model.gguf"
    _export(lora_runs["llama"], out, "--quant", "f32")
    reader = GGUFReader(str(out))
    field = lambda key: reader.get_field(key).contents()  # noqa: E731
    assert field("general.architecture") == "llama" and field("general.type") == "model"
    assert field("tokenizer.ggml.model") == "gpt2" and field("tokenizer.ggml.pre") == "gpt-2"
    assert field("tokenizer.chat_template").startswith("{% for message in messages %}")
    tokens, types = field("tokenizer.ggml.tokens"), field("tokenizer.ggml.token_type")
    assert types[tokens.index("<|im_start|>")] == 3  # CONTROL: llama.cpp keeps it whole inside a chat prompt
    assert field("tokenizer.ggml.merges") and field("tokenizer.ggml.eos_token_id") == tokens.index("<|im_end|>")
    names = {tensor.name for tensor in reader.tensors}
    assert "token_embd.weight" in names and "output.weight" not in names  # tied: llama.cpp reuses token_embd
    assert {"blk.1.attn_q.weight", "blk.1.ffn_down.weight", "output_norm.weight"} <= names
    modelfile = out.with_suffix(".Modelfile").read_text()
    assert modelfile.startswith("FROM ./model.gguf\n") and "<|im_start|>{{ .Role }}" in modelfile
    assert 'PARAMETER stop "<|im_end|>"' in modelfile


def test_gemma3_file_has_its_sliding_windows_offset_norms_and_turn_tokens(lora_runs, tmp_path, capsys):
    """What llama.cpp's gemma3 loader reads and transformers' GGUF reader does not: which layers slide, their
    window and RoPE base; Gemma's RMSNorm weights stored as 1 + w; a vocabulary without the space prefix whose turn
    markers are control tokens and whose newline runs stay whole."""
    from gguf import GGUFReader, TokenType

    run = load_run(lora_runs["gemma3_text"])
    out = tmp_path / "model.gguf"
    capsys.readouterr()
    _export(run.run_dir, out, "--quant", "f32")
    assert "sliding window" not in capsys.readouterr().err  # llama.cpp honours Gemma's
    reader = GGUFReader(str(out))
    field = lambda key: reader.get_field(key).contents()  # noqa: E731
    assert field("general.architecture") == "gemma3"
    assert field("gemma3.attention.sliding_window") == 8
    assert field("gemma3.attention.sliding_window_pattern") == [True] * 5 + [False]
    assert field("gemma3.rope.freq_base") == 1e6 and field("gemma3.rope.freq_base_swa") == 1e4
    assert field("gemma3.attention.key_length") == field("gemma3.attention.value_length") == 256
    assert reader.get_field("gemma3.final_logit_softcapping") is None
    assert field("tokenizer.ggml.model") == "llama" and field("tokenizer.ggml.add_space_prefix") is False
    tokens, types = field("tokenizer.ggml.tokens"), field("tokenizer.ggml.token_type")
    assert [types[tokens.index(t)] for t in ("<bos>", "<start_of_turn>", "<end_of_turn>", "\n\n", "<0x0A>")] == [
        TokenType.CONTROL, TokenType.CONTROL, TokenType.CONTROL, TokenType.USER_DEFINED, TokenType.BYTE]
    tensors = {tensor.name: tensor.data for tensor in reader.tensors}
    assert "output.weight" not in tensors
    merged = run.model.merge_and_unload().state_dict()
    for name, hf_name in [("blk.5.attn_k_norm.weight", "model.layers.5.self_attn.k_norm.weight"),
                          ("blk.0.post_ffw_norm.weight", "model.layers.0.post_feedforward_layernorm.weight"),
                          ("output_norm.weight", "model.norm.weight")]:
        assert abs(tensors[name] - 1 - merged[hf_name].numpy()).max() < 1e-6, name
    assert abs(tensors["blk.0.attn_q.weight"] - merged["model.layers.0.self_attn.q_proj.weight"].numpy()).max() < 1e-6
    modelfile = out.with_suffix(".Modelfile").read_text()
    assert "<start_of_turn>user" in modelfile and 'PARAMETER stop "<end_of_turn>"' in modelfile


def test_sentencepiece_vocabulary_keeps_byte_tokens_and_adds_bos(lora_runs, tmp_path):
    from gguf import GGUFReader

    out = tmp_path / "model.gguf"
    _export(lora_runs["mistral"], out, "--quant", "f16")
    reader = GGUFReader(str(out))
    tokens = reader.get_field("tokenizer.ggml.tokens").contents()
    types = reader.get_field("tokenizer.ggml.token_type").contents()
    assert reader.get_field("tokenizer.ggml.model").contents() == "llama"
    assert types[tokens.index("<0x0A>")] == 6 and types[tokens.index("<s>")] == 3  # BYTE, CONTROL
    assert reader.get_field("tokenizer.ggml.add_bos_token").contents() is True
    assert "[INST]" in out.with_suffix(".Modelfile").read_text()


@pytest.mark.parametrize("model_type", ["llama", "gemma3_text"])
def test_lora_adapter_gguf_adds_to_the_base_exactly_as_the_merge_does(lora_runs, tmp_path, model_type):
    """The adapter file's B @ A, scaled as llama.cpp scales it (alpha / rank), added to the base model's GGUF
    weights gives the merged model's GGUF weights: names, shapes and the Q/K row order all match the base file (and
    Gemma's norms, offset by one in both files, are not in the adapter)."""
    from gguf import GGUFReader
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from honed.export.gguf import write_model

    run_dir = lora_runs[model_type]
    adapter = tmp_path / "adapter.gguf"
    assert main(["export", str(run_dir), "--gguf-adapter", str(adapter)]) == 0
    merged = tmp_path / "merged.gguf"
    _export(run_dir, merged, "--quant", "f32")
    base_dir = load_run(run_dir).config.model
    base = tmp_path / "base.gguf"
    write_model(base, AutoModelForCausalLM.from_pretrained(base_dir), AutoTokenizer.from_pretrained(base_dir),
                Path(base_dir), "f32", "base")

    reader = GGUFReader(str(adapter))
    assert reader.get_field("general.type").contents() == "adapter"
    assert reader.get_field("adapter.type").contents() == "lora"
    alpha = reader.get_field("adapter.lora.alpha").contents()
    pairs = {t.name: t.data for t in reader.tensors}
    weights = {name: {t.name: t.data for t in GGUFReader(str(path)).tensors} for name, path in
               [("base", base), ("merged", merged)]}
    assert "blk.0.attn_q.weight.lora_a" in pairs and "blk.1.ffn_down.weight.lora_b" in pairs
    assert not [name for name in pairs if "norm" in name]
    for name in (n.removesuffix(".lora_a") for n in pairs if n.endswith(".lora_a")):
        lora_a, lora_b = pairs[f"{name}.lora_a"], pairs[f"{name}.lora_b"]
        delta = alpha / lora_a.shape[0] * lora_b @ lora_a
        assert abs(weights["base"][name] + delta - weights["merged"][name]).max() < 1e-5, name
    assert "ADAPTER ./adapter.gguf" in adapter.with_suffix(".Modelfile").read_text()


@pytest.mark.parametrize("method", ["full", "ia3", "adalora"])
def test_every_mergeable_technique_exports_its_own_logits(tiny_model, tmp_path, method):
    """Full fine-tuning as is, IA3 and AdaLoRA merged: the f32 file computes what the run computes."""
    from transformers import AutoModelForCausalLM

    data = write_jsonl(tmp_path / "train.jsonl", MEMORISE * 4)
    run_dir = fit({"model": str(tiny_model), "method": method, "data": {"train": str(data)},
                   "training": {"max_steps": 2, "batch_size": 2, "learning_rate": 5e-2},
                   "output": str(tmp_path / method)}).run_dir
    out = tmp_path / "model.gguf"
    _export(run_dir, out, "--quant", "f32")
    run = load_run(run_dir)
    ids = _chat_ids(run.tokenizer)
    model, _ = _read_back(out)
    expected = _logits(run.model, ids)
    base = AutoModelForCausalLM.from_pretrained(str(tiny_model)).eval()
    assert (expected - _logits(base, ids)).abs().max() > 1e-3  # training moved the model
    assert (_logits(model, ids) - expected).abs().max() < 1e-4


def test_requantising_to_the_type_the_base_gguf_had_warns_that_it_rounds_the_tuning_away(lora_runs, tmp_path,
                                                                                          capsys):
    """The base's weights lie on its quant's grid, so the same quant snaps small updates back onto them (the demo's
    LoRA as q4_1, the default model's type, lost most of its ROUGE-L gain in llama.cpp)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from honed.export.gguf import write_model

    base_dir = Path(load_run(lora_runs["llama"]).config.model)
    base_gguf = tmp_path / "base-q4_1.gguf"
    write_model(base_gguf, AutoModelForCausalLM.from_pretrained(str(base_dir)),
                AutoTokenizer.from_pretrained(str(base_dir)), base_dir, "q4_1", "base")
    data = write_jsonl(tmp_path / "train.jsonl", MEMORISE * 2)
    run_dir = fit({"model": str(base_gguf), "method": "lora", "data": {"train": str(data)},
                   "training": {"max_steps": 1, "batch_size": 2}, "output": str(tmp_path / "run")}).run_dir
    capsys.readouterr()
    _export(run_dir, tmp_path / "same.gguf", "--quant", "q4_1")
    assert "itself q4_1: re-quantising to the same type rounds much of the tuning away" in capsys.readouterr().err
    _export(run_dir, tmp_path / "other.gguf", "--quant", "q5_1")
    assert "re-quantising" not in capsys.readouterr().err


def test_a_k_quant_of_weights_beyond_float16_goes_through_float32(lora_runs):
    """llama.cpp quantises from a float file; float16 would turn a weight past 65504 into infinity."""
    from honed.export.gguf import _fits_float16

    model = load_run(lora_runs["llama"]).model.merge_and_unload()
    assert _fits_float16(model)
    with torch.no_grad():
        model.model.layers[0].mlp.up_proj.weight[0, 0] = 1e5
    assert not _fits_float16(model)


@pytest.mark.parametrize("model_type", ["llama", "gemma3_text"])
def test_the_header_reader_says_what_ggufs_own_reader_says(lora_runs, tmp_path, model_type):
    """honed reads a GGUF's metadata and tensor types by walking its header (gguf's reader took 5 s a file on the
    default model's vocabulary): every field and type count equal GGUFReader's, for a model, an adapter and a
    k-quant's mixed types."""
    from gguf import GGUFReader, GGUFValueType

    from honed.export.gguf_header import read_header

    model, q4, adapter = tmp_path / "model.gguf", tmp_path / "q4.gguf", tmp_path / "adapter.gguf"
    _export(lora_runs[model_type], model, "--quant", "q8_0")
    _export(lora_runs[model_type], q4, "--quant", "q4_0")
    assert main(["export", str(lora_runs[model_type]), "--gguf-adapter", str(adapter)]) == 0
    for path in (model, q4, adapter):
        reader, header = GGUFReader(str(path)), read_header(path)
        expected = {key: len(field.data) if field.types[0] == GGUFValueType.ARRAY else field.contents()
                    for key, field in reader.fields.items() if not key.startswith("GGUF.")}
        assert header.fields == expected and "general.architecture" in expected
        assert sum(header.tensor_types.values()) == len(reader.tensors)
        for name, count in header.tensor_types.items():
            assert count == sum(t.tensor_type.name == name for t in reader.tensors), (path.name, name)
