"""A model as judge: any OpenAI-compatible server compares the two sides of a review, each pair in both orders.

Asking twice, A first then B first, cancels the judge's position bias: a verdict that follows the position rather
than the answer comes out a tie, and how often the two orders agree is counted. Verdicts go into the review's store
as the reviewer `judge:<model>`, so win rates, Wilson intervals and agreement with each human reviewer come from the
review's own statistics; results and preference exports leave them out unless asked (a judge must not become
training data by accident). A verdict that is not the JSON asked for, or a refusal, is asked again once, then
counted as malformed, never guessed.

The `openai` client does the HTTP: timeouts, and retries with backoff on 429, 5xx and dropped connections.
"""

from __future__ import annotations

import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from honed.errors import UserError
from honed.review.store import CRITERIA, JUDGE_PREFIX, Item, Store

log = logging.getLogger("honed")

RUBRIC = """You are a strict, fair reviewer of a support team's answers. You see a user's request and two answers to
it, Answer 1 and Answer 2. Judge which answer is better on:
- relevance: does it answer what was asked, and only that?
- tone: is it polite, clear and in the voice a customer would expect?
- accuracy: is what it says true and consistent with the request (and with the reference answer, if one is given)?
The order of the answers means nothing. Length alone is not quality."""

VERDICT = """Reply with one JSON object and nothing else: {"winner": "1", "2", "tie" or "both_bad", "reason": "one \
short sentence"}."""
SCORES = """Also rate each answer from 1 (poor) to 5 (excellent) on each criterion, in the same object: \
"scores": {"1": {"relevance": n, "tone": n, "accuracy": n}, "2": {"relevance": n, "tone": n, "accuracy": n}}."""
MAX_VERDICT_TOKENS = 300  # a verdict with its scores and a one-sentence reason takes under 120
WINNERS = {"1": 0, "2": 1, "tie": "tie", "both_bad": "both_bad", "both bad": "both_bad"}


@dataclass(frozen=True)
class JudgeSettings:
    endpoint: str
    model: str
    api_key_env: str | None = None
    rubric: str = RUBRIC
    reference: bool = False  # show the test row's reference answer to the judge
    criteria: bool = False  # also ask for the store's 1-5 scores per criterion
    concurrency: int = 4
    timeout_s: float = 60.0
    retries: int = 3  # the client's retries on 429, 5xx and dropped connections

    @property
    def reviewer(self) -> str:
        return f"{JUDGE_PREFIX}{self.model}"


@dataclass
class Tally:
    items: int = 0
    judged: int = 0
    malformed: int = 0  # items left without a verdict: an order's answer unparseable twice
    orders_agreed: int = 0
    first_position: int = 0  # order verdicts that picked whichever answer was shown first
    decisive_orders: int = 0
    requests: int = 0
    asked: list[tuple[int, str]] = field(default_factory=list)  # (item, order) as sent

    def line(self, reviewer: str) -> str:
        bias = f"{self.first_position} of {self.decisive_orders}" if self.decisive_orders else "none"
        return (f"{reviewer}: {self.judged} of {self.items} items judged, each in both orders ({self.requests} "
                f"requests); the two orders agreed on {self.orders_agreed}; picked the answer shown first: {bias}; "
                f"malformed (no verdict stored): {self.malformed}")


def client_for(settings: JudgeSettings):
    """An OpenAI client for the endpoint, checked before anything is stored: an unset key variable, an endpoint
    that cannot be reached, refuses the key (401/403) or has no such API (404) is one line."""
    import openai

    key = None
    if settings.api_key_env:
        key = os.environ.get(settings.api_key_env)
        if not key:
            raise UserError(f"--api-key-env {settings.api_key_env}: that environment variable is not set")
    client = openai.OpenAI(base_url=api_base(settings.endpoint), api_key=key or "not-needed",
                           timeout=settings.timeout_s, max_retries=settings.retries)
    try:
        client.models.list()
    except openai.APIConnectionError as error:
        raise UserError(f"--endpoint {settings.endpoint}: cannot connect ({_cause(error)}); is the server running?"
                        ) from None
    except openai.AuthenticationError:
        raise UserError(f"--endpoint {settings.endpoint}: the server refused the key (401); set --api-key-env to "
                        "the variable that holds a valid one") from None
    except openai.PermissionDeniedError:
        raise UserError(f"--endpoint {settings.endpoint}: the key may not use this server (403)") from None
    except openai.NotFoundError:
        raise UserError(f"--endpoint {settings.endpoint}: no OpenAI-compatible API there (404 on "
                        f"{api_base(settings.endpoint)}/models)") from None
    except openai.APIStatusError as error:
        raise UserError(f"--endpoint {settings.endpoint}: answered {error.status_code} to a list of models") from None
    return client


def api_base(endpoint: str) -> str:
    """`http://host:port` or `http://host:port/v1`, as users write either."""
    base = endpoint.rstrip("/")
    return base if base.endswith("/v1") else f"{base}/v1"


def _cause(error: Exception) -> str:
    inner = error.__cause__ or error
    return str(inner).splitlines()[0][:120] or type(inner).__name__


def _message(error) -> str:
    body = error.body if isinstance(getattr(error, "body", None), dict) else {}
    return str(body.get("message") or error.message).splitlines()[0][:200]


def judge_store(store: Store, settings: JudgeSettings, client, progress=None) -> Tally:
    """Every item of the review not yet judged by this judge, in both orders; one stored verdict per item."""
    items = [store.item(i) for i in range(1, store.item_count() + 1)]
    done = {r["item_id"] for r in store.ratings() if r["reviewer"] == settings.reviewer}
    todo = [item for item in items if item is not None and item.id not in done]
    tally = Tally(items=len(todo))
    jobs = [(item, a_first) for item in todo for a_first in (True, False)]
    if progress is not None:
        progress.reset(total=len(jobs))

    def ask(job):
        answer = _ask(client, settings, *job)
        if progress is not None:
            progress.update(1)
        return answer

    import openai

    try:
        with ThreadPoolExecutor(max_workers=max(1, settings.concurrency)) as pool:
            asked = list(pool.map(ask, jobs))
    except openai.APIStatusError as error:  # after the client's retries; nothing of this run is stored
        raise UserError(f"--endpoint {settings.endpoint}: answered {error.status_code} to a verdict request "
                        f"({_message(error)}); no verdict of this run was stored") from None
    except (openai.APIConnectionError, openai.APITimeoutError) as error:
        raise UserError(f"--endpoint {settings.endpoint}: {_cause(error)} after {settings.retries} retries; no "
                        "verdict of this run was stored") from None
    tally.asked = [(item.id, "ab" if a_first else "ba") for item, a_first in jobs]
    tally.requests = sum(attempts for _, attempts in asked)
    answers = [verdict for verdict, _ in asked]
    for index, item in enumerate(todo):
        a_first, b_first = answers[2 * index], answers[2 * index + 1]
        if a_first is None or b_first is None:
            tally.malformed += 1
            store.judge_failure(item.id, settings.reviewer, "no JSON verdict in both orders, even when asked again")
            continue
        _store_verdict(store, settings, item, a_first, b_first, tally)
    return tally


def _ask(client, settings: JudgeSettings, item: Item, a_first: bool) -> tuple[dict | None, int]:
    """The verdict of one order, mapped back to A and B ({"choice", "scores", "reason"}; None when malformed
    twice), and how many times it was asked."""
    messages = verdict_messages(settings, item, a_first)
    for attempt in (1, 2):
        reply = client.chat.completions.create(model=settings.model, messages=messages, temperature=0,
                                               max_tokens=MAX_VERDICT_TOKENS)
        message = reply.choices[0].message if reply.choices else None
        parsed = parse_verdict(getattr(message, "content", None) or "", settings.criteria)
        if parsed is not None:
            return _as_a_and_b(parsed, a_first), attempt
    return None, 2


def verdict_messages(settings: JudgeSettings, item: Item, a_first: bool) -> list[dict]:
    first, second = (item.answer_a, item.answer_b) if a_first else (item.answer_b, item.answer_a)
    parts = [f"Request:\n{item.prompt}"]
    if settings.reference and item.reference:
        parts.append(f"Reference answer (what a good answer says):\n{item.reference}")
    parts += [f"Answer 1:\n{first}", f"Answer 2:\n{second}", VERDICT + (" " + SCORES if settings.criteria else "")]
    return [{"role": "system", "content": settings.rubric}, {"role": "user", "content": "\n\n".join(parts)}]


def parse_verdict(text: str, criteria: bool) -> dict | None:
    """The first JSON object in the reply with a known winner (and, with criteria, 1-5 scores); None otherwise."""
    verdict = _first_object(text)
    winner = str(verdict.get("winner", "")).strip().lower() if verdict else ""
    if winner not in WINNERS:
        return None
    scores = {}
    if criteria:
        given = verdict.get("scores")
        try:
            scores = {side: {c: int(given[side][c]) for c in CRITERIA} for side in ("1", "2")}
        except (TypeError, KeyError, ValueError):
            return None
        if any(not 1 <= value <= 5 for side in scores.values() for value in side.values()):
            return None
    return {"winner": WINNERS[winner], "scores": scores, "reason": str(verdict.get("reason", ""))[:500]}


def _first_object(text: str) -> dict | None:
    """The first JSON object in the text, whatever comes before or after it (models add prose, or go on)."""
    decoder = json.JSONDecoder()
    for start in (i for i, char in enumerate(text) if char == "{"):
        try:
            value, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    return None


def _as_a_and_b(parsed: dict, a_first: bool) -> dict:
    order = ("a", "b") if a_first else ("b", "a")
    winner = parsed["winner"]
    choice = order[winner] if isinstance(winner, int) else winner
    scores = {order[int(position) - 1]: values for position, values in parsed["scores"].items()}
    return {"choice": choice, "scores": scores, "reason": parsed["reason"], "picked_first": winner == 0,
            "decisive": isinstance(winner, int)}


def _store_verdict(store: Store, settings: JudgeSettings, item: Item, a_first: dict, b_first: dict,
                   tally: Tally) -> None:
    """Both orders agree: their verdict. They differ: a tie, since the answer won only where it was placed."""
    agreed = a_first["choice"] == b_first["choice"]
    tally.judged += 1
    tally.orders_agreed += agreed
    for verdict in (a_first, b_first):
        tally.decisive_orders += verdict["decisive"]
        tally.first_position += verdict["picked_first"] and verdict["decisive"]
    scores = {}
    for side in ("a", "b"):
        for criterion in CRITERIA:
            values = [v["scores"][side][criterion] for v in (a_first, b_first) if v["scores"]]
            scores[f"{side}_{criterion}"] = round(sum(values) / len(values)) if values else None
    comment = json.dumps({"orders": {"a_first": a_first["choice"], "b_first": b_first["choice"]}, "agreed": agreed,
                          "reasons": [a_first["reason"], b_first["reason"]]}, ensure_ascii=False)
    store.rate(item.id, settings.reviewer, a_first["choice"] if agreed else "tie", True, scores, comment)


def read_rubric(path: str | None) -> str:
    if path is None:
        return RUBRIC
    file = Path(path)
    if not file.is_file():
        raise UserError(f"--rubric {path}: no such file")
    text = file.read_text(encoding="utf-8").strip()
    if not text:
        raise UserError(f"--rubric {path}: the file is empty")
    return text
