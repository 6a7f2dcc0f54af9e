"""honed methods: every technique with one line, its default learning rate, and its parameters."""

from __future__ import annotations

HELP = "list the techniques, their parameters and defaults, and the precision auto picks here"


def register(subparsers) -> None:
    parser = subparsers.add_parser("methods", help=HELP, description=HELP)
    parser.set_defaults(handler=run)


def run(args) -> int:
    from honed.methods import describe_methods
    from honed.precision import describe_precision

    print(describe_methods())
    print()
    print(describe_precision())
    return 0
