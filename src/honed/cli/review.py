"""honed review: blind A/B review of two runs' answers in the browser; ratings kept in SQLite."""

from __future__ import annotations

HELP = "blind pairwise human review of two runs (or a run and 'base') in the browser"


def register(subparsers) -> None:
    parser = subparsers.add_parser("review", help=HELP, description=HELP)
    add_sides(parser)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--token", help="secret every request must carry (required beyond loopback)")
    parser.add_argument("--results", action="store_true", help="print the results and exit (no server)")
    parser.add_argument("--export", choices=["csv", "json", "preferences", "kto"],
                        help="print every rating (csv), the results (json), or training data as JSONL: DPO pairs "
                             "{prompt, chosen, rejected} (preferences) or KTO rows {prompt, completion, label} (kto), "
                             "from the items whose reviewers' majority agrees")
    parser.add_argument("--with-judge", action="store_true",
                        help="count a model judge's verdicts (honed judge) in --results and --export like a reviewer's")
    parser.set_defaults(handler=run)


def add_sides(parser) -> None:
    """The two sides of a review and its store: honed review and honed judge take them alike."""
    parser.add_argument("a", help="run directory, 'base', or predictions.jsonl")
    parser.add_argument("b", help="run directory, 'base', or predictions.jsonl")
    parser.add_argument("--data", help="test data (prompts with reference answers) for missing predictions")
    parser.add_argument("--db", help="SQLite file (default: review-<A>-vs-<B>.sqlite next to the first run)")


def open_review(args, db):
    """The review of A against B in `db`: made with their answers (generated where missing), or the same one."""
    from honed.review import Store, load_answers
    from honed.review.sides import load_conversations

    label_a, label_b, items = load_answers(args.a, args.b, args.data)
    store = Store(db)
    store.setup(label_a, label_b, items, load_conversations(args.a, args.b))
    return store


def run(args) -> int:
    import json
    import logging
    from pathlib import Path
    from urllib.parse import quote

    from honed.errors import UserError
    from honed.review import Store, csv_export, make_review_server, results, text_report
    from honed.review.sides import side_labels

    log = logging.getLogger("honed")
    db = Path(args.db) if args.db else default_db(args.a, args.b)
    if (args.results or args.export) and db.is_file():
        store = Store(db)
        stored = (store.meta().get("label_a"), store.meta().get("label_b"))
        if stored != side_labels(args.a, args.b):
            raise UserError(f"{db}: holds a review of different answers ({stored[0]} vs {stored[1]}); choose "
                            "another --db")
    else:
        store = open_review(args, db)
    if args.export in ("preferences", "kto"):
        return _export_training_data(store, args.export, args.with_judge)
    if args.export == "csv":
        print(csv_export(store), end="")
        return 0
    if args.export == "json":
        print(json.dumps(results(store, args.with_judge), indent=2))
        return 0
    if args.results:
        print(text_report(results(store, args.with_judge)))
        return 0
    server = make_review_server(store, args.host, args.port, args.token)
    host, port = server.server_address[:2]
    suffix = f"?token={quote(args.token)}" if args.token else ""
    print(f"review at http://{host}:{port}/{suffix}  (ratings saved in {db}; Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        log.info("stopped; every rating so far is saved in %s", db)
    finally:
        server.server_close()
    return 0


def _export_training_data(store, kind: str, with_judge: bool) -> int:
    import json
    import sys

    from honed.review.preferences import export_rows

    rows, tally = export_rows(store, kind, with_judge)
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))
    print(tally.line(kind), file=sys.stderr)
    return 0


def default_db(a: str, b: str):
    from pathlib import Path

    anchor = next((Path(side) for side in (a, b) if side != "base" and Path(side).exists()), Path("."))
    folder = anchor.parent if anchor.is_dir() or anchor.is_file() else Path(".")
    name = f"review-{Path(a).name}-vs-{Path(b).name}.sqlite".replace("/", "-")
    return folder / name
