"""The `honed` command: one module per verb, no logic here."""

from __future__ import annotations

import argparse
import os
import sys

from honed.cli import chat, compare, config, eval, export, judge, methods, review, serve, studio, train
from honed.console import configure_output
from honed.errors import UserError
from honed.failures import report_failure, under_launcher
from honed.version import __version__

VERBS = [train, eval, compare, review, judge, chat, serve, studio, export, methods, config]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="honed", description="Fine-tune LLMs for precision: every technique one config line away."
    )
    parser.add_argument("--version", action="version", version=f"honed {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and library warnings")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for verb in VERBS:
        verb.register(subparsers)
    for verb_parser in subparsers.choices.values():  # `honed train ... --debug` works as well as `honed --debug train`
        verb_parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 0
    configure_output(args.debug)
    try:
        return args.handler(args)
    except UserError as error:
        if args.debug:
            raise
        if under_launcher():  # one of `--nproc N`'s processes: the launcher prints one line for all of them
            return report_failure(error, error.exit_code)
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt as error:
        if under_launcher():
            return report_failure(error, 130)
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `honed methods | head`: the reader left early. Python's documented recipe: point stdout at devnull so the
        # interpreter's final flush does not raise again, and exit as a shell does on SIGPIPE.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except BaseException as error:  # a bug keeps its traceback, except in one of `--nproc N`'s processes
        if args.debug or not under_launcher() or isinstance(error, (SystemExit, GeneratorExit)):
            raise
        return report_failure(error, 1)


if __name__ == "__main__":
    raise SystemExit(main())
