"""honed studio: the local web app over a workspace of runs."""

from __future__ import annotations

HELP = "open the studio: a local web app to see data, launch runs and watch them train"


def register(subparsers) -> None:
    parser = subparsers.add_parser("studio", help=HELP, description=HELP)
    parser.add_argument("--workspace", default=".", help="folder whose run directories and data the studio shows "
                        "(default: the current folder)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this "
                        "machine only; any other needs --token)")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--token", default=None, help="a secret every visitor must present (the printed link "
                        "carries it)")
    parser.add_argument("--upload-limit-mb", type=float, default=100, help="largest upload accepted (default 100)")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from pathlib import Path

    from honed.errors import UserError
    from honed.studio.guard import check_bind

    workspace = Path(args.workspace)
    if not workspace.is_dir():
        raise UserError(f"--workspace {args.workspace}: no such folder")
    if args.upload_limit_mb <= 0:
        raise UserError(f"--upload-limit-mb {args.upload_limit_mb}: give a size above 0")
    check_bind(args.host, args.token)
    import uvicorn

    from honed.studio import create_app

    app = create_app(workspace, token=args.token, upload_limit_mb=args.upload_limit_mb)
    link = f"http://{args.host}:{args.port}/" + (f"?token={args.token}" if args.token else "")
    print(f"honed studio on {workspace.resolve()}: open {link}", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
