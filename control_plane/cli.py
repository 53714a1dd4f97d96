"""The ``cap`` command."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cap", description="CAP voice agents platform")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the whole platform in one process")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    return 2


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from control_plane.app import create_app
    from control_plane.settings import Settings

    settings = Settings()
    host = args.host or settings.host
    port = args.port or settings.port
    print(f"CAP listening on http://{host}:{port}  (API docs: http://{host}:{port}/docs)")
    uvicorn.run(create_app(settings), host=host, port=port, loop="uvloop", ws="websockets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
