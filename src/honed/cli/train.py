"""honed train: fine-tune a model with one technique."""

from __future__ import annotations

from honed.cli.common import add_run_flags, run_flag_values

HELP = "fine-tune a model (YAML config and/or flags) and write a run directory"


def register(subparsers) -> None:
    parser = subparsers.add_parser("train", help=HELP, description=HELP)
    add_run_flags(parser)
    parser.add_argument("--nproc", type=int, default=None, metavar="N",
                        help="train in N processes on this machine (DDP; torchrun underneath)")
    parser.set_defaults(handler=run)


def run(args) -> int:
    import sys

    import honed
    from honed.config import load_config
    from honed.failures import under_launcher
    from honed.launch import launch, without_nproc

    config = load_config(args.config, args.overrides, run_flag_values(args))
    if args.nproc and args.nproc > 1 and not under_launcher():
        return launch(args.nproc, without_nproc(sys.argv[1:]), debug=args.debug)  # torch is imported only below it
    from honed.training.runner import is_main_process

    run_dir = honed.train(config)
    if is_main_process():
        print(run_dir)
    return 0
