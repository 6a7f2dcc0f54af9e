"""honed chat: a terminal conversation with a run, streamed token by token."""

from __future__ import annotations

HELP = "chat with a run in the terminal (streaming; /reset, /exit)"


def register(subparsers) -> None:
    parser = subparsers.add_parser("chat", help=HELP, description=HELP)
    parser.add_argument("run_dir", help="a honed run directory (or a base model name/path)")
    parser.add_argument("--system", help="system prompt for the conversation")
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto",
                        help="weights' dtype while answering (auto: bf16 where this CPU runs it fast)")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from honed.serve.chat import chat_loop
    from honed.serve.pool import load_chat_model

    served = load_chat_model(args.run_dir, args.precision)
    try:
        chat_loop(served, args.system, args.max_new_tokens, args.temperature)
    finally:
        # The engine's worker may still be tidying the last answer's row (torch ops) when the reader is done; an
        # interpreter exiting under it aborts ("terminate called without an active exception", exit -6).
        served.engine.close()
    return 0
