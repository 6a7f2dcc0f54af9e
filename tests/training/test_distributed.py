"""`honed train --nproc 2`: DDP over gloo on this CPU equals one process with the same global batch; FSDP2 over gloo
checkpoints its shards and resumes exactly."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tiny import write_jsonl

ROWS = [{"prompt": f"Question {i}: where is parcel {i}?", "completion": f"Parcel {i} arrives in {i % 5 + 1} days."}
        for i in range(32)]


TRAIN_FLAGS = ["--max-steps", "4", "--lr", "5e-3", "--set", "training.logging_steps=1", "--set", "training.warmup=0",
               "--set", "method.dropout=0"]


def _train(tiny_model, data, out, *flags) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "honed", "train", "--model", str(tiny_model), "--data", str(data),
               "--output", str(out), *TRAIN_FLAGS, *flags]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def _losses(run: Path) -> list[float]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [row["loss"] for row in rows if "loss" in row]


@pytest.mark.parametrize(
    ("single", "per_process"),
    [
        (["--batch-size", "4", "--set", "training.packing=false"], ["--batch-size", "2", "--set", "training.packing=false"]),
        (["--grad-accum", "2", "--set", "training.batch_tokens=60"], ["--set", "training.batch_tokens=60"]),
        (["--grad-accum", "2", "--set", "training.batch_tokens=60", "--precision", "bf16"],
         ["--set", "training.batch_tokens=60", "--precision", "bf16"]),
    ],
    ids=["padded", "packed", "packed-bf16"],
)
def test_two_processes_match_one_with_the_same_global_batch(tiny_model, tmp_path, single, per_process):
    data = write_jsonl(tmp_path / "train.jsonl", ROWS)
    from honed.cli.main import main

    one = ["--model", str(tiny_model), "--data", str(data), "--output", str(tmp_path / "one"), *TRAIN_FLAGS]
    assert main(["train", *one, "--set", "training.group_by_length=false", *single]) == 0  # in this process
    two = _train(tiny_model, data, tmp_path / "two", "--nproc", "2", "--set", "training.group_by_length=false",
                 *per_process)
    assert two.returncode == 0, two.stderr
    expected, got = _losses(tmp_path / "one"), _losses(tmp_path / "two")
    assert len(got) == len(expected) == 4  # one process logged, not two
    tolerance = 1e-2 if "bf16" in single else 1e-4  # bf16: two half-size batches round differently from one
    assert max(abs(a - b) for a, b in zip(expected, got, strict=True)) < tolerance
    assert two.stdout.strip().splitlines() == [str(tmp_path / "two")]  # rank 1 says nothing
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())
    summary = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert summary["steps"] == 4


def test_the_chapters_deepspeed_file_is_accepted_and_a_missing_package_is_one_clear_line(tiny_model, tmp_path):
    import importlib.util

    if importlib.util.find_spec("deepspeed") is not None:
        pytest.skip("deepspeed is installed here")
    data = write_jsonl(tmp_path / "train.jsonl", ROWS)
    (tmp_path / "ds_config.json").write_text(json.dumps({"zero_optimization": {"stage": 2},
                                                         "train_micro_batch_size_per_gpu": "auto"}))
    result = _train(tiny_model, data, tmp_path / "run", "--set", f"training.deepspeed={tmp_path / 'ds_config.json'}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: training.deepspeed: needs the deepspeed package (pip install 'honed[deepspeed]', on a machine with "
        "GPUs); without it, --nproc N trains with plain DDP"
    ]
    assert not (tmp_path / "run").exists()


def test_sharding_settings_reach_the_trainer_arguments(tmp_path):
    from honed.config import validate
    from honed.precision import choose_precision
    from honed.errors import UserError
    from honed.training.trainer import deepspeed_config, fsdp_loading, training_arguments

    zero3 = deepspeed_config(3)
    assert zero3["zero_optimization"]["stage"] == 3 and zero3["train_micro_batch_size_per_gpu"] == "auto"
    assert deepspeed_config("ds.json") == "ds.json"  # the chapter's form: handed over as is
    assert fsdp_loading(False, 4) == {}
    sharding = fsdp_loading({"fsdp_cpu_offload": True, "dp_replicate_size": 2}, 8)["distributed_config"]
    assert (sharding.fsdp_size, sharding.dp_replicate_size, sharding.fsdp_cpu_offload) == (4, 2, True)
    with pytest.raises(UserError, match="--nproc N"):
        fsdp_loading(True, 1)
    config = validate({"training": {"fsdp": True, "save_steps": 3}})
    args = training_arguments(config, choose_precision("fp32"), tmp_path, 1e-3, has_eval=False)
    # transformers shards the model as it loads; the Trainer's own fsdp flag stays off (on a CPU accelerate drops it)
    assert not args.fsdp and args.save_only_model and args.save_steps == 3 and args.save_strategy == "steps"


def _fsdp_config(tiny_model, data, out, method: str = "full", max_steps: int = 4) -> dict:
    training = {"max_steps": max_steps, "batch_size": 2, "packing": False, "group_by_length": False, "save_steps": 2,
                "logging_steps": 1, "learning_rate": 5e-3, "warmup": 0.0, "precision": "fp32", "fsdp": True}
    technique = {"name": method, "dropout": 0.0} if method == "lora" else {"name": method}
    return {"model": str(tiny_model), "method": technique, "data": {"train": str(data)},
            "training": training, "output": str(out)}


def _start(command: list[str]) -> subprocess.Popen:
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})


def _finish(process: subprocess.Popen) -> subprocess.CompletedProcess:
    stdout, stderr = process.communicate(timeout=600)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def test_fsdp_checkpoints_are_sharded_and_a_killed_run_resumes_to_the_uninterrupted_one(tiny_tied_model, tmp_path):
    """Full fine-tuning in two processes with FSDP2: every weight and its optimizer state is split between them.
    Killed (SIGKILL, every rank) after step 3 with the last checkpoint at step 2, then resumed: the losses and the
    final (gathered) model equal the uninterrupted FSDP run's, and both equal a DDP run's. The model ties its LM
    head to its embeddings, as the default model does: a checkpoint failed on the shared tensor; now the tied weight
    is written once and tied again on load."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from honed.training.checkpoint import verify

    data = write_jsonl(tmp_path / "train.jsonl", ROWS)
    config = tmp_path / "fsdp.json"
    config.write_text(json.dumps(_fsdp_config(tiny_tied_model, data, tmp_path / "killed")))
    honed = [sys.executable, "-m", "honed", "train", str(config), "--nproc", "2", "--output"]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    runs = [_start([*honed, str(tmp_path / "fsdp")]),
            _start([*honed, str(tmp_path / "ddp"), "--set", "training.fsdp=false"]),
            _start([*torchrun, str(Path(__file__).parent / "interrupt.py"), str(config), "kill", "3"])]
    fsdp, ddp, killed = (_finish(run) for run in runs)
    assert fsdp.returncode == 0, fsdp.stderr
    assert ddp.returncode == 0, ddp.stderr
    assert killed.returncode != 0 and not (tmp_path / "killed" / "model").exists()

    checkpoint = tmp_path / "killed" / "checkpoints" / "step-0000002"
    files = verify(checkpoint)["files"]
    shards = sorted(name for name in files if name.startswith("shards/"))
    assert len(shards) == 2 and {"rng-0.safetensors", "rng-1.safetensors"} <= set(files)
    halves = [load_file(str(checkpoint / name)) for name in shards]
    weight = "model.model.layers.0.mlp.up_proj.weight"
    assert [h[weight].shape[0] for h in halves] == [32, 32]  # each process holds half of its 64 rows
    tied = {key for half in halves for key in half if "embed_tokens" in key or "lm_head" in key}
    assert tied == {"model.model.embed_tokens.weight", "optimizer.state.model.embed_tokens.weight.exp_avg",
                    "optimizer.state.model.embed_tokens.weight.exp_avg_sq",
                    "optimizer.state.model.embed_tokens.weight.step"}  # once, under the name the model holds it by

    resumed = _finish(_start([*honed, str(tmp_path / "killed"), "--resume"]))
    assert resumed.returncode == 0, resumed.stderr
    assert "step-0000002" in resumed.stderr

    assert _losses(tmp_path / "killed") == _losses(tmp_path / "fsdp")
    assert max(abs(a - b) for a, b in zip(_losses(tmp_path / "fsdp"), _losses(tmp_path / "ddp"), strict=True)) < 1e-4
    final = {run: load_file(str(tmp_path / run / "model" / "model.safetensors")) for run in ("killed", "fsdp", "ddp")}
    for run in ("killed", "fsdp"):  # transformers' gathered save writes the tied head as well, equal to the embeddings
        head = final[run].pop("lm_head.weight", final[run]["model.embed_tokens.weight"])
        assert torch.equal(head, final[run]["model.embed_tokens.weight"])
    assert final["killed"].keys() == final["ddp"].keys() and final["killed"]
    for name, tensor in final["ddp"].items():
        assert final["killed"][name].shape == tensor.shape, name  # gathered, not rank 0's half
        assert (final["killed"][name] - final["fsdp"][name]).abs().max() <= 1e-6, name
        assert (final["killed"][name] - tensor).abs().max() <= 1e-4, name
    model = AutoModelForCausalLM.from_pretrained(str(tmp_path / "killed" / "model"))
    assert model.lm_head.weight is model.model.embed_tokens.weight


def test_fsdp_lora_checkpoints_hold_the_adapter_alone_and_resume_on_a_model_with_tied_embeddings(tiny_tied_model,
                                                                                              tmp_path):
    """Under FSDP, LoRA on a model with tied embeddings trained the embeddings too (the packing check left FSDP's
    tail gathered when peft froze the model) and its checkpoint failed on the tied pair. Now it writes the LoRA
    weights alone, and a run killed after step 4 resumes to the uninterrupted run's adapter."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    from honed.training.checkpoint import verify

    data = write_jsonl(tmp_path / "train.jsonl", ROWS)
    config = tmp_path / "fsdp.json"
    config.write_text(json.dumps(_fsdp_config(tiny_tied_model, data, tmp_path / "killed", "lora", max_steps=6)))
    honed = [sys.executable, "-m", "honed", "train", str(config), "--nproc", "2", "--output"]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    whole, killed = _start([*honed, str(tmp_path / "whole")]), \
        _start([*torchrun, str(Path(__file__).parent / "interrupt.py"), str(config), "kill", "5"])
    whole, killed = _finish(whole), _finish(killed)
    assert whole.returncode == 0, whole.stderr
    assert killed.returncode != 0 and not (tmp_path / "killed" / "summary.json").exists()

    checkpoint = tmp_path / "killed" / "checkpoints" / "step-0000004"
    shards = [checkpoint / name for name in verify(checkpoint)["files"] if name.startswith("shards/")]
    stored = {key for shard in shards for key in safe_open(str(shard), "pt").keys() if key.startswith("model.")}
    assert stored and all(".lora_" in key for key in stored)

    resumed = _finish(_start([*honed, str(tmp_path / "killed"), "--resume", "auto"]))
    assert resumed.returncode == 0, resumed.stderr
    assert "step-0000004" in resumed.stderr
    assert _losses(tmp_path / "killed") == _losses(tmp_path / "whole")
    final = {run: load_file(str(tmp_path / run / "adapter" / "adapter_model.safetensors"))
             for run in ("killed", "whole")}
    assert final["killed"].keys() == final["whole"].keys() and final["killed"]
    for name, tensor in final["whole"].items():
        assert (final["killed"][name] - tensor).abs().max() <= 1e-5, name


FAULTY_MODEL = """
from transformers import LlamaForCausalLM


class FaultyLlama(LlamaForCausalLM):
    \"\"\"Raises in its third training forward pass, in every process.\"\"\"

    training_forwards = 0

    def forward(self, *args, **kwargs):
        if self.training:
            FaultyLlama.training_forwards += 1
            if FaultyLlama.training_forwards == 3:
                raise RuntimeError("custom model code broke\\nsecond line of the message")
        return super().forward(*args, **kwargs)
"""


def _faulty_model(tiny_model: Path, folder: Path) -> Path:
    """The tiny model with custom modelling code (trust_remote_code) that fails in the middle of training."""
    import shutil

    shutil.copytree(tiny_model, folder)
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_faulty.FaultyLlama"}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "modeling_faulty.py").write_text(FAULTY_MODEL)
    return folder


def test_a_failure_in_every_process_reaches_the_user_as_one_line(tiny_model, tmp_path):
    model = _faulty_model(tiny_model, tmp_path / "faulty")
    data = write_jsonl(tmp_path / "train.jsonl", ROWS)
    command = [sys.executable, "-m", "honed", "train", "--model", str(model), "--data", str(data), "--nproc", "2",
               "--max-steps", "4", "--set", "trust_remote_code=true", "--set", "training.batch_tokens=60"]
    quiet = subprocess.run([*command, "--output", str(tmp_path / "run")], capture_output=True, text=True, timeout=600)
    assert quiet.returncode == 1
    assert "Traceback" not in quiet.stderr and "ChildFailedError" not in quiet.stderr
    errors = [line for line in quiet.stderr.splitlines() if "error" in line.lower()]
    assert errors == quiet.stderr.strip().splitlines()[-1:]
    last = quiet.stderr.strip().splitlines()[-1]  # both processes fail at step 3: the first to say so is shown
    assert re.fullmatch(r"error: rank [01]: at step 3: RuntimeError: custom model code broke \(2 processes failed\)",
                        last), last
    assert quiet.stdout == ""

    loud = subprocess.run([*command, "--output", str(tmp_path / "debug"), "--debug"], capture_output=True, text=True,
                          timeout=600)
    assert loud.returncode == 1
    assert loud.stderr.count("RuntimeError: custom model code broke") >= 2  # a traceback per process, as torchrun has


def test_a_process_killed_from_outside_is_named_with_its_signal(tmp_path):
    import os

    script = tmp_path / "killed.py"  # rank 0 is killed; torchrun then stops rank 1 with SIGTERM
    script.write_text("import os, signal, time\nif os.environ['RANK'] == '0':\n"
                      "    os.kill(os.getpid(), signal.SIGKILL)\ntime.sleep(120)\n")
    folder = tmp_path / "failures"
    folder.mkdir()
    result = subprocess.run([sys.executable, "-m", "honed.failures", "--standalone", "--nproc-per-node", "2",
                             str(script)], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "HONED_FAILURES": str(folder)})
    assert result.returncode == 1 and "Traceback" not in result.stderr

    from honed.failures import first_failure

    assert first_failure(folder, 1) == ("rank 0: the process was killed by SIGKILL", 137)
    assert any(path.name.startswith("2-stopped") for path in folder.iterdir())  # rank 1, stopped by torchrun



def test_ctrl_c_stops_every_process_at_a_checkpoint_and_says_so_once(tiny_model, tmp_path):
    """Ctrl-C reaches honed and torchrun (one process group; torchrun starts each process in a session of its own
    and passes the signal on): every process finishes its step and saves, then one line says how to resume."""
    import signal
    import time

    data = write_jsonl(tmp_path / "train.jsonl", ROWS)
    out = tmp_path / "run"
    command = [sys.executable, "-m", "honed", "train", "--model", str(tiny_model), "--data", str(data), "--nproc", "2",
               "--max-steps", "400", "--set", "training.batch_tokens=60", "--set", "training.logging_steps=1",
               "--output", str(out)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 300
    while not (out / "metrics.jsonl").is_file() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGINT)  # what the terminal sends on Ctrl-C
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 130, stderr[-3000:]
    errors = [line for line in stderr.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and errors == stderr.strip().splitlines()[-1:], stderr[-3000:]
    assert re.fullmatch(r"error: rank [01]: stopped at step \d+ by a signal; checkpoint saved in .*; continue with "
                        r"the same command plus --resume auto", errors[0]), errors[0]
    assert list((out / "checkpoints").iterdir())


def _step_end_after_a_signal_in_rank_0(rank: int, port: int, stopped) -> None:
    import signal

    import torch.distributed as dist
    from transformers import TrainerControl

    from honed.training.guards import SaveOnSignal

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        guard = SaveOnSignal()
        if rank == 0:
            guard.received = signal.SIGINT  # Ctrl-C reached rank 0 during this step, rank 1 not yet
        control = guard.on_step_end(None, None, TrainerControl())
        stopped[rank] = (control.should_training_stop, control.should_save, guard.exit_code())
    finally:
        dist.destroy_process_group()


def test_a_signal_that_reached_one_process_stops_every_process_at_the_same_step():
    """torchrun passes Ctrl-C on to each process in turn; a process that has not seen it yet must still stop at
    this step, or it starts the next one and waits for the others for ever (this hung in CI)."""
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with mp.Manager() as manager:
        stopped = manager.dict()
        mp.start_processes(_step_end_after_a_signal_in_rank_0, args=(port, stopped), nprocs=2,
                           start_method="fork")  # forked: the processes need no imports of their own
        assert dict(stopped) == {0: (True, True, 130), 1: (True, True, 130)}


def test_the_launcher_waits_without_the_training_stack(tiny_model, tmp_path):
    """`honed train --nproc 2` itself only starts torchrun and waits: importing torch, transformers and peft there
    cost every multi-process run 3.7 s of CPU before its processes could start (here torchrun is /bin/true)."""
    data = write_jsonl(tmp_path / "train.jsonl", ROWS)
    code = f"""
import sys
from honed.cli.main import main
sys.executable = "/bin/true"
assert main(["train", "--model", {str(tiny_model)!r}, "--data", {str(data)!r}, "--nproc", "2"]) == 0
print(sorted(m for m in ("torch", "transformers", "peft") if m in sys.modules))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
