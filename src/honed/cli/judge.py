"""honed judge: a model behind any OpenAI-compatible server compares two systems' answers, into a review's store."""

from __future__ import annotations

from honed.cli.review import add_sides

HELP = "a model as judge: pairwise verdicts (both orders) from an OpenAI-compatible server, into a review's store"


def register(subparsers) -> None:
    parser = subparsers.add_parser("judge", help=HELP, description=HELP)
    add_sides(parser)
    parser.add_argument("--endpoint", required=True,
                        help="the server's base URL, e.g. http://127.0.0.1:8000/v1 (honed serve, llama.cpp's server, "
                             "vLLM, Ollama, a hosted API)")
    parser.add_argument("--model", required=True, help="the judge model's name on that server")
    parser.add_argument("--api-key-env", metavar="VAR", help="environment variable holding the API key, if any")
    parser.add_argument("--rubric", metavar="FILE", help="a rubric of your own (text) instead of the built-in one")
    parser.add_argument("--reference", action="store_true", help="show the judge each row's reference answer")
    parser.add_argument("--criteria", action="store_true",
                        help="also ask for 1-5 scores on relevance, tone and accuracy, as reviewers give them")
    parser.add_argument("--concurrency", type=int, default=4, help="requests at once (default 4)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request (default 60)")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from pathlib import Path

    from tqdm.auto import tqdm

    from honed.cli.review import default_db, open_review
    from honed.errors import UserError
    from honed.review.judge import JudgeSettings, client_for, judge_store, read_rubric

    if args.concurrency < 1:
        raise UserError("--concurrency must be 1 or more")
    if args.timeout <= 0:
        raise UserError("--timeout must be more than 0 seconds")
    settings = JudgeSettings(args.endpoint, args.model, args.api_key_env, read_rubric(args.rubric), args.reference,
                             args.criteria, args.concurrency, args.timeout)
    client = client_for(settings)  # checked before anything is generated or stored
    db = Path(args.db) if args.db else default_db(args.a, args.b)
    store = open_review(args, db)
    with tqdm(desc=f"judge {args.model}", unit="verdict", dynamic_ncols=True) as bar:
        tally = judge_store(store, settings, client, bar)
    print(tally.line(settings.reviewer))
    print(f"verdicts stored in {db}; honed review {args.a} {args.b} --db {db} --results shows them beside the "
          "reviewers' (and their agreement)")
    return 0
