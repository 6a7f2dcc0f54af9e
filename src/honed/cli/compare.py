"""honed compare: train and evaluate every technique on the same data and budget; table, plots and reports."""

from __future__ import annotations

HELP = "measure every technique on the same data and budget: table, plots, report.md and report.html"


def register(subparsers) -> None:
    from honed.compare import BUDGETS

    parser = subparsers.add_parser("compare", help=HELP, description=HELP)
    parser.add_argument("config", nargs="?", help="YAML config (data, model, and optionally a `compare:` section)")
    parser.add_argument("--methods", metavar="A,B,...",
                        help="techniques (or compare.techniques labels) to include; default: all")
    parser.add_argument("--budget", choices=list(BUDGETS),
                        help="; ".join(f"{b.name}: {b.max_steps} steps of {b.batch_size} rows, {b.eval_rows} test "
                                       f"prompts" for b in BUDGETS.values()) + " (default: compare.budget, standard)")
    parser.add_argument("--output", metavar="DIR",
                        help="comparison folder (default: the config's output, else runs/compare-<config>-<budget>)")
    parser.add_argument("--force", action="store_true", help="measure again techniques already measured")
    parser.add_argument("--model", dest="model", metavar="VALUE", help="base model")
    parser.add_argument("--data", dest="data.train", metavar="VALUE", help="training data")
    parser.add_argument("--test-data", dest="data.test", metavar="VALUE", help="held-out test data")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override any config key, e.g. --set compare.timeout_minutes=10")
    parser.set_defaults(handler=run)


def run(args) -> int:
    import honed.compare
    from honed.config import load_config

    values = {"model": args.model, "data.train": getattr(args, "data.train"), "data.test": getattr(args, "data.test")}
    config = load_config(args.config, args.overrides, values)
    only = [name.strip() for name in args.methods.split(",") if name.strip()] if args.methods else None
    comparison = honed.compare.compare(config, args.output, args.budget, only, args.force, args.config)
    from honed.compare.report import markdown_table

    print("\n".join(markdown_table(comparison.results)))
    print(f"\nreports: {comparison.reports[0]}  {comparison.reports[1]}")
    failed = [r.label for r in comparison.results if not r.ok]
    return 1 if failed and len(failed) == len(comparison.results) else 0
