"""Learning-rate sweep behind each technique's default: every technique at the rates its registry entry reports
(`lr_measured`: the default among rates about 3x apart), on each use case, with `honed compare` (same data, budget
and evaluation for every row). A technique without figures yet gets its default, a third of it and three times it.

    python scripts/lr_sweep.py                              # all three use cases, standard budget
    python scripts/lr_sweep.py --usecases content --methods prefix --budget quick

Each use case goes to runs/sweep-<usecase>; a row already measured there with the same settings is not measured
again, so a comparison folder of the same use case and budget can be copied in to reuse its default-rate rows.
Prints, per technique and use case, ROUGE-L and validation loss at each rate.

    python scripts/lr_sweep.py --tables     # runs/compare-<usecase>-defaults: the sweep's rows at today's defaults

--tables writes honed compare's report (table, plots) from the rows measured at each technique's current default,
without training: once a default moves to a rate the sweep measured, its row is that measurement.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from honed.compare import compare
from honed.compare.budget import get_budget
from honed.compare.report import write_reports
from honed.compare.results import read_result
from honed.config import load_config
from honed.methods import get_method, method_names

USECASES = Path(__file__).resolve().parent.parent / "examples" / "usecases"
FACTORS = (1 / 3, 1.0, 3.0)


def rates_for(method: str) -> list[float]:
    """The grid behind today's default, so a re-run measures what `honed methods` reports."""
    technique = get_method(method)
    if technique.lr_measured:
        return sorted(next(iter(technique.lr_measured.values())))
    default = technique.default_learning_rate
    return [float(f"{default * factor:.2g}") if factor != 1.0 else default for factor in FACTORS]


def label(method: str, rate: float, default: float) -> str:
    return method if rate == default else f"{method}-lr{rate:g}"


def entries(methods: list[str]) -> list[dict]:
    rows = []
    for method in methods:
        default = get_method(method).default_learning_rate
        for rate in rates_for(method):
            entry = {"method": method, "label": label(method, rate, default)}
            if rate != default:
                entry["learning_rate"] = rate
            rows.append(entry)
    return rows


def sweep(usecase: str, methods: list[str], budget: str) -> dict[str, dict]:
    config = load_config(USECASES / f"{usecase}.yaml", values={"compare.techniques": entries(methods)})
    result = compare(config, output=Path("runs") / f"sweep-{usecase}", budget=budget)
    return {row.label: {**row.metrics, "val_loss": row.final_val_loss} for row in result.results if row.ok}


def tables(usecase: str, budget: str) -> Path:
    """honed compare's report of the sweep's rows that ran at each technique's current default rate."""
    folder, out = Path("runs") / f"sweep-{usecase}", Path("runs") / f"compare-{usecase}-defaults"
    measured = [r for r in (read_result(child) for child in sorted(folder.iterdir()) if child.is_dir()) if r and r.ok]
    rows = [next(r for r in measured if r.method is None)]
    for method in method_names():
        default = get_method(method).default_learning_rate
        at_default = [r for r in measured if r.method == method and r.learning_rate == default]
        if at_default:
            rows.append(at_default[0].model_copy(update={"label": method}))
    out.mkdir(parents=True, exist_ok=True)
    config = load_config(USECASES / f"{usecase}.yaml")
    write_reports(out, rows, get_budget(budget), config, f"examples/usecases/{usecase}.yaml")
    return out / "report.md"


def report(measured: dict[str, dict[str, dict]], methods: list[str]) -> None:
    for method in methods:
        default = get_method(method).default_learning_rate
        print(f"\n{method} (default {default:g})")
        for usecase, rows in measured.items():
            cells = [f"{rate:g}: ROUGE-L {row['rougeL']:.1f} val {row['val_loss']:.3f}"
                     for rate in rates_for(method) if (row := rows.get(label(method, rate, default)))]
            print(f"  {usecase:<8} base ROUGE-L {rows['base']['rougeL']:.1f} | " + " | ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--usecases", default="content,medical,support")
    parser.add_argument("--methods", default=",".join(method_names()))
    parser.add_argument("--budget", default="standard")
    parser.add_argument("--tables", action="store_true", help="write the reports at today's defaults; train nothing")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.tables:
        for usecase in args.usecases.split(","):
            print(tables(usecase, args.budget))
        return
    methods = args.methods.split(",")
    measured = {usecase: sweep(usecase, methods, args.budget) for usecase in args.usecases.split(",")}
    report(measured, methods)


if __name__ == "__main__":
    main()
