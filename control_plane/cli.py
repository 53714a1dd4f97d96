"""The ``cap`` command."""

from __future__ import annotations

import argparse
import gc
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cap", description="CAP voice agents platform")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the whole platform in one process")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--agent-file", default=None, help="TOML/JSON agent for voice sessions")
    sub.add_parser("migrate", help="bring the database schema up to date")
    call = sub.add_parser("call", help="phone a number and connect it to an agent (Twilio)")
    call.add_argument("number", help="E.164 number to call, e.g. +15551234567")
    call.add_argument("--agent", default="default", help="agent that talks once answered")
    call.add_argument("--from", dest="from_", default=None, help="caller ID (one of our numbers)")
    call.add_argument(
        "--api-key",
        default=None,
        help="organisation API key with calls.write: call through the server's API "
        "(default: $CAP_API_KEY; none: place it directly through Twilio)",
    )
    from control_plane.knowledge.cli import add_parser as add_kb_parser

    add_kb_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "migrate":
        from control_plane.bootstrap import migrate_command

        return migrate_command()
    if args.command == "kb":
        from control_plane.knowledge.cli import kb_command

        return kb_command(args)
    if args.command == "call":
        from control_plane.settings import Settings
        from telephony.cli import call_command

        settings = Settings()
        return call_command(
            args.number,
            args.agent,
            args.from_,
            public_url=settings.public_url,
            secret_key=settings.secret_key,
            api_key=args.api_key,
        )
    return 2


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from control_plane.app import create_app
    from control_plane.settings import Settings
    from pipelines.providers.local import offline_stack_status
    from telephony.wire import MediaWebSocketProtocol

    settings = Settings().model_copy(update={"warm_up_models": True})
    if args.agent_file:
        settings = settings.model_copy(update={"agent_file": args.agent_file})
    host = args.host or settings.host
    port = args.port or settings.port
    # The seed binds the widget key to the origin this server is reached at.
    settings = settings.model_copy(update={"host": host, "port": port})
    from control_plane.bootstrap import prepare_database

    # Creates the database, runs migrations, seeds on first start (prints the login).
    prepare_database(settings)
    base = f"http://{host}:{port}"
    print("CAP voice agents platform")
    for stage, status in offline_stack_status().items():
        print(f"  offline {stage}: {status}")
    print(f"  widget demo:        {base}/widget/demo")
    print(f"  latency dashboard:  {base}/dashboard/latency  (sign in as {settings.admin_email})")
    scrape = "Bearer $CAP_OPS_TOKEN" if settings.ops_token else "an admin login token"
    print(f"  Prometheus metrics: {base}/metrics  (Authorization: {scrape})")
    print(f"  API docs:           {base}/docs")
    print(f"  voice WebSocket:    ws://{host}:{port}/v1/ws  (docs/websocket-protocol.md)")
    print(f"  Twilio voice hook:  {settings.public_url or base}/telephony/twilio/voice")
    app = create_app(settings)
    # Everything loaded so far lives for the whole process: keep it out of the
    # collector's full passes, which otherwise stall live calls for tens of ms.
    gc.collect()
    gc.freeze()
    uvicorn.run(
        app,
        host=host,
        port=port,
        loop="uvloop",
        # uvicorn's websockets-sansio stack, whose Twilio media sockets skip the ASGI queue.
        ws=MediaWebSocketProtocol,
        ws_max_size=1024 * 1024,
        log_level=settings.log_level,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
