"""A stream the client drops must not leak into the requests after it: each served model answers as it does alone.

The adapters' weights are seeded noise, so the base and the two adapters give three different answers and, like the
random base, rarely end their turn: a dropped stream left running would go on generating while the next requests
run, and an adapter switch during it would answer them with the wrong model.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from honed.serve import Limits, load_pool, make_server
from mounted import InTheStudio, _path
from honed.training import fit
from tiny import write_jsonl

QUESTION = [{"role": "user", "content": "Where is my order?"}]
LONG = 400  # tokens asked of the stream that is dropped: it would outlast the requests after it
SHORT = 12


def _noisy_lora_run(tiny_model, tmp: Path, name: str, seed: int) -> Path:
    import torch
    from safetensors.torch import load_file, save_file

    data = write_jsonl(tmp / f"{name}.jsonl", [{"prompt": "Hi?", "completion": "Hello."}] * 4)
    run = fit({"model": str(tiny_model), "method": {"name": "lora", "dropout": 0.0}, "data": {"train": str(data)},
               "training": {"max_steps": 1, "batch_size": 4}, "output": str(tmp / name)}).run_dir
    path = run / "adapter" / "adapter_model.safetensors"
    weights = load_file(str(path))
    generator = torch.Generator().manual_seed(seed)
    for key, value in weights.items():
        if "lora_B" in key:
            weights[key] = torch.randn(value.shape, generator=generator, dtype=value.dtype) * 0.5
    save_file(weights, str(path))
    return run


@pytest.fixture(scope="module", params=["serve", "studio"])
def server(tiny_model, tmp_path_factory, request):
    """honed serve, and the same API mounted in honed studio."""
    tmp = tmp_path_factory.mktemp("abandoned")
    runs = [_noisy_lora_run(tiny_model, tmp, "left", 1), _noisy_lora_run(tiny_model, tmp, "right", 2)]
    if request.param == "studio":
        httpd = InTheStudio(runs, Limits(timeout_s=120))
    else:
        httpd = make_server(load_pool([str(p) for p in runs]), "127.0.0.1", 0, limits=Limits(timeout_s=120),
                            precision="fp32")
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _port(server) -> int:
    return server.server_address[1]


def _ask(server, model: str) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", _port(server), timeout=120)
    body = {"model": model, "messages": QUESTION, "max_tokens": SHORT}
    connection.request("POST", _path(server, "/v1/chat/completions"), json.dumps(body),
                       {"Content-Type": "application/json"})
    response = connection.getresponse()
    payload = json.loads(response.read())
    connection.close()
    assert response.status == 200, payload
    return payload["choices"][0]["message"]["content"]


def _drop_after_first_chunk(server, model: str) -> None:
    """Starts a long stream, reads until its first piece of text, and hangs up."""
    connection = http.client.HTTPConnection("127.0.0.1", _port(server), timeout=120)
    body = {"model": model, "messages": QUESTION, "max_tokens": LONG, "stream": True}
    connection.request("POST", _path(server, "/v1/chat/completions"), json.dumps(body),
                       {"Content-Type": "application/json"})
    response = connection.getresponse()
    assert response.status == 200
    while True:
        line = response.readline()
        assert line, "the stream ended before its first piece of text"
        if line.startswith(b"data: {") and json.loads(line[6:])["choices"][0]["delta"].get("content"):
            break
    response.close()
    connection.close()


@pytest.fixture(scope="module")
def alone(server, tiny_model) -> dict[str, str]:
    """Each model's answer with nothing else running; the three differ, so a mix-up cannot go unseen."""
    answers = {name: _ask(server, name) for name in (Path(tiny_model).name, "left", "right")}
    assert len(set(answers.values())) == 3, answers
    return answers


@pytest.mark.parametrize("dropped", ["base", "left", "right"])
def test_a_dropped_stream_does_not_change_the_next_answers(server, alone, tiny_model, dropped):
    names = {"base": Path(tiny_model).name, "left": "left", "right": "right"}
    others = [name for key, name in names.items() if key != dropped]
    _drop_after_first_chunk(server, names[dropped])
    with ThreadPoolExecutor(len(others)) as pool:
        answers = dict(zip(others, pool.map(lambda name: _ask(server, name), others), strict=True))
    assert answers == {name: alone[name] for name in others}
    engine = server.service.pool.get("left").engine
    steps = engine.steps
    time.sleep(0.3)
    assert engine.steps == steps, "the dropped stream is still generating"


QUESTIONS = ["Where is my order?", "Can I pay by card?", "My parcel came damaged, what now?", "Hi"]


def _ask_stream(server, model: str, question: str, drop_after: int | None = None) -> str | None:
    """Streams an answer; with `drop_after`, hangs up after that many pieces of text (and returns None)."""
    connection = http.client.HTTPConnection("127.0.0.1", _port(server), timeout=120)
    body = {"model": model, "messages": [{"role": "user", "content": question}], "max_tokens": SHORT, "stream": True}
    connection.request("POST", _path(server, "/v1/chat/completions"), json.dumps(body),
                       {"Content-Type": "application/json"})
    response = connection.getresponse()
    assert response.status == 200
    text, pieces = "", 0
    for line in response:
        if not line.startswith(b"data: {"):
            continue
        piece = json.loads(line[6:])["choices"][0]["delta"].get("content")
        if piece:
            text, pieces = text + piece, pieces + 1
            if drop_after is not None and pieces >= drop_after:
                connection.close()
                return None
    connection.close()
    return text.strip()


@pytest.fixture(scope="module")
def solo(server, tiny_model) -> dict[tuple[str, str], str]:
    """Every (model, question) answered with nothing else running."""
    models = (Path(tiny_model).name, "left", "right")
    return {(model, question): _ask_stream(server, model, question) for model in models for question in QUESTIONS}


def test_eight_clients_at_once_over_three_models_get_their_solo_answers(server, solo):
    """Greedy answers decoded in one batch, each row with its own adapter (or none), equal the answers alone."""
    requests = sorted(solo, key=lambda key: QUESTIONS.index(key[1]))[:8]  # the three models interleaved
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda key: _ask_stream(server, *key), requests))
    assert answers == [solo[key] for key in requests]
    assert len({model for model, _ in requests}) == 3


def test_clients_dropping_mid_stream_at_random_change_no_other_answer(server, solo):
    import random

    chooser = random.Random(4)
    requests = [chooser.choice(list(solo)) for _ in range(12)]
    drops = [chooser.choice([None, None, 1, 2, 5]) for _ in requests]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda job: _ask_stream(server, *job[0], drop_after=job[1]), zip(requests, drops)))
    kept = [(key, answer) for key, answer, drop in zip(requests, answers, drops, strict=True) if drop is None]
    assert kept and len(kept) < len(requests)
    assert all(answer == solo[key] for key, answer in kept)
    engine = server.service.pool.get("left").engine
    steps = engine.steps
    time.sleep(0.3)
    assert engine.steps == steps, "a dropped stream is still generating"
