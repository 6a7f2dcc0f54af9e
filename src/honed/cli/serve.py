"""honed serve: an OpenAI-compatible server for one or more runs (adapters sharing a base share its memory)."""

from __future__ import annotations

HELP = "serve runs over an OpenAI-compatible HTTP API (several adapters on one base model)"


def register(subparsers) -> None:
    parser = subparsers.add_parser("serve", help=HELP, description=HELP)
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="honed run directories")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback only)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--api-key", help="require 'Authorization: Bearer KEY' (needed beyond loopback)")
    parser.add_argument("--max-batch", type=int, default=16,
                        help="answers decoded together per model (requests beyond it wait in the queue)")
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto",
                        help="weights' dtype while answering: auto is bf16 where this CPU runs it fast, else fp32; "
                             "fp32 answers exactly as transformers does")
    parser.add_argument("--max-queue", type=int, default=8, help="requests allowed to wait; more get HTTP 429")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per request, waiting included")
    parser.add_argument("--max-body-mb", type=float, default=2.0, help="largest request body; more gets HTTP 413")
    parser.add_argument("--max-tokens", type=int, default=256, help="max_tokens when a request gives none")
    parser.set_defaults(handler=run)


def run(args) -> int:
    import logging

    from honed.errors import UserError
    from honed.serve import Limits, load_pool, make_server

    log = logging.getLogger("honed")
    if args.max_batch < 1 or args.max_queue < 0:
        raise UserError("--max-batch must be 1 or more and --max-queue 0 or more")
    limits = Limits(int(args.max_body_mb * 2**20), args.max_queue, args.max_batch, args.timeout, args.max_tokens)
    pool = load_pool(args.run_dirs)
    server = make_server(pool, args.host, args.port, args.api_key, limits, args.precision)
    host, port = server.server_address[:2]
    log.info("serving %s at http://%s:%d/v1 (Ctrl-C to stop)", ", ".join(pool.models), host, port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
