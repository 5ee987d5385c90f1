"""`onewindow central …`: serve central. Parses and delegates."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def build_parser(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="central_command", required=True)
    serve = sub.add_parser("serve", help="serve the sync API and the back office")
    serve.add_argument("--data", type=Path, required=True, help="central data directory")
    serve.add_argument(
        "--county-dir", type=Path, required=True, help="county directory from `provision init`"
    )
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--database-url", default=None, help="default: SQLite in --data; or postgresql://…")
    publish = sub.add_parser(
        "publish-calendar", help="publish a working-day calendar (holidays, make-up days) to every node"
    )
    publish.add_argument("--data", type=Path, required=True, help="central data directory")
    publish.add_argument("--county-dir", type=Path, required=True)
    publish.add_argument("--database-url", default=None)
    publish.add_argument("--file", type=Path, required=True, help="calendar JSON (see provisioning/data)")
    courier = sub.add_parser(
        "import", help="ingest a courier's sync file from a node and write the reply file"
    )
    courier.add_argument("file", type=Path, help="the file `onewindow node export` wrote")
    courier.add_argument("--out", type=Path, required=True, help="where to write the reply for the node")
    courier.add_argument("--data", type=Path, required=True, help="central data directory")
    courier.add_argument("--county-dir", type=Path, required=True)
    courier.add_argument("--database-url", default=None)


def run(args: argparse.Namespace) -> int:
    if args.central_command == "serve":
        import logging

        import uvicorn

        logging.getLogger("httpx").setLevel(logging.WARNING)

        from central.app import create_app
        from central.settings import CentralSettings

        settings = CentralSettings.from_env(
            os.environ,
            data_dir=args.data,
            county_dir=args.county_dir,
            host=args.host,
            port=args.port,
            database_url=args.database_url,
        )
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="warning")
        return 0
    if args.central_command == "publish-calendar":
        import asyncio

        from central.backoffice.jobs import recount_after_publish
        from central.catalogue.calendar import publish_command

        return asyncio.run(publish_command(args, recount=recount_after_publish))
    if args.central_command == "import":
        import asyncio

        from central.clock import use_clock
        from central.sync.courier import import_command

        use_clock(os.environ.get("ONEWINDOW_CLOCK", ""))  # the same day as the running central's
        return asyncio.run(import_command(args))
    return 2
