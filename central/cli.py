"""`onewindow central …`: serve central. Parses and delegates."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from common.logs import configure_from_env, configure_logging


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
    serve.add_argument("--tls-cert", type=Path, default=None, help="serve HTTPS: certificate chain (PEM)")
    serve.add_argument("--tls-key", type=Path, default=None, help="serve HTTPS: its private key (PEM)")
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
    backup = sub.add_parser(
        "backup",
        help="back up central's SQLite database and blob store while it runs (age-encrypted to the county)",
    )
    backup.add_argument("--data", type=Path, required=True, help="central data directory")
    backup.add_argument("--county-dir", type=Path, required=True)
    backup.add_argument("--to", type=Path, required=True, help="backup directory")
    backup.add_argument("--keep", type=int, default=7, help="generations to keep (default 7)")
    backup.add_argument(
        "--blobs-only",
        action="store_true",
        help="PostgreSQL: the database goes by pg_dump; back up the blobs",
    )
    verify = sub.add_parser("backup-verify", help="check a central backup against its manifest")
    verify.add_argument("dir", type=Path)
    verify.add_argument("--generation", default=None)
    restore = sub.add_parser("restore", help="restore a central backup onto a fresh data directory")
    restore.add_argument("source", type=Path)
    restore.add_argument("--data", type=Path, required=True, help="new central data directory")
    restore.add_argument("--county-dir", type=Path, required=True)
    restore.add_argument("--generation", default=None)


def run(args: argparse.Namespace) -> int:
    try:
        configure_from_env(os.environ)
    except ValueError as exc:  # a misspelt log level or format: say which, start nothing
        print(f"日志设置有误：{exc}", file=sys.stderr)
        return 2
    if args.central_command == "serve":
        import uvicorn

        from central.app import create_app
        from central.settings import CentralSettings

        settings = CentralSettings.from_env(
            os.environ,
            data_dir=args.data,
            county_dir=args.county_dir,
            host=args.host,
            port=args.port,
            database_url=args.database_url,
            tls_certfile=args.tls_cert,
            tls_keyfile=args.tls_key,
        )
        if (settings.tls_certfile is None) != (settings.tls_keyfile is None):
            print("HTTPS 需要同时给出证书和私钥（--tls-cert 与 --tls-key）", file=sys.stderr)
            return 2
        configure_logging(settings.log_level, settings.log_format)
        uvicorn.run(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            log_config=None,  # our one-line handler (common.logs), not uvicorn's
            access_log=False,  # the request middleware logs each request, with its id and duration
            ssl_certfile=str(settings.tls_certfile) if settings.tls_certfile else None,
            ssl_keyfile=str(settings.tls_keyfile) if settings.tls_keyfile else None,
        )
        return 0
    if args.central_command == "publish-calendar":
        import asyncio

        from central.backoffice.jobs import recount_after_publish
        from central.catalogue.calendar import publish_command

        return asyncio.run(publish_command(args, recount=recount_after_publish))
    if args.central_command in ("backup", "backup-verify", "restore"):
        return _backup(args)
    if args.central_command == "import":
        import asyncio

        from central.clock import use_clock
        from central.sync.courier import import_command

        use_clock(os.environ.get("ONEWINDOW_CLOCK", ""))  # the same day as the running central's
        return asyncio.run(import_command(args))
    return 2


def _backup(args: argparse.Namespace) -> int:
    from central.backup import backup_central, restore_central, verify_central_backup
    from common.backup import BackupError

    try:
        if args.central_command == "backup":
            report = backup_central(
                args.data, args.county_dir, args.to, keep=args.keep, blobs_only=args.blobs_only
            )
            print(report.summary())
        elif args.central_command == "backup-verify":
            manifest, problems = verify_central_backup(args.dir, args.generation)
            if problems:
                print(
                    f"第 {manifest['generation']} 代备份校验不通过：",
                    *problems,
                    sep="\n  - ",
                    file=sys.stderr,
                )
                return 1
            print(f"第 {manifest['generation']} 代县中心备份完好（附件 {len(manifest['blobs'])} 个）。")
        else:
            manifest = restore_central(args.source, args.data, args.county_dir, generation=args.generation)
            print(
                f"已把第 {manifest['generation']} 代县中心备份恢复到 {args.data}；各节点下次同步时自动补齐。"
            )
    except (BackupError, OSError) as exc:
        print(f"失败：{exc}", file=sys.stderr)
        return 1
    return 0
