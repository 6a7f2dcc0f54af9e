"""Drift outside the domain: what tuning cost on general prompts the run was not tuned for.

lm-evaluation-harness, where the anchors send users, needs hub data sets and long runs. This needs neither: the base
model answers a bundled set of general instructions greedily once (cached per base model in $HONED_HOME), and the tuned
model is asked how likely those same answers still are (teacher-forced, no generation), per token against the base's
own likelihood: the base against itself gives exactly zero. On a sample, the tuned model also answers, to show whether
it took on the training data's style (how many of its general answers open as the training answers most often do).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from honed.data import split_prompt_reference
from honed.errors import UserError

GENERAL_SET = "general-v1.jsonl"  # versioned: a changed prompt is a new file, so cached answers never go stale
ANSWER_TOKENS = 64  # of each general answer: enough for its opening and its first sentences
SAMPLE = 40  # prompts scored by default (--drift full: all), spread over the set's categories
STYLE_SAMPLE = 16  # of those, prompts the tuned model answers itself
OPENING_WORDS = 5
COMMON_OPENING = 0.2  # share of training answers that must open alike for an opening to count as the data's style
# Flag thresholds, measured on the default model (README, "Drift outside the domain"): the demo's support LoRA
# against a LoRA trained 2 steps at a learning rate of 1e-6.
FLAG_LOGLIK = -0.10  # nats/token
FLAG_OPENING = 0.25  # rise in the share of general answers that open like the training data
EXAMPLES = 3


@dataclass
class GeneralPrompt:
    id: str
    prompt: str


@dataclass
class Drift:
    source: str  # "bundled general-v1.jsonl" or the team's file
    source_sha256: str
    prompts: int  # scored for log-likelihood
    loglik: float  # tuned minus base, nats per token of the base's own answers
    low: float  # 95% paired bootstrap interval over the prompts
    high: float
    answered: int  # prompts the tuned model answered itself (the style sample)
    rouge_vs_base: float | None  # mean ROUGE-L of those answers against the base's
    opening: str | None  # the training answers' most common first words, if they share one
    opening_share: float | None  # of the tuned model's general answers that open so
    base_opening_share: float | None
    flagged: bool
    note: str = ""  # why a part could not be measured
    examples: list[dict] = field(default_factory=list)  # the answered prompts that moved most

    def as_dict(self) -> dict:
        return asdict(self)


def load_general(path: str | None = None) -> tuple[list[GeneralPrompt], str, str]:
    """The prompts, a label for the report and the file's sha256: the bundled set, or the team's own (JSONL rows
    with a 'prompt', or a .txt file with one prompt per line)."""
    if path is None:
        text = resources.files("honed.evaluation").joinpath("data", GENERAL_SET).read_text(encoding="utf-8")
        label = f"bundled {GENERAL_SET}"
    else:
        file = Path(path)
        if not file.is_file():
            raise UserError(f"--general {path}: no such file")
        text, label = file.read_text(encoding="utf-8"), str(path)
    prompts = _parse_general(text, label, as_text=path is not None and not str(path).endswith((".jsonl", ".json")))
    if not prompts:
        raise UserError(f"{label}: no prompts in it")
    return prompts, label, hashlib.sha256(text.encode()).hexdigest()


def _parse_general(text: str, label: str, as_text: bool) -> list[GeneralPrompt]:
    prompts = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if as_text:
            prompts.append(GeneralPrompt(f"line-{number}", line.strip()))
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise UserError(f"{label}, line {number}: not JSON ({error.msg})") from None
        prompt = row.get("prompt") if isinstance(row, dict) else None
        if not isinstance(prompt, str) or not prompt.strip():
            raise UserError(f"{label}, line {number}: field 'prompt' must be a non-empty string")
        prompts.append(GeneralPrompt(str(row.get("id", f"line-{number}")), prompt.strip()))
    return prompts


def spread_sample(count: int, size: int) -> list[int]:
    """Every k-th prompt: a set written category by category is sampled across all its categories."""
    if size >= count:
        return list(range(count))
    return [int(i * count / size) for i in range(size)]


def measure_drift(target, base, settings, full: bool = False, general: str | None = None,
                  progress: bool = True) -> Drift:
    """`target` and `base` are evaluation Subjects on the same tokenizer; `settings` an EvalConfig (its generation
    precision and batch size)."""
    from honed.generation import Engine

    prompts, label, sha = load_general(general)
    chosen = prompts if full else [prompts[i] for i in spread_sample(len(prompts), SAMPLE)]
    batch, precision = settings.generation.batch_size, settings.generation.precision
    base_engine = Engine(base.model, base.tokenizer, max_batch=batch, precision=precision)
    cache = BaseCache(base, base_engine)
    answers = cache.answers([p.prompt for p in chosen], batch, progress)
    target_engine = Engine(target.model, target.tokenizer, max_batch=batch, precision=precision)
    sequences = [_answer_sequence(target.tokenizer, p.prompt, a) for p, a in zip(chosen, answers, strict=True)]
    base_losses = cache.losses([p.prompt for p in chosen], sequences)
    target_losses = _losses(target, target_engine, sequences)
    loglik, low, high = _loglik_interval(base_losses, target_losses, settings.bootstrap)
    answered = spread_sample(len(chosen), len(chosen) if full else STYLE_SAMPLE)
    own = _answers(target_engine, target.tokenizer, [chosen[i].prompt for i in answered], batch,
                   f"general {target.label}", progress)
    style = _style(target, own, [answers[i] for i in answered])
    opening_share, base_share = style["opening_share"], style["base_opening_share"]
    flagged = loglik <= FLAG_LOGLIK or (opening_share is not None and opening_share - base_share >= FLAG_OPENING)
    moved = _per_prompt(base_losses, target_losses)
    examples = sorted(range(len(answered)), key=lambda k: moved[answered[k]])[:EXAMPLES]
    return Drift(
        label, sha, len(chosen), loglik, low, high, len(answered), style["rouge"], style["opening"], opening_share,
        base_share, flagged, style["note"],
        [{"id": chosen[answered[k]].id, "prompt": chosen[answered[k]].prompt, "base": answers[answered[k]],
          "tuned": own[k], "loglik": moved[answered[k]]} for k in examples],
    )


def _answer_sequence(tokenizer, prompt: str, answer: str) -> tuple[list[int], list[int]]:
    """The base's answer as the tuned model would have to produce it, scored on its tokens only (as in training)."""
    from honed.data.encoding import encode_row

    row = {"messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]}
    encoded = encode_row(tokenizer, row, "completion", 1_000_000)
    return encoded.input_ids, encoded.labels


def _losses(subject, engine, sequences):
    from honed.evaluation.perplexity import sequence_losses

    return sequence_losses(subject.model, sequences, engine)


def _per_prompt(base_losses, target_losses) -> list[float]:
    """Each prompt's change in log-likelihood per token (0 where its answer had no token to score)."""
    return [(b[0] - t[0]) / b[1] if b and t else 0.0 for b, t in zip(base_losses, target_losses, strict=True)]


def _loglik_interval(base_losses, target_losses, samples: int) -> tuple[float, float, float]:
    """Tuned minus base log-likelihood per token over all answers' tokens, and its paired 95% interval."""
    from honed.evaluation.significance import LEVEL, resample_indices

    kept = [(b[0], t[0], b[1]) for b, t in zip(base_losses, target_losses, strict=True) if b and t]
    if not kept:
        raise UserError("drift: none of the base model's general answers has a token to score")
    base_nll, target_nll, tokens = (np.array(column, dtype="float64") for column in zip(*kept, strict=True))
    whole = float((base_nll.sum() - target_nll.sum()) / tokens.sum())
    if samples <= 0 or len(kept) < 2:
        return whole, whole, whole
    rows = resample_indices(len(kept), samples)
    resampled = (base_nll[rows].sum(1) - target_nll[rows].sum(1)) / tokens[rows].sum(1)
    low, high = np.percentile(resampled, [100 * (1 - LEVEL) / 2, 100 * (1 + LEVEL) / 2])
    return whole, float(low), float(high)


def _answers(engine, tokenizer, prompts: list[str], batch: int, desc: str, progress: bool) -> list[str]:
    from tqdm.auto import tqdm

    from honed.config import GenerationConfig
    from honed.data.encoding import generation_prompt_ids

    ids = [generation_prompt_ids(tokenizer, [{"role": "user", "content": p}]) for p in prompts]
    settings = GenerationConfig(max_new_tokens=ANSWER_TOKENS, batch_size=batch)
    with tqdm(total=len(ids), desc=desc, unit="ex", dynamic_ncols=True, disable=not progress) as bar:
        return engine.generate(ids, settings, bar)


class BaseCache:
    """The base model's greedy answers to general prompts and its own log-likelihood of them, computed once per base
    model, chat template and decoder path and kept in $HONED_HOME/drift: a later evaluation of any run on that base
    only reads them. One JSON line per fact, appended under a file lock, so two evaluations at once add, never lose."""

    def __init__(self, base, engine):
        self.base, self.engine = base, engine
        self.file = _cache_file(base, engine)

    def answers(self, prompts: list[str], batch: int, progress: bool = True) -> list[str]:
        with self._locked() as known:
            missing = list(dict.fromkeys(p for p in prompts if "answer" not in known.get(p, {})))
            if missing:
                new = _answers(self.engine, self.base.tokenizer, missing, batch, "general base (once, cached)",
                               progress)
                self._add(known, [{"prompt": p, "answer": a} for p, a in zip(missing, new, strict=True)])
        return [known[p]["answer"] for p in prompts]

    def losses(self, prompts: list[str], sequences: list[tuple[list[int], list[int]]]) -> list:
        """The base's (nll, tokens) of each answer sequence; kept per sequence, so another tokenizer's encoding of
        the same answer is scored afresh."""
        keys = [_sequence_key(sequence) for sequence in sequences]
        with self._locked() as known:
            missing = [i for i, (p, k) in enumerate(zip(prompts, keys, strict=True)) if k not in known.get(p, {})]
            if missing:
                found = _losses(self.base, self.engine, [sequences[i] for i in missing])
                self._add(known, [{"prompt": prompts[i], keys[i]: loss} for i, loss in zip(missing, found,
                                                                                          strict=True)])
        return [tuple(known[p][k]) if known[p][k] else None for p, k in zip(prompts, keys, strict=True)]

    def _locked(self):
        from contextlib import contextmanager

        from filelock import FileLock

        @contextmanager
        def held():
            self.file.parent.mkdir(parents=True, exist_ok=True)
            with FileLock(str(self.file) + ".lock"):
                yield _read_cache(self.file)

        return held()

    def _add(self, known: dict, rows: list[dict]) -> None:
        with self.file.open("a", encoding="utf-8") as out:
            for row in rows:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
                known.setdefault(row["prompt"], {}).update(row)


def _sequence_key(sequence: tuple[list[int], list[int]]) -> str:
    return "loss:" + hashlib.sha256(json.dumps(sequence).encode()).hexdigest()[:16]


def _cache_file(base, engine) -> Path:
    from honed.evaluation.subjects import safe_name
    from honed.models.cache import honed_home

    weights = str(getattr(base.model, "name_or_path", "") or base.model_id)
    template = getattr(base.tokenizer, "chat_template", None) or ""
    key = hashlib.sha256(json.dumps([weights, template, ANSWER_TOKENS, engine.path]).encode()).hexdigest()[:16]
    return honed_home() / "drift" / f"{safe_name(Path(weights).name)}-{key}.jsonl"


def _read_cache(cache: Path) -> dict[str, dict]:
    if not cache.is_file():
        return {}
    known: dict[str, dict] = {}
    for line in cache.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
            known.setdefault(row["prompt"], {}).update(row)
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # a line cut short by a crash: that fact is computed again
    return known


def _style(target, own: list[str], base: list[str]) -> dict:
    from honed.metrics import rouge_one

    rouge = sum(rouge_one(o, b)["rougeL"] for o, b in zip(own, base, strict=True)) / len(own) if own else None
    opening, note = training_opening(target)
    if opening is None:
        return {"rouge": rouge, "opening": None, "opening_share": None, "base_opening_share": None, "note": note}
    return {"rouge": rouge, "opening": opening, "note": note,
            "opening_share": _share_opening(own, opening), "base_opening_share": _share_opening(base, opening)}


def first_words(text: str) -> str:
    from honed.metrics import normalise_answer

    return " ".join(normalise_answer(text).split()[:OPENING_WORDS])


def _share_opening(answers: list[str], opening: str) -> float:
    return sum(first_words(a) == opening for a in answers) / len(answers) if answers else 0.0


def training_opening(subject) -> tuple[str | None, str]:
    """The training answers' most common first words, if at least COMMON_OPENING of them share it; else why not."""
    from honed.data import load_rows

    train = subject.data.train
    if subject.run_dir is None or not train:
        return None, "no training data to take a style from (not a run)"
    try:
        rows = load_rows(train, subject.data).rows
    except UserError:
        return None, f"training data {train} not readable from here: no style share"
    answers = [split_prompt_reference(row)[1] for row in rows if "messages" in row]
    openings = Counter(first_words(a) for a in answers if first_words(a))
    if not openings:
        return None, "the training answers have no words to open with"
    opening, count = openings.most_common(1)[0]
    if count < 2 or count / len(answers) < COMMON_OPENING:
        return None, f"the training answers share no common opening (the most common, {opening!r}, opens " \
                     f"{count} of {len(answers)})"
    return opening, ""


def drift_line(drift: Drift) -> str:
    """One line for the report: how much less likely the base's general answers became, and the style share."""
    text = (f"general answers: log-likelihood {drift.loglik:+.2f} nats/token vs base [{drift.low:+.2f}, "
            f"{drift.high:+.2f}] on {drift.prompts} prompts")
    if drift.opening_share is not None:
        text += (f"; {drift.opening_share:.0%} of {drift.answered} now open like the training data "
                 f"(\"{drift.opening}\"; base {drift.base_opening_share:.0%})")
    if drift.rouge_vs_base is not None:
        text += f"; ROUGE-L against the base's answers {drift.rouge_vs_base:.1f}"
    flag = (f"⚠ drifted outside the domain (flagged at {FLAG_LOGLIK:+.2f} nats/token or a {FLAG_OPENING:.0%} rise "
            "in openings)" if drift.flagged else "no drift flagged")
    return f"{text}. {flag}."
