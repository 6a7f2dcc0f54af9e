"""honed judge against a real local endpoint: honed serve of a tiny model that learnt to answer one verdict."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from honed.cli.main import main
from honed.review import Store, results
from honed.review.judge import JudgeSettings, verdict_messages
from honed.review.preferences import export_rows
from honed.review.store import Item
from honed.serve import load_pool
from honed.serve.server import Server, make_app
from honed.training import fit
from tiny import write_jsonl

RUBRIC = "Pick the better answer."
VERDICT = '{"winner": "1"}'  # always the answer shown first: a judge with pure position bias
PROMPTS = [f"Where is parcel {i}?" for i in range(6)]


def _predictions(path: Path, answer: str) -> Path:
    return write_jsonl(path, [{"prompt": p, "reference": f"Parcel {i} ships today.", "prediction": f"{answer} {i}"}
                              for i, p in enumerate(PROMPTS)])


@pytest.fixture(scope="module")
def judge_run(tiny_model, tmp_path_factory) -> Path:
    """Fine-tuned on judge prompts shaped as honed judge sends them, always answering VERDICT."""
    folder = tmp_path_factory.mktemp("judge")
    settings = JudgeSettings("http://unused", "x", rubric=RUBRIC)
    rows = []
    for i in range(12):
        item = Item(i, f"Question {i}?", None, f"answer {i}", f"reply {i * 7}")
        rows.append({"messages": [*verdict_messages(settings, item, i % 2 == 0),
                                  {"role": "assistant", "content": VERDICT}]})
    data = write_jsonl(folder / "verdicts.jsonl", rows)
    return fit({"model": str(tiny_model), "method": {"name": "full"}, "data": {"train": str(data)},
                "training": {"max_steps": 80, "batch_size": 4, "learning_rate": 5e-3, "warmup": 0},
                "output": str(folder / "judge")}).run_dir


class Rationed:
    """In front of honed serve: counts the chat requests and answers the first `busy` of them 429."""

    def __init__(self, app, busy: int = 0):
        self.app, self.busy, self.chats, self.refused = app, busy, 0, 0

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].endswith("/chat/completions"):
            self.chats += 1
            if self.refused < self.busy:
                self.refused += 1
                await send({"type": "http.response.start", "status": 429,
                            "headers": [(b"content-type", b"application/json"), (b"retry-after", b"0")]})
                await send({"type": "http.response.body", "body": b'{"error": {"message": "busy"}}'})
                return
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def endpoint(judge_run):
    pool = load_pool([str(judge_run)])
    rationed = Rationed(make_app(pool, precision="fp32"), busy=1)
    server = Server(rationed, "127.0.0.1", 0, on_close=pool.close)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address
    names = [model.id for model in __import__("openai").OpenAI(base_url=f"http://{host}:{port}/v1",
                                                               api_key="x").models.list()]
    yield f"http://{host}:{port}", names, rationed
    server.shutdown()
    server.server_close()


def test_the_judge_asks_both_orders_stores_its_verdicts_apart_and_agrees_with_a_reviewer(endpoint, tmp_path, capsys):
    url, names, rationed = endpoint
    judge_name = next(name for name in names if name.endswith("judge"))
    a, b = _predictions(tmp_path / "a.jsonl", "Parcel ships"), _predictions(tmp_path / "b.jsonl", "No idea")
    rubric, db = tmp_path / "rubric.txt", tmp_path / "review.sqlite"
    rubric.write_text(RUBRIC)
    store = Store(db)
    asked_before = rationed.chats
    assert main(["judge", str(a), str(b), "--endpoint", url, "--model", judge_name, "--rubric", str(rubric),
                 "--db", str(db), "--concurrency", "3"]) == 0
    # both orders of 6 items, plus the one request answered 429 and retried by the client
    assert rationed.refused == 1 and rationed.chats - asked_before == 2 * len(PROMPTS) + 1
    reviewer = f"judge:{judge_name}"
    verdicts = [r for r in store.ratings() if r["reviewer"] == reviewer]
    assert len(verdicts) == len(PROMPTS)
    for verdict in verdicts:  # it always picks answer 1: A when A is first, B when B is: the orders disagree
        assert json.loads(verdict["comment"])["orders"] == {"a_first": "a", "b_first": "b"}
        assert verdict["choice"] == "tie"
    out = capsys.readouterr().out
    assert "the two orders agreed on 0; picked the answer shown first: 12 of 12; malformed (no verdict stored): 0" in out

    for item_id in range(1, len(PROMPTS) + 1):  # a human prefers A on four, calls two a tie
        store.rate(item_id, "alice", "a" if item_id <= 4 else "tie", True, {}, None)
    human = results(store)
    assert human["ratings"] == len(PROMPTS) and human["reviewers"] == ["alice"]  # the judge is not in these
    judged = human["judges"][reviewer]
    assert judged["verdicts"] == len(PROMPTS) and judged["orders_agreed"] == 0 and judged["malformed"] == 0
    assert judged["agreement_with"]["alice"]["overlap"] == len(PROMPTS)
    assert judged["agreement_with"]["alice"]["kappa"] == pytest.approx(0.0)  # ties against a's: no agreement
    assert results(store, with_judge=True)["ratings"] == 2 * len(PROMPTS)
    rows, _ = export_rows(store, "preferences")
    assert len(rows) == 4  # alice's four; with the judge's ties counted, no item has a majority
    assert export_rows(store, "preferences", with_judge=True)[0] == []


def test_malformed_verdicts_are_asked_again_once_then_counted_never_guessed(endpoint, tmp_path, capsys):
    """The base model behind the same server never writes the JSON asked for."""
    url, names, rationed = endpoint
    base_name = next(name for name in names if not name.endswith("judge"))
    a, b = _predictions(tmp_path / "a.jsonl", "Parcel ships"), _predictions(tmp_path / "b.jsonl", "No idea")
    db, rubric = tmp_path / "review.sqlite", tmp_path / "rubric.txt"
    rubric.write_text(RUBRIC)  # short: the tiny model's context is 512 tokens
    asked_before = rationed.chats
    assert main(["judge", str(a), str(b), "--endpoint", url, "--model", base_name, "--db", str(db), "--rubric",
                 str(rubric)]) == 0
    assert rationed.chats - asked_before == 2 * 2 * len(PROMPTS)  # each order asked twice
    store = Store(db)
    assert [r for r in store.ratings() if r["reviewer"].startswith("judge:")] == []
    assert results(store)["judges"][f"judge:{base_name}"]["malformed"] == len(PROMPTS)
    assert f"malformed (no verdict stored): {len(PROMPTS)}" in capsys.readouterr().out


def test_an_endpoint_that_cannot_judge_is_one_line_and_stores_nothing(endpoint, judge_run, tmp_path, monkeypatch):
    import socket
    import subprocess
    import sys

    from honed.serve import make_server

    url, names, _ = endpoint
    locked = make_server(load_pool([str(judge_run)]), "127.0.0.1", 0, api_key="sesame")
    threading.Thread(target=locked.serve_forever, daemon=True).start()
    monkeypatch.setenv("HONED_WRONG_KEY", "not-sesame")
    a, b = _predictions(tmp_path / "a.jsonl", "x"), _predictions(tmp_path / "b.jsonl", "y")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.delenv("HONED_NO_SUCH_KEY", raising=False)
    cases = {
        "cannot connect": ["--endpoint", closed, "--model", "m"],
        "no OpenAI-compatible API there (404": ["--endpoint", f"{url}/nothing/here", "--model", "m"],
        "HONED_NO_SUCH_KEY: that environment variable is not set": ["--endpoint", url, "--model", "m",
                                                                   "--api-key-env", "HONED_NO_SUCH_KEY"],
        "the server refused the key (401)": ["--endpoint", "http://%s:%d" % locked.server_address, "--model", "m",
                                             "--api-key-env", "HONED_WRONG_KEY"],
    }
    for words, flags in cases.items():
        db = tmp_path / f"{len(words)}.sqlite"
        done = subprocess.run([sys.executable, "-m", "honed", "judge", str(a), str(b), *flags, "--db", str(db),
                               "--timeout", "5"], capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and words in done.stderr, done.stderr
        assert not db.exists()
    locked.shutdown()
    locked.server_close()


def test_verdicts_are_read_from_json_with_scores_and_mapped_back_to_a_and_b():
    from honed.review.judge import _as_a_and_b, parse_verdict

    assert parse_verdict('Sure! {"winner": "2", "reason": "kinder"} Hope that helps.', False)["winner"] == 1
    assert parse_verdict('{"winner": "both bad"}', False)["winner"] == "both_bad"
    assert parse_verdict('{"winner": "1"}{"winner": "2"} and on', False)["winner"] == 0  # the first, then it went on
    for malformed in ("B is better.", '{"winner": "3"}', '{"winner": "1"', "I cannot judge this."):
        assert parse_verdict(malformed, False) is None, malformed
    scored = '{"winner": "1", "scores": {"1": {"relevance": 5, "tone": 4, "accuracy": 5}, ' \
             '"2": {"relevance": 2, "tone": 3, "accuracy": 1}}}'
    assert parse_verdict(scored.replace("5, ", "9, ", 1), True) is None  # out of 1-5
    assert parse_verdict('{"winner": "1"}', True) is None  # scores asked for, none given
    mapped = _as_a_and_b(parse_verdict(scored, True), a_first=False)  # B was shown first, and won
    assert mapped["choice"] == "b" and mapped["scores"]["b"]["relevance"] == 5 and mapped["scores"]["a"]["tone"] == 3


def test_the_reference_is_shown_only_when_asked():
    item = Item(1, "Where is parcel 1?", "It ships today.", "A says", "B says")
    plain = verdict_messages(JudgeSettings("u", "m"), item, True)[1]["content"]
    guided = verdict_messages(JudgeSettings("u", "m", reference=True, criteria=True), item, False)[1]["content"]
    assert "It ships today." not in plain and "It ships today." in guided
    assert guided.index("B says") < guided.index("A says") and "scores" in guided and "scores" not in plain
