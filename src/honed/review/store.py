"""Everything a review keeps, in one SQLite file (WAL mode): each rating is committed the moment it is given, so a
server restart, a closed browser or two reviewers at once lose nothing."""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from honed.review.stats import CHOICES

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY, prompt TEXT NOT NULL, reference TEXT, answer_a TEXT NOT NULL, answer_b TEXT NOT NULL,
    messages TEXT
);
CREATE TABLE IF NOT EXISTS ratings (
    item_id INTEGER NOT NULL REFERENCES items(id), reviewer TEXT NOT NULL,
    choice TEXT NOT NULL CHECK (choice IN ('a', 'b', 'tie', 'both_bad')),
    a_left INTEGER NOT NULL,
    a_relevance INTEGER, a_tone INTEGER, a_accuracy INTEGER,
    b_relevance INTEGER, b_tone INTEGER, b_accuracy INTEGER,
    comment TEXT, created REAL NOT NULL,
    PRIMARY KEY (item_id, reviewer)
);
CREATE TABLE IF NOT EXISTS judge_failures (
    item_id INTEGER NOT NULL REFERENCES items(id), judge TEXT NOT NULL, reason TEXT NOT NULL, created REAL NOT NULL
);
"""
CRITERIA = ("relevance", "tone", "accuracy")
JUDGE_PREFIX = "judge:"  # a model's verdicts (honed judge) are stored as the reviewer judge:<model>


def is_judge(reviewer: str) -> bool:
    return reviewer.startswith(JUDGE_PREFIX)


@dataclass
class Item:
    id: int
    prompt: str
    reference: str | None
    answer_a: str
    answer_b: str
    messages: str | None = None  # the prompt as chat messages (JSON), where the predictions recorded them

    def prompt_messages(self) -> list[dict] | None:
        import json

        return json.loads(self.messages) if self.messages else None


class Store:
    def __init__(self, path: Path):
        self.path = Path(path)
        with closing(self._connect()) as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)
            if "messages" not in {row["name"] for row in db.execute("PRAGMA table_info(items)")}:
                db.execute("ALTER TABLE items ADD COLUMN messages TEXT")  # a review made before prompts were kept
            db.commit()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("PRAGMA busy_timeout=30000")
        db.row_factory = sqlite3.Row
        return db

    # setup

    def setup(self, label_a: str, label_b: str, items: list[tuple[str, str | None, str, str]],
              conversations: list[list[dict]] | None = None) -> None:
        """Fill a new review; an existing one must be the same comparison (its ratings are kept, never mixed).
        `conversations`: each prompt as chat messages, kept for preference exports (not part of the comparison's
        identity, so a review made before they were kept goes on, and gets them)."""
        import json

        fingerprint = hashlib.sha256(repr((label_a, label_b, items)).encode()).hexdigest()
        messages = [json.dumps(c, ensure_ascii=False) for c in conversations] if conversations else [None] * len(items)
        with closing(self._connect()) as db:
            known = dict(db.execute("SELECT key, value FROM meta").fetchall())
            if known:
                if known.get("fingerprint") != fingerprint:
                    from honed.errors import UserError

                    raise UserError(f"{self.path}: holds a review of different answers ({known['label_a']} vs "
                                    f"{known['label_b']}); choose another --db to keep both")
                db.executemany("UPDATE items SET messages = ? WHERE id = ? AND messages IS NULL",
                               [(m, i) for i, m in enumerate(messages, start=1) if m is not None])
                return
            db.execute("BEGIN")
            db.executemany("INSERT INTO items (prompt, reference, answer_a, answer_b, messages) VALUES (?, ?, ?, ?, ?)",
                           [(*item, m) for item, m in zip(items, messages, strict=True)])
            secret = hashlib.sha256(f"{time.time_ns()}{self.path}".encode() + _random_bytes()).hexdigest()
            db.executemany("INSERT INTO meta VALUES (?, ?)", [("label_a", label_a), ("label_b", label_b),
                                                              ("fingerprint", fingerprint), ("secret", secret)])
            db.execute("COMMIT")

    # reading

    def meta(self) -> dict:
        with closing(self._connect()) as db:
            return dict(db.execute("SELECT key, value FROM meta").fetchall())

    def item_count(self) -> int:
        with closing(self._connect()) as db:
            return db.execute("SELECT COUNT(*) FROM items").fetchone()[0]

    def item(self, item_id: int) -> Item | None:
        with closing(self._connect()) as db:
            row = db.execute("SELECT * FROM items WHERE id = ?", (item_id,)).fetchone()
        return Item(**dict(row)) if row else None

    def next_item(self, reviewer: str) -> Item | None:
        """The first item this reviewer has not rated: closing the browser resumes exactly here."""
        with closing(self._connect()) as db:
            row = db.execute(
                "SELECT * FROM items WHERE id NOT IN (SELECT item_id FROM ratings WHERE reviewer = ?) ORDER BY id "
                "LIMIT 1", (reviewer,)).fetchone()
        return Item(**dict(row)) if row else None

    def rated_count(self, reviewer: str) -> int:
        with closing(self._connect()) as db:
            return db.execute("SELECT COUNT(*) FROM ratings WHERE reviewer = ?", (reviewer,)).fetchone()[0]

    def ratings(self, with_judge: bool = True) -> list[dict]:
        with closing(self._connect()) as db:
            rows = [dict(row) for row in db.execute("SELECT * FROM ratings ORDER BY item_id, reviewer")]
        return rows if with_judge else [row for row in rows if not is_judge(row["reviewer"])]

    def judge_failures(self) -> dict[str, int]:
        """Items each judge left without a verdict (its answers malformed), by judge."""
        with closing(self._connect()) as db:
            rows = db.execute("SELECT judge, COUNT(DISTINCT item_id) FROM judge_failures GROUP BY judge").fetchall()
        return {judge: count for judge, count in rows}

    # writing

    def rate(self, item_id: int, reviewer: str, choice: str, a_left: bool, scores: dict[str, int | None],
             comment: str | None) -> None:
        """One committed row; rating an item again replaces the reviewer's earlier rating of it."""
        if choice not in CHOICES:
            raise ValueError(f"choice must be one of {CHOICES}")
        columns = [f"{side}_{c}" for side in ("a", "b") for c in CRITERIA]
        values = [scores.get(column) for column in columns]
        with closing(self._connect()) as db:
            db.execute(
                f"INSERT OR REPLACE INTO ratings (item_id, reviewer, choice, a_left, {', '.join(columns)}, comment, "
                f"created) VALUES (?, ?, ?, ?, {', '.join('?' * len(columns))}, ?, ?)",
                (item_id, reviewer, choice, int(a_left), *values, comment, time.time()),
            )

    def judge_failure(self, item_id: int, judge: str, reason: str) -> None:
        with closing(self._connect()) as db:
            db.execute("INSERT INTO judge_failures VALUES (?, ?, ?, ?)", (item_id, judge, reason, time.time()))

    def a_on_left(self, item_id: int, reviewer: str) -> bool:
        """Which answer is shown on the left, fixed per item and reviewer (reloads show the same order) but
        unpredictable without the review's secret, so no reviewer learns where A sits."""
        digest = hmac.new(self.meta()["secret"].encode(), f"{item_id}:{reviewer}".encode(), hashlib.sha256).digest()
        return digest[0] % 2 == 0

    def form_token(self, reviewer: str) -> str:
        """A per-reviewer token carried by the rating form: a post from another site cannot know it."""
        return hmac.new(self.meta()["secret"].encode(), f"form:{reviewer}".encode(), hashlib.sha256).hexdigest()[:32]


def _random_bytes() -> bytes:
    import os

    return os.urandom(16)
