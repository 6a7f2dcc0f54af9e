"""honed methods: every technique with one line, its default learning rate, and its parameters."""

from __future__ import annotations

HELP = "list the techniques, their parameters and defaults"


def register(subparsers) -> None:
    parser = subparsers.add_parser("methods", help=HELP, description=HELP)
    parser.set_defaults(handler=run)


def run(args) -> int:
    from honed.methods import describe_methods

    print(describe_methods())
    return 0
