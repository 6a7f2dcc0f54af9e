"""GGUF export refuses what it cannot do in one line, exit code 2, and leaves nothing behind: not the file, not its
Modelfile, not a temporary file."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys

import pytest

from honed.cli.main import main
from honed.training import fit
from tiny import MEMORISE, build_tokenizer, write_jsonl


def _fit(model, tmp_path, method: str, name: str | None = None):
    data = write_jsonl(tmp_path / "train.jsonl", MEMORISE * 2)
    return fit({"model": str(model), "method": method, "data": {"train": str(data)},
                "training": {"max_steps": 1, "batch_size": 2}, "output": str(tmp_path / (name or method))}).run_dir


@pytest.fixture(scope="module")
def lora_run(tiny_model, tmp_path_factory):
    return _fit(tiny_model, tmp_path_factory.mktemp("lora"), "lora")


def _refused(capsys, args: list[str], out, says: str | tuple[str, ...]) -> None:
    capsys.readouterr()  # drop what training printed
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert all(part in err for part in ((says,) if isinstance(says, str) else says)), err
    assert not [p for p in out.parent.iterdir() if p.name.startswith((out.stem, f".{out.name}"))]


def test_an_unsupported_architecture_names_the_supported_ones(tmp_path, capsys):
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = build_tokenizer()
    GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=1, n_head=2)).save_pretrained(
        str(tmp_path / "gpt2"))
    tokenizer.save_pretrained(str(tmp_path / "gpt2"))
    run_dir = _fit(tmp_path / "gpt2", tmp_path, "full")
    out = tmp_path / "exports" / "model.gguf"
    out.parent.mkdir()
    _refused(capsys, ["export", str(run_dir), "--gguf", str(out)], out, "supports llama, mistral, qwen2, qwen3")


LINEAR_GLOBAL_ROPE = {"full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1e6},
                      "sliding_attention": {"rope_type": "default", "rope_theta": 1e4}}


@pytest.mark.parametrize(("change", "says"), [
    ({"attn_logit_softcapping": 50.0}, ("attention logit soft-capping",)),
    ({"query_pre_attn_scalar": 144}, ("query_pre_attn_scalar 144, where llama.cpp scales queries by 1/sqrt(256)",)),
    ({"use_bidirectional_attention": True}, ("bidirectional attention",)),
    ({"rope_parameters": LINEAR_GLOBAL_ROPE}, ("'linear' RoPE scaling on its full_attention layers",)),
    ({"attn_logit_softcapping": 50.0, "query_pre_attn_scalar": 144}, ("soft-capping", "query_pre_attn_scalar")),
])
def test_a_gemma3_that_llama_cpp_would_compute_otherwise_is_refused_saying_what(change, says):
    """llama.cpp's gemma3 graph reads none of these settings: such a file would load and answer differently."""
    from transformers import Gemma3TextConfig

    from honed.errors import UserError
    from honed.export.gguf import architecture

    with pytest.raises(UserError) as refused:
        architecture(Gemma3TextConfig(num_hidden_layers=6, **change))
    message = str(refused.value)
    assert "\n" not in message and message.startswith("GGUF export: llama.cpp would not compute this gemma3_text")
    assert all(part in message for part in says), message


def test_gemma3_query_scales_that_llama_cpp_uses_are_accepted():
    """1/sqrt(head_dim), and for the 62-layer 27B 1/sqrt(hidden / heads) (168, not its head_dim 128)."""
    from transformers import Gemma3TextConfig

    from honed.export.gguf import architecture

    assert architecture(Gemma3TextConfig()).gguf_name == "gemma3"
    gemma_27b = Gemma3TextConfig(num_hidden_layers=62, hidden_size=5376, num_attention_heads=32, head_dim=128,
                                 query_pre_attn_scalar=168)
    assert architecture(gemma_27b).gguf_name == "gemma3"


@pytest.mark.parametrize(("method", "flag", "says"), [
    ("prefix", "--gguf", "prefix tuning's learned keys and values are extra attention inputs"),
    ("adapter", "--gguf", "bottleneck adapters are extra layers"),
    ("prompt", "--gguf", ("--gguf takes", "full", "lora", "adalora", "ia3")),
    ("ia3", "--gguf-adapter", "writes llama.cpp LoRA adapters, and this ia3 run is not a LoRA"),
    ("full", "--gguf-adapter", "full fine-tuning has no adapter"),
])
def test_what_cannot_become_the_asked_gguf_says_why(tiny_model, tmp_path, capsys, method, flag, says):
    run_dir = _fit(tiny_model, tmp_path, method)
    out = tmp_path / "exports" / "model.gguf"
    out.parent.mkdir()
    _refused(capsys, ["export", str(run_dir), flag, str(out)], out, says)


def test_an_existing_file_is_kept_without_overwrite(lora_run, tmp_path, capsys):
    out = tmp_path / "model.gguf"
    out.write_text("keep me")
    capsys.readouterr()
    assert main(["export", str(lora_run), "--gguf", str(out), "--quant", "f16"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already exists; pass --overwrite" in err
    assert out.read_text() == "keep me" and not out.with_suffix(".Modelfile").exists()
    assert main(["export", str(lora_run), "--gguf", str(out), "--quant", "f16", "--overwrite"]) == 0
    assert out.read_bytes()[:4] == b"GGUF"


def test_a_failed_write_leaves_no_partial_file(lora_run, tmp_path):
    """A full disk, simulated by a file-size limit on the exporting process: the write fails part-way (EFBIG) and
    the export says so in one line and removes its temporary file."""

    def limit_file_size() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write with an error instead of killing the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    out = tmp_path / "exports" / "model.gguf"
    out.parent.mkdir()
    done = subprocess.run([sys.executable, "-m", "honed", "export", str(lora_run), "--gguf", str(out), "--quant",
                           "f32"], capture_output=True, text=True, env=dict(os.environ), preexec_fn=limit_file_size,
                          timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "could not write the GGUF file" in lines[0], done.stderr[-2000:]
    assert list(out.parent.iterdir()) == []


def test_an_unknown_quant_is_one_line_that_lists_them_and_suggests_the_nearest(lora_run, tmp_path, capsys):
    out = tmp_path / "exports" / "model.gguf"
    out.parent.mkdir()
    _refused(capsys, ["export", str(lora_run), "--gguf", str(out), "--quant", "q4_k"], out,
             ("--quant q4_k: choose one of", "q5_1", "q6_k", "did you mean 'q4_k_m'?"))


@pytest.mark.parametrize("quant", ["q4_k_m", "q5_k_m", "q6_k"])
def test_a_k_quant_without_llama_cpp_says_how_to_install_it(lora_run, tmp_path, quant):
    """Run where llama-cpp-python cannot be imported (as on a machine without it): one line, nothing written."""
    out = tmp_path / "exports" / "model.gguf"
    out.parent.mkdir()
    without = ("import sys; sys.modules['llama_cpp'] = None; from honed.cli.main import main; "
               f"raise SystemExit(main(['export', {str(lora_run)!r}, '--gguf', {str(out)!r}, '--quant', {quant!r}]))")
    done = subprocess.run([sys.executable, "-c", without], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "pip install llama-cpp-python" in done.stderr, done.stderr
    assert done.stderr.startswith(f"error: --quant {quant}: k-quants are written by llama.cpp's quantiser")
    assert list(out.parent.iterdir()) == []
