"""honed serve through the official openai client: two adapters on one base, streaming, completions, limits."""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from honed.errors import UserError
from honed.serve import Limits, load_pool, make_server
from mounted import InTheStudio, _path
from honed.training import fit
from tiny import write_jsonl


def _train(tiny_model, tmp_path: Path, name: str, answer: str) -> Path:
    rows = [{"prompt": f"Question {i}?", "completion": answer} for i in range(8)]
    data = write_jsonl(tmp_path / f"{name}.jsonl", rows)
    return fit({"model": str(tiny_model), "method": {"name": "lora", "dropout": 0.0}, "data": {"train": str(data)},
                "training": {"max_steps": 30, "batch_size": 4, "learning_rate": 1e-2, "warmup": 0},
                "output": str(tmp_path / name)}).run_dir


@pytest.fixture(scope="module")
def runs(tiny_model, tmp_path_factory) -> list[Path]:
    tmp = tmp_path_factory.mktemp("serve-runs")
    return [_train(tiny_model, tmp, "alpha", "alpha alpha alpha alpha"),
            _train(tiny_model, tmp, "beta", "zebra yellow zebra yellow")]


LIMITS = dict(max_queue=1, max_batch=3, timeout_s=30)


@pytest.fixture(scope="module", params=["serve", "studio"])
def server(runs, request):
    """honed serve, and the same API mounted in honed studio: every test here runs against both."""
    if request.param == "serve":
        httpd = make_server(load_pool([str(p) for p in runs]), "127.0.0.1", 0, limits=Limits(**LIMITS),
                            precision="fp32")
    else:
        httpd = InTheStudio(runs, Limits(**LIMITS))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def client(server):
    from openai import OpenAI

    return OpenAI(base_url=_url(server, "/v1"), api_key="unused", max_retries=0)


def _url(server, path: str) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{_path(server, path)}"


def _post(server, path: str, body: bytes | dict, headers: dict | None = None) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(_url(server, path), data=data,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_models_are_the_two_runs_and_their_base(client, tiny_model):
    names = sorted(model.id for model in client.models.list().data)
    assert names == sorted(["alpha", "beta", Path(tiny_model).name])


def test_two_adapters_answer_differently_from_one_server(client, runs, tiny_model):
    """Each name gives exactly what its run gives alone (greedy), and the three answers differ."""
    from honed.config import GenerationConfig
    from honed.data.encoding import generation_prompt_ids
    from honed.generation import generate
    from honed.training import load_run

    messages = [{"role": "user", "content": "Question 3?"}]

    def ask(model):
        reply = client.chat.completions.create(model=model, messages=messages, max_tokens=8)
        return reply.choices[0].message.content

    answers = {name: ask(name) for name in ("alpha", "beta", Path(tiny_model).name)}
    assert len(set(answers.values())) == 3
    for run in runs:
        alone = load_run(run)
        ids = generation_prompt_ids(alone.tokenizer, messages)
        assert generate(alone.model, alone.tokenizer, [ids], GenerationConfig(max_new_tokens=8))[0] == \
            answers[run.name].strip()
    assert ask("alpha") == answers["alpha"]  # switching adapters back and forth changes nothing


def test_streamed_chat_equals_the_whole_answer(client):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Question 5?"}]
    whole = client.chat.completions.create(model="beta", messages=messages, max_tokens=10)
    chunks = list(client.chat.completions.create(model="beta", messages=messages, max_tokens=10, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content and len(chunks) > 3
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")
    assert whole.usage.completion_tokens > 0 and whole.usage.prompt_tokens > 5


def test_n_seed_top_k_and_usage_as_openai_has_them(client):
    """n choices sample from one prompt, choice i with seed + i, so each choice is the answer of a one-choice
    request with that seed, and the usage counts every choice's tokens."""
    messages = [{"role": "user", "content": "Question 6?"}]

    def sampled(**options):
        return client.chat.completions.create(model="beta", messages=messages, max_tokens=8, temperature=1.5,
                                              **options)

    reply = sampled(n=3, seed=11)
    texts = [choice.message.content for choice in reply.choices]
    assert [choice.index for choice in reply.choices] == [0, 1, 2] and len(set(texts)) > 1
    singles = [sampled(seed=seed) for seed in (11, 12, 13)]
    assert [single.choices[0].message.content for single in singles] == texts
    assert reply.usage.completion_tokens == sum(single.usage.completion_tokens for single in singles)
    assert reply.usage.prompt_tokens == singles[0].usage.prompt_tokens
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    greedy = client.chat.completions.create(model="beta", messages=messages, max_tokens=8).choices[0].message.content
    assert sampled(extra_body={"top_k": 1}, seed=5).choices[0].message.content == greedy  # not in OpenAI's client
    chunks = list(sampled(n=2, seed=11, stream=True))
    streamed = ["", ""]
    for chunk in chunks:
        for choice in chunk.choices:
            streamed[choice.index] += choice.delta.content or ""
    assert streamed == texts[:2]
    assert chunks[-1].usage.completion_tokens == sum(single.usage.completion_tokens for single in singles[:2])


def test_completions_plain_and_streamed(client):
    whole = client.completions.create(model="alpha", prompt="Question 1?", max_tokens=6)
    streamed = "".join(c.choices[0].text for c in client.completions.create(model="alpha", prompt="Question 1?",
                                                                          max_tokens=6, stream=True))
    assert whole.choices[0].text == streamed and whole.object == "text_completion"


@pytest.mark.parametrize(("body", "status", "words"), [
    ({"model": "gamma", "messages": [{"role": "user", "content": "hi"}]}, 400, "unknown model 'gamma'"),
    ({"model": "alpha", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}, 400, "positive integer"),
    ({"model": "alpha", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 600}, 400, "context of 512"),
    ({"model": "alpha", "messages": []}, 400, "messages must be"),
    ({"model": "alpha", "prompt": 3}, 400, "prompt must be"),
    ({"model": "alpha", "messages": [{"role": "bot", "content": "hi"}]}, 400, "got 'bot' at messages[0].role"),
    ({"model": "alpha", "messages": [{"role": "user", "content": "hi"}], "temperature": 3}, 400, "between 0 and 2"),
    ({"model": "alpha", "messages": [{"role": "user", "content": "hi"}], "n": 4}, 400, "n must be at most 3"),
    ({"model": "alpha", "prompt": "hi", "n": 0}, 400, "n must be an integer from 1 to 64"),
    ({"model": "alpha", "prompt": "hi", "top_k": -1}, 400, "top_k must be an integer of 0 or more"),
    ({"model": "alpha", "messages": [{"role": "user", "content": "hi"}], "stop": 5}, 400, "stop must be a string"),
    ({"messages": [{"role": "user", "content": "hi"}]}, 400, "'model' is required"),
    (b'{"model": "alpha", ', 400, "body is not valid JSON"),
    (b"[1, 2]", 400, "body must be a JSON object"),
])
def test_bad_requests_get_400_with_a_clear_message(server, body, status, words):
    path = "/v1/completions" if isinstance(body, dict) and "prompt" in body else "/v1/chat/completions"
    code, payload = _post(server, path, body)
    assert code == status and words in payload["error"]["message"]


@pytest.mark.parametrize(("size", "chunked"), [(2 * 2**20 + 10, False), (20 * 2**20, False), (3 * 2**20, True)])
def test_oversized_body_gets_413(server, size, chunked):
    """Read to the end before the answer, declared or chunked: a server that answers mid-upload and hangs up loses
    its 413 in a reset connection (FastAPI's own limit did, with 20 MB)."""
    body = json.dumps({"model": "alpha", "prompt": "x" * size}).encode()
    connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=60)
    pieces = (body[i : i + 2**16] for i in range(0, len(body), 2**16))
    connection.request("POST", _path(server, "/v1/completions"), pieces if chunked else body,
                       {"Content-Type": "application/json"}, encode_chunked=chunked)
    response = connection.getresponse()
    payload = json.loads(response.read())
    connection.close()
    assert response.status == 413 and "2097152-byte limit" in payload["error"]["message"]


def test_unknown_routes_answer_in_openai_shape(server):
    code, payload = _post(server, "/v1/embeddings", {"model": "alpha", "input": "hi"})
    assert code == 404 and payload["error"]["message"] == "no route POST /v1/embeddings"


def test_an_address_in_use_is_a_one_line_error(server, runs):
    with pytest.raises(UserError, match="cannot listen on 127.0.0.1"):
        make_server(load_pool([str(runs[0])]), "127.0.0.1", server.server_address[1])


def test_queue_full_gets_429_and_a_long_wait_gets_504(server, tiny_model):
    """Long answers of the base (random weights: it rarely ends its turn) fill the batch of the engine it
    shares with alpha (--max-batch 3); the next request waits, the one after finds the queue full, and the waiting
    one gives up at its deadline."""
    engine = server.service.pool.get("alpha").engine
    long = {"model": Path(tiny_model).name, "prompt": "Question 2?", "max_tokens": 400, "stream": True}
    body = {"model": "alpha", "prompt": "Question 2?", "max_tokens": 2}
    results = []
    decode = engine.decoder.decode
    engine.decoder.decode = lambda *args: (time.sleep(0.05), decode(*args))[1]  # 400 tokens outlast the wait
    streams = [_open_stream(server, long) for _ in range(engine.max_batch)]
    server.service.limits.timeout_s = 3  # long enough for the next request to find the queue full
    try:
        waiting = threading.Thread(target=lambda: results.append(_post(server, "/v1/completions", body)))
        waiting.start()
        while engine.waiting < 1:
            pass
        code, payload = _post(server, "/v1/completions", body)
        assert code == 429 and "waiting" in payload["error"]["message"]
        waiting.join()
    finally:
        for connection in streams:
            connection.close()
        engine.decoder.decode = decode
        server.service.limits.timeout_s = 30
    assert results[0][0] == 504


def _open_stream(server, body: dict) -> http.client.HTTPConnection:
    """A streamed request, read up to its first chunk (so it holds its place in the batch) and left open."""
    connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=60)
    connection.request("POST", _path(server, "/v1/completions"), json.dumps(body), {"Content-Type": "application/json"})
    response = connection.getresponse()
    assert response.status == 200
    response.readline()
    return connection


def test_health_and_api_key(runs):
    with pytest.raises(UserError, match="--api-key"):
        make_server(load_pool([str(runs[0])]), "0.0.0.0", 0)
    httpd = make_server(load_pool([str(runs[0])]), "127.0.0.1", 0, api_key="sesame")
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        body = {"model": "alpha", "prompt": "Question 2?", "max_tokens": 2}
        assert _post(httpd, "/v1/completions", body)[0] == 401
        assert _post(httpd, "/v1/completions", body, {"Authorization": "Bearer sesame"})[0] == 200
        with urllib.request.urlopen(_url(httpd, "/health"), timeout=10) as response:
            assert json.loads(response.read())["status"] == "ok"
    finally:
        httpd.shutdown()
        httpd.server_close()
