"""report.md, report.html (table and plots embedded, one file to send around) and results.csv/json."""

from __future__ import annotations

import base64
import csv
import html
import json
from pathlib import Path

from honed.compare.budget import Budget
from honed.compare.intervals import best_technique, with_intervals
from honed.compare.plots import draw_plots
from honed.compare.results import ContestantResult
from honed.compare.table import base_val_loss, table
from honed.config import RunConfig
from honed.metrics import HEADLINE, score

PLOT_TITLES = {
    "loss_curves.png": "Training loss of every technique",
    "quality_vs_params.png": "ROUGE-L against trainable parameters",
    "time_memory.png": "Training time and peak memory",
}


def write_reports(out: Path, results: list[ContestantResult], budget: Budget, config: RunConfig,
                  source: str | None) -> list[Path]:
    results = with_intervals(results, config.eval.bootstrap)
    plots = draw_plots(out, results)
    context = _context(results, budget, config, source)
    paths = [out / "report.md", out / "report.html", out / "results.csv", out / "results.json"]
    paths[0].write_text(markdown(results, plots, context), encoding="utf-8")
    paths[1].write_text(html_page(results, plots, context), encoding="utf-8")
    _write_csv(paths[2], results)
    paths[3].write_text(json.dumps([r.model_dump(mode="json") for r in results], indent=2) + "\n", encoding="utf-8")
    return paths + plots


def _context(results, budget: Budget, config: RunConfig, source: str | None) -> dict:
    command = f"honed compare {source or '...'} --budget {budget.name}"
    return {
        "title": f"Technique comparison: {Path(source).stem if source else config.model}",
        "facts": [
            ("model", config.model),
            ("train data", config.data.train),
            ("test data", f"{config.data.test} (first {budget.eval_rows} rows, up to {budget.max_new_tokens} "
                          "new tokens each)"),
            ("budget", f"{budget.name}: {budget.max_steps} optimizer steps of {budget.batch_size} rows for every "
                       f"technique; {budget.purpose}"),
            ("reproduce", command),
        ],
        "notes": _notes(results),
    }


def _notes(results: list[ContestantResult]) -> list[str]:
    notes = []
    if base_val_loss(results) is not None:
        notes.append("The base row's val loss is the starting validation loss of the techniques that begin as the "
                     "base model; prefix and prompt tuning start as the model reading a text (init_text), so theirs "
                     "differ.")
    notes.append("Learning rates are each technique's own default unless the config sets one "
                 "(see `honed methods` for the defaults and why).")
    best = best_technique(results)
    if any(r.vs_base or r.vs_best for r in results):
        notes.append(f"The last two columns: each technique's {score(HEADLINE).label} minus the base model's and "
                     f"minus the best technique's ({best.label if best else 'none'}), with a paired bootstrap 95% "
                     "interval over the same test prompts; ✓ or ✗ only where the interval excludes zero. Two "
                     "techniques that are each not told apart from the best may still differ from each other: the "
                     "intervals do not make groups. results.json holds the intervals of every headline metric.")
    return notes


def markdown(results: list[ContestantResult], plots: list[Path], context: dict) -> str:
    lines = [f"# {context['title']}", ""]
    lines += [f"- **{name}**: {value}" for name, value in context["facts"]]
    lines += ["", *markdown_table(results)]
    lines += ["", "Bold: the best trained technique in that column. " + " ".join(context["notes"]), ""]
    lines += _learning_rates_md(results)
    failed = [r for r in results if not r.ok]
    if failed:
        lines += ["## Failed", ""] + [f"- **{r.label}**: {r.error}" for r in failed] + [""]
    for plot in plots:
        lines += [f"## {PLOT_TITLES.get(plot.name, plot.stem)}", "", f"![{plot.stem}]({plot.name})", ""]
    return "\n".join(lines)


def markdown_table(results: list[ContestantResult]) -> list[str]:
    headers, cells, best = table(results)
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for row, marks in zip(cells, best, strict=True):
        lines.append("| " + " | ".join(f"**{c}**" if m else c for c, m in zip(row, marks, strict=True)) + " |")
    return lines


def _learning_rates_md(results: list[ContestantResult]) -> list[str]:
    rates = [f"{r.label} {r.learning_rate:g}" for r in results if r.ok and r.learning_rate]
    return [f"Learning rates: {', '.join(rates)}.", ""] if rates else []


def html_page(results: list[ContestantResult], plots: list[Path], context: dict) -> str:
    esc = html.escape
    headers, cells, best = table(results)
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for result, row, marks in zip(results, cells, best, strict=True):
        css = "" if result.ok else ' class="failed"'
        tds = "".join(f"<td{' class=best' if m else ''}>{esc(c)}</td>" for c, m in zip(row, marks, strict=True))
        body.append(f"<tr{css}>{tds}</tr>")
    facts = "".join(f"<li><b>{esc(name)}</b>: {esc(str(value))}</li>" for name, value in context["facts"])
    failed = "".join(f"<li><b>{esc(r.label)}</b>: {esc(r.error or '')}</li>" for r in results if not r.ok)
    images = "".join(
        f"<figure><figcaption>{esc(PLOT_TITLES.get(p.name, p.stem))}</figcaption>"
        f"<img alt=\"{esc(p.stem)}\" src=\"data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}\">"
        "</figure>"
        for p in plots
    )
    notes = esc(" ".join(context["notes"]))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(context['title'])}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2rem;color:#222}} table{{border-collapse:collapse;font-size:.9rem}}
th,td{{border:1px solid #ccc;padding:.3rem .5rem;text-align:right}} th{{background:#f3f3f3}}
td:first-child,th:first-child{{text-align:left}} td.best{{font-weight:bold;background:#e8f5e9}}
tr.failed td{{color:#b00020}} figure{{margin:1.5rem 0}} img{{max-width:100%}} .notes{{color:#555}}
</style></head><body>
<h1>{esc(context['title'])}</h1><ul>{facts}</ul>
<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>
<p class="notes">Bold: the best trained technique in that column. {notes}</p>
{f'<h2>Failed</h2><ul>{failed}</ul>' if failed else ''}
{images}
</body></html>
"""


def _write_csv(path: Path, results: list[ContestantResult]) -> None:
    headers, cells, _ = table(results)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(headers + ["error"])
        for result, row in zip(results, cells, strict=True):
            writer.writerow([c if c != "—" else "" for c in row] + [result.error or ""])
