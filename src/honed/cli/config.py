"""honed config: validate a config and print it resolved, with every default filled in."""

from __future__ import annotations

from honed.cli.common import add_run_flags, run_flag_values

HELP = "validate a config and print it resolved as honed train runs it (nothing is loaded or trained)"


def register(subparsers) -> None:
    parser = subparsers.add_parser("config", help=HELP, description=HELP)
    add_run_flags(parser)
    parser.set_defaults(handler=run)


def run(args) -> int:
    from honed.config import load_config, to_yaml

    print(to_yaml(load_config(args.config, args.overrides, run_flag_values(args)).for_training()), end="")
    return 0
