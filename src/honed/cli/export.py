"""honed export: a run as a merged full model, or its adapter, for plain transformers/peft."""

from __future__ import annotations

HELP = "export a run: --merge OUT (a full model plain transformers loads) or --adapter-only OUT"


def register(subparsers) -> None:
    parser = subparsers.add_parser("export", help=HELP, description=HELP)
    parser.add_argument("run_dir", help="a honed run directory")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--merge", metavar="OUT", help="merge the adapter into the base model and save it here")
    target.add_argument("--adapter-only", metavar="OUT", help="copy the adapter (peft format) and tokenizer here")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it holds files")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from honed.export import export

    exported = export(args.run_dir, args.merge or args.adapter_only, adapter_only=bool(args.adapter_only),
                      overwrite=args.overwrite)
    print(exported.path)
    print(exported.note)
    return 0
