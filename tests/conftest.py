from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tiny import MEMORISE, build_model_dir, write_jsonl  # noqa: E402


ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory, worker_id) -> Path:
    """`make demo`'s run (examples/support.yaml on the default model) when it is there; otherwise the same run,
    trained once for the whole session: the first worker to ask trains it while the others wait on a lock."""
    import subprocess
    import sys

    from filelock import FileLock

    from honed.training import is_run_dir, read_config

    demo = ROOT / "runs" / "support-lora"
    if is_run_dir(demo) and read_config(demo).method.name == "lora" and read_config(demo).model == "smollm2-135m":
        return demo
    shared = tmp_path_factory.getbasetemp() if worker_id == "master" else tmp_path_factory.getbasetemp().parent
    out = shared / "demo" / "support-lora"
    with FileLock(str(shared / "demo.lock")):
        if not is_run_dir(out):
            done = subprocess.run([sys.executable, "-m", "honed", "train", "examples/support.yaml", "--output",
                                   str(out), "--overwrite"], capture_output=True, text=True, timeout=1800, cwd=ROOT)
            assert done.returncode == 0, done.stderr[-2000:]
    return out


def pytest_collection_modifyitems(config, items):
    """The slow tests (the default model: a minute or more each) first, so that no worker starts one when the
    other has nothing left to do."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_configure(config):
    _own_cores_per_worker()


def _own_cores_per_worker() -> None:
    """Under pytest-xdist (`make test` runs `-n auto`) each worker, and every process it starts, keeps to its own
    share of the cores. Without this each worker's torch, llama.cpp and subprocesses all spin one thread per core:
    measured on 2 cores, `-n 2` unpinned took 12:58 against 10:16 serially (the llama.cpp test alone 621 s)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker or not hasattr(os, "sched_setaffinity"):
        return
    cores = sorted(os.sched_getaffinity(0))
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    mine = cores[int(worker.removeprefix("gw")) % len(cores)::max(1, min(workers, len(cores)))]
    os.sched_setaffinity(0, mine)
    os.environ["OMP_NUM_THREADS"] = str(len(mine))

    import torch

    torch.set_num_threads(len(mine))


@pytest.fixture(autouse=True)
def _isolated_home(request, tmp_path_factory, monkeypatch):
    """Tests get a throwaway HONED_HOME; slow tests share the user's, so the default model converts once, not per run."""
    if request.node.get_closest_marker("slow") is None:
        home = tmp_path_factory.getbasetemp() / "honed-home"
        monkeypatch.setenv("HONED_HOME", str(home))
        _measured_as_fp32_machine(home)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return build_model_dir(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def tiny_tied_model(tmp_path_factory) -> Path:
    """Output layer tied to the input embeddings, as in SmolLM2, Qwen2.5, Llama 3.2 and Gemma."""
    return build_model_dir(tmp_path_factory.mktemp("tiny-tied"), tied=True)


@pytest.fixture(scope="session")
def tiny_base_model(tmp_path_factory) -> Path:
    """A tiny model whose tokenizer has no chat template, like GPT-2."""
    return build_model_dir(tmp_path_factory.mktemp("tiny-base"), chat_template=None)


@pytest.fixture
def memorise_file(tmp_path) -> Path:
    return write_jsonl(tmp_path / "memorise.jsonl", MEMORISE)


def _measured_as_fp32_machine(home: Path) -> None:
    """Fast tests see a CPU on which bf16 is no faster than fp32, so `precision: auto` is fp32 on every machine CI
    lands on (the CPU changes between sessions); tests of bf16 ask for it, tests of the choice fake the timing."""
    from honed.hardware import CACHE_FILE, machine_key

    path = home / CACHE_FILE
    if path.is_file():
        return
    home.mkdir(parents=True, exist_ok=True)
    gflops = {"fp32": 100.0, "bf16": 100.0, "fp16": 2.0}
    path.write_text(json.dumps({machine_key(threads): {"gflops": gflops} for threads in range(1, 65)}))


@pytest.fixture
def browser():
    """Headless Chromium at 1280x800 (Debian's chromium and chromium-driver; `.ci/run` installs them, else the test
    skips). The review's and the studio's pages are tested, and screenshotted, in it."""
    import shutil

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not (chromium and driver_path):
        pytest.skip("needs Debian's chromium and chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,800"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
