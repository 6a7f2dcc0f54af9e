"""honed export: a run as a merged full model, or its adapter, for plain transformers/peft; or as GGUF for llama.cpp."""

from __future__ import annotations

HELP = ("export a run: --merge OUT (a full model plain transformers loads), --adapter-only OUT, "
        "--gguf OUT.gguf (llama.cpp / Ollama) or --gguf-adapter OUT.gguf (a llama.cpp LoRA adapter)")


def register(subparsers) -> None:
    from honed.export.gguf import DEFAULT_QUANT, QUANT_TYPES, QUANTS

    parser = subparsers.add_parser("export", help=HELP, description=HELP)
    parser.add_argument("run_dir", help="a honed run directory")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--merge", metavar="OUT", help="merge the adapter into the base model and save it here")
    target.add_argument("--adapter-only", metavar="OUT", help="copy the adapter (peft format) and tokenizer here")
    target.add_argument("--gguf", metavar="OUT.gguf",
                        help="one GGUF file for llama.cpp (LoRA/AdaLoRA/IA3 merged first), and an Ollama Modelfile")
    target.add_argument("--gguf-adapter", metavar="OUT.gguf",
                        help="a LoRA run as a llama.cpp LoRA adapter, to apply on a GGUF of the base model")
    k_quants = ", ".join(name for name, quant in QUANT_TYPES.items() if quant.by_llama_cpp)
    parser.add_argument("--quant", default=None, metavar="TYPE",
                        help=f"GGUF weight type for --gguf: {', '.join(QUANTS)} (default {DEFAULT_QUANT}; the "
                             f"k-quants {k_quants} need llama-cpp-python)")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it holds files")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from honed.errors import UserError
    from honed.export import export, export_gguf, export_gguf_adapter
    from honed.export.gguf import DEFAULT_QUANT

    if args.quant and not args.gguf:
        raise UserError("--quant applies to --gguf only")
    if args.gguf:
        exported = export_gguf(args.run_dir, args.gguf, args.quant or DEFAULT_QUANT, overwrite=args.overwrite)
    elif args.gguf_adapter:
        exported = export_gguf_adapter(args.run_dir, args.gguf_adapter, overwrite=args.overwrite)
    else:
        exported = export(args.run_dir, args.merge or args.adapter_only, adapter_only=bool(args.adapter_only),
                          overwrite=args.overwrite)
    print(exported.path)
    print(exported.note)
    return 0
