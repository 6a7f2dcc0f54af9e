"""The review's HTML. Every value that comes from a model, a dataset or a reviewer goes through html.escape."""

from __future__ import annotations

from html import escape

from honed.review.store import CRITERIA

STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem auto;max-width:1100px;color:#222}
.answers{display:grid;grid-template-columns:1fr 1fr;gap:1rem} .answer{border:1px solid #ccc;padding:.75rem;
border-radius:6px;white-space:pre-wrap} .prompt{background:#f5f5f5;padding:.75rem;border-radius:6px;white-space:pre-wrap}
button{font-size:1rem;margin:.25rem;padding:.4rem .8rem} kbd{border:1px solid #aaa;border-radius:3px;padding:0 .3rem}
progress{width:100%} table{border-collapse:collapse} td,th{border:1px solid #ccc;padding:.3rem .6rem}
"""


def _page(title: str, body: str) -> str:
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>{body}</body></html>")


def start_page(meta: dict, items: int, token_query: str, base: str = "") -> str:
    token_field = _token_field(token_query)
    return _page("honed review", f"""
<h1>Blind review</h1>
<p>{items} prompts, two answers each, shown in a random order. Nobody sees which model wrote which.</p>
<form method=get action="{escape(base)}/review">{token_field}
<label>Your name <input name=reviewer id=reviewer required maxlength=64 autofocus></label>
<button type=submit>Start or resume</button></form>
<p><a href="{escape(base)}/results{escape(token_query)}">Results</a></p>""")


def review_page(item, reviewer: str, done: int, total: int, answers, form_token: str, token_query: str,
                base: str = "") -> str:
    bar = f'<progress id=progress value="{done}" max="{total}"></progress><p id=count>{done} of {total} rated</p>'
    results_link = f'<a href="{escape(base)}/results{escape(token_query)}">Results</a>'
    if item is None:
        return _page("review done", f"<h1>All done, {escape(reviewer)}</h1>{bar}<p>{results_link}</p>")
    left, right = answers
    selects = "".join(
        f"<label>{side} {criterion} <select name={side}_{criterion}><option value=''>-</option>"
        + "".join(f"<option>{n}</option>" for n in range(1, 6)) + "</select></label> "
        for side in ("left", "right") for criterion in CRITERIA
    )
    return _page("review", f"""
<h1>Which answer is better?</h1>{bar}
<div class=prompt id=prompt>{escape(item.prompt)}</div>
<div class=answers><div class=answer id=left><b>Left</b>\n{escape(left)}</div>
<div class=answer id=right><b>Right</b>\n{escape(right)}</div></div>
<form method=post action="{escape(base)}/rate" id=rate>
<input type=hidden name=item_id value="{item.id}"><input type=hidden name=reviewer value="{escape(reviewer)}">
<input type=hidden name=form_token value="{escape(form_token)}">{_token_field(token_query)}
<input type=hidden name=choice id=choice value="">
<p><button type=submit data-choice=left><kbd>1</kbd> Left better</button>
<button type=submit data-choice=right><kbd>2</kbd> Right better</button>
<button type=submit data-choice=tie><kbd>3</kbd> Tie</button>
<button type=submit data-choice=both_bad><kbd>4</kbd> Both bad</button></p>
<details><summary>Ratings 1-5 and a comment (optional)</summary><p>{selects}</p>
<textarea name=comment rows=2 cols=80 maxlength=2000></textarea></details></form>
<p>Keys: 1 left, 2 right, 3 tie, 4 both bad. Reviewing as {escape(reviewer)}. {results_link}</p>
<script>
const form = document.getElementById('rate'), choice = document.getElementById('choice');
for (const b of form.querySelectorAll('button[data-choice]')) b.addEventListener('click', () => choice.value = b.dataset.choice);
const keys = {{'1': 'left', '2': 'right', '3': 'tie', '4': 'both_bad'}};
document.addEventListener('keydown', e => {{
  if (['TEXTAREA', 'SELECT', 'INPUT'].includes(document.activeElement.tagName) || !(e.key in keys)) return;
  choice.value = keys[e.key]; form.submit();
}});
</script>""")


def results_page(summary: dict, token_query: str, base: str = "") -> str:
    labels = summary["labels"]
    rows = ""
    for side in ("a", "b"):
        win = summary["win_rate"][side]
        rows += (f"<tr><td>{escape(labels[side])}</td><td>{win['wins']}</td><td>{100 * win['rate']:.1f}%</td>"
                 f"<td>{100 * win['ci95'][0]:.1f}-{100 * win['ci95'][1]:.1f}%</td></tr>")
    counts = summary["counts"]
    criteria = "".join(
        f"<tr><td>{escape(labels[key.split('_', 1)[0]])}</td><td>{escape(key.split('_', 1)[1])}</td>"
        f"<td>{value['mean']:.2f}</td><td>{value['n']}</td></tr>"
        for key, value in summary["criteria"].items() if value["mean"] is not None
    )
    agreement = summary["agreement"]
    if agreement["method"]:
        kappa = "n/a" if agreement["kappa"] is None else f"{agreement['kappa']:.3f}"
        agree = (f"<p id=agreement>{escape(agreement['method'].title())}'s kappa: {kappa} over "
                 f"{agreement['overlap']} items rated by every reviewer.</p>")
    else:
        agree = "<p id=agreement>Agreement needs at least two reviewers.</p>"
    disagreements = "".join(f"<li>item {d['item_id']}: {escape(str(d['choices']))}</li>"
                            for d in summary["disagreements"])
    return _page("review results", f"""
<h1>Results</h1>
<p>{summary['ratings']} ratings of {summary['items_rated']} of {summary['items']} items by
{escape(', '.join(summary['reviewers'])) or 'nobody yet'}.</p>
<table id=wins><tr><th>better</th><th>wins</th><th>rate</th><th>95% Wilson interval</th></tr>{rows}</table>
<p id=ties>Ties: {counts['tie']}. Both bad: {counts['both_bad']}.</p>
{f'<h2>Ratings</h2><table><tr><th>model</th><th>criterion</th><th>mean</th><th>n</th></tr>{criteria}</table>'
 if criteria else ''}
<h2>Agreement</h2>{agree}
{f'<h2>Most disagreement</h2><ul>{disagreements}</ul>' if disagreements else ''}
<p><a href="{escape(base)}/results.csv{escape(token_query)}">CSV</a>
<a href="{escape(base)}/results.json{escape(token_query)}">JSON</a></p>""")


def _token_field(token_query: str) -> str:
    if not token_query:
        return ""
    from urllib.parse import parse_qs

    token = parse_qs(token_query.lstrip("?&")).get("token", [""])[0]
    return f'<input type=hidden name=token value="{escape(token)}">'
