"""Markdown tables of an evaluation: metrics (with deltas against a baseline) and telling examples."""

from __future__ import annotations

from honed.metrics import HEADLINE, HEADLINE_SCORES, score


def metrics_table(result) -> str:
    target, baseline = result.target, result.baseline
    if baseline is None:
        lines = ["| metric | " + target.label + " |", "|---|---:|"]
        lines += [f"| {name} | {value:.2f} |" for name, value in target.metrics.items()]
        return "\n".join(lines)
    intervals = getattr(result, "intervals", {})
    lines = [f"| metric | {baseline.label} | {target.label} | delta | 95% interval |", "|---|---:|---:|---:|---|"]
    for name in dict.fromkeys([*target.metrics, *baseline.metrics]):
        before, value = baseline.metrics.get(name), target.metrics.get(name)
        delta = _delta(value - before, name, intervals.get(name)) if None not in (value, before) else "—"
        spread = f"[{intervals[name].low:+.2f}, {intervals[name].high:+.2f}]" if name in intervals else "—"
        lines.append(f"| {name} | {_cell(before)} | {_cell(value)} | {delta} | {spread} |")
    return "\n".join(lines) + "\n\n" + significance_note(result)


def significance_note(result) -> str:
    """How to read the marks, under the table: what was resampled, and that several metrics are tested at once."""
    intervals, prompts = getattr(result, "intervals", {}), len(result.prompts)
    if not intervals:
        return (f"No intervals (eval.bootstrap: 0, or fewer than 2 prompts): the deltas on {prompts} prompts are not "
                "tested, and none is marked.")
    same = [name for name, interval in intervals.items() if direction(name) is not None
            and interval.verdict(direction(name)) == "same"]
    headline = ", ".join(score(name).label for name in HEADLINE_SCORES if name in intervals)
    tested = sum(direction(name) is not None for name in intervals)
    text = (f"95% intervals: paired bootstrap over the {prompts} test prompts ({result.resamples:,} resamples, both "
            f"models on the same resamples). ✓ better, ✗ worse, only where the interval excludes zero. {tested} "
            f"metrics are tested at once (the headline ones: {headline}): at 95% each, about one mark in twenty can "
            "come by chance.")
    if same:
        text += f" No significant difference on {prompts} prompts: {', '.join(same)}."
    return text


def direction(name: str) -> bool | None:
    from honed.evaluation.structured import is_structured_key

    try:
        return score(name).higher_is_better
    except StopIteration:
        return True if is_structured_key(name) else None


def _cell(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def perplexity_notes(result) -> list[str]:
    """Rows left out of perplexity, said beside the table: a perplexity over fewer rows than the others is not
    comparable without knowing it."""
    rows = len(result.prompts)
    return [f"Perplexity leaves out {scored.perplexity_excluded} of {rows} rows for {scored.label}: no reference "
            "token is left after truncation at data.max_length."
            for scored in (result.baseline, result.target) if scored is not None and scored.perplexity_excluded]


def _delta(delta: float, name: str, interval) -> str:
    """Marked only where the paired interval excludes zero; untested deltas carry no mark."""
    verdict = interval.verdict(direction(name)) if interval is not None else "same"
    return f"{delta:+.2f}" + {"better": " ✓", "worse": " ✗", "same": ""}[verdict]


def telling_examples(result, count: int = 3) -> list[int]:
    """Indices of the examples where target and baseline differ most on the headline score (or the first ones)."""
    if result.baseline is None:
        return list(range(min(count, len(result.prompts))))

    def gap(index: int) -> float:
        return abs(
            result.target.per_example[index].get(HEADLINE, 0) - result.baseline.per_example[index].get(HEADLINE, 0)
        )

    return sorted(range(len(result.prompts)), key=gap, reverse=True)[:count]


def examples_section(result, indices: list[int]) -> str:
    blocks = []
    for index in indices:
        block = [f"### Example {index}", f"**Prompt:** {_one_line(result.prompts[index])}", "",
                 f"**Reference:** {_one_line(result.references[index])}", ""]
        if result.baseline:
            block += [_answer(result.baseline, index), ""]
        block += [_answer(result.target, index), ""]
        blocks.append("\n".join(block))
    return "\n".join(blocks)


def _answer(scored, index: int) -> str:
    value = scored.per_example[index].get(HEADLINE)
    shown = f" ({score(HEADLINE).label} {value:.1f})" if value is not None else ""
    return f"**{scored.label}**{shown}: {_one_line(scored.predictions[index]) or '(empty)'}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def markdown_report(result, examples: int = 3) -> str:
    title = f"# Evaluation of {result.target.label}" + (f" against {result.baseline.label}" if result.baseline else "")
    heading = "Examples where they differ most" if result.baseline else "Examples"
    return "\n\n".join(
        [title, f"{len(result.prompts)} test rows.", metrics_table(result), *perplexity_notes(result), f"## {heading}",
         examples_section(result, telling_examples(result, examples)), *drift_section(result)]
    ) + "\n"


def drift_section(result) -> list[str]:
    """The drift line, what it measured, and the general prompts whose base answers became least likely."""
    from honed.evaluation.drift import drift_line

    drift = getattr(result, "drift", None)
    if drift is None:
        return []
    text = [f"## Outside the domain ({drift.source})", drift_line(drift),
            "Log-likelihood: how much less likely the base model's own greedy answers to general prompts became under "
            "the tuned model, per token (0: unchanged). Openings: the tuned model's own answers to a sample of them."]
    if drift.note:
        text.append(drift.note + ".")
    for example in drift.examples:
        text.append("\n".join([f"### {example['id']} ({example['loglik']:+.2f} nats/token)",
                               f"**Prompt:** {_one_line(example['prompt'])}", "",
                               f"**base:** {_one_line(example['base']) or '(empty)'}", "",
                               f"**tuned:** {_one_line(example['tuned']) or '(empty)'}"]))
    return text


REWARD_ROWS = (  # (key, label, unit) of a preference evaluation's table, in order
    ("reward_accuracy", "reward accuracy", "%"), ("reward_margin", "mean reward margin", ""),
    ("chosen_reward", "mean reward, chosen", ""), ("rejected_reward", "mean reward, rejected", ""),
    ("logp_accuracy", "log-prob accuracy (tuned model alone)", "%"),
    ("reference_logp_accuracy", "log-prob accuracy (reference alone)", "%"),
)


def reward_table(result) -> str:
    """A preference evaluation: implicit rewards beta * (log pi - log pi_ref) against the reference."""
    lines = [f"| metric | {result.label} (reference {result.reference_label}, beta {result.beta:g}) |", "|---|---:|"]
    lines += [f"| {label} | {result.metrics[key]:.{1 if unit else 3}f}{unit} |" for key, label, unit in REWARD_ROWS]
    notes = [f"{result.metrics['pairs']} pairs"]
    for key, what in (("truncated_pairs", "left out: an answer truncated away at data.max_length"),
                      ("ties_dropped", "dropped: chosen equals rejected")):
        if result.metrics.get(key):
            notes.append(f"{result.metrics[key]} {what}")
    return "\n".join(lines) + "\n\n" + "; ".join(notes) + "."


def reward_report(result) -> str:
    return f"# Preference evaluation of {result.label}\n\n{reward_table(result)}\n"
