"""`onewindow node …`: enrol from a bundle, serve the tablet UI, sync once. Parses and delegates."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from protocol.errors import OneWindowError


def build_parser(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="node_command", required=True)
    enroll = sub.add_parser("enroll", help="enrol this machine from a county bundle (works offline)")
    enroll.add_argument("bundle", type=Path)
    enroll.add_argument("--data", type=Path, required=True, help="node data directory")
    enroll.add_argument(
        "--expect-county", help="county key fingerprint to pin (from the QR code or the admin)"
    )
    serve = sub.add_parser("serve", help="serve the tablet UI and run the sync loop")
    serve.add_argument("--data", type=Path, required=True)
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--central-url", default=None, help="override the central URL from the bundle")
    serve.add_argument("--sync-interval", type=float, default=None)
    serve.add_argument(
        "--simulate-devices",
        action="store_true",
        default=None,
        help="drive emulated devices (ID card reader, evaluator, printer, document camera) instead of real USB",
    )
    serve.add_argument(
        "--scan-folder", type=Path, default=None, help="hot folder the scanner / document camera saves into"
    )
    export = sub.add_parser(
        "export", help="write every unsent entry and attachment to one file for the courier"
    )
    export.add_argument("--data", type=Path, required=True)
    export.add_argument("--out", type=Path, required=True)
    imp = sub.add_parser("import", help="apply the reply file central wrote for this node")
    imp.add_argument("file", type=Path)
    imp.add_argument("--data", type=Path, required=True)
    sync = sub.add_parser("sync", help="run one sync round now and print what it did")
    sync.add_argument("--data", type=Path, required=True)
    sync.add_argument("--central-url", default=None)


def run(args: argparse.Namespace) -> int:
    if args.node_command == "enroll":
        from node.enrolment import EnrolmentError, enroll

        try:
            bundle = asyncio.run(enroll(args.bundle, args.data, expected_county=args.expect_county))
        except (OneWindowError, EnrolmentError) as exc:
            print(f"注册失败：{getattr(exc, 'reason', exc)}", file=sys.stderr)
            return 2
        print(f"已注册节点 {bundle.node_name}（{bundle.node_id}），县：{bundle.county_name}")
        print(f"县密钥指纹：{bundle.county_sign_key.fingerprint}")
        print(f"现在即可离线受理；首次连上 {bundle.central_urls[0]} 时完成注册。")
        return 0
    if args.node_command == "serve":
        import logging

        import uvicorn

        logging.getLogger("httpx").setLevel(logging.WARNING)

        from node.app import create_app
        from node.settings import NodeSettings

        settings = NodeSettings.from_env(
            os.environ,
            data_dir=args.data,
            host=args.host,
            port=args.port,
            central_url=args.central_url,
            sync_interval_s=args.sync_interval,
            simulate_devices=args.simulate_devices,
            scan_folder=args.scan_folder,
        )
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="warning")
        return 0
    if args.node_command == "sync":
        return asyncio.run(_sync(args.data, args.central_url))
    if args.node_command == "export":
        return asyncio.run(_export(args.data, args.out))
    if args.node_command == "import":
        return asyncio.run(_import(args.data, args.file))
    return 2


async def _export(data: Path, out: Path) -> int:
    from node.runtime import open_runtime
    from node.sync.courier import export_courier_file

    runtime = await open_runtime(data)
    try:
        exported = await export_courier_file(runtime, out)
    finally:
        await runtime.close()
    print(exported.summary())
    print("请交信使带到县中心导入：onewindow central import …；带回的回执文件用 onewindow node import 导入。")
    return 0


async def _import(data: Path, reply: Path) -> int:
    from node.runtime import open_runtime
    from node.sync.courier import import_courier_reply

    runtime = await open_runtime(data)
    try:
        report = await import_courier_reply(runtime, reply.read_bytes())
    except OneWindowError as exc:
        print(f"导入失败，文件整份拒收，未作任何更改：{exc.reason}", file=sys.stderr)
        return 1
    finally:
        await runtime.close()
    print(
        f"已导入回执：确认条目 {report.receipted} 条，附件 {report.attachments} 个，"
        f"下发条目 {report.pulled} 条（新事件 {report.applied_events} 个）"
    )
    return 0


async def _sync(data: Path, central_url: str | None) -> int:
    from node.runtime import open_runtime
    from node.sync.client import CentralUnavailable, central_client, sync_once

    runtime = await open_runtime(data)
    try:
        async with central_client(runtime, central_url) as client:
            report = await sync_once(client, runtime)
    except CentralUnavailable as exc:
        print(f"县中心连不上：{exc}（数据已安全保存在本机，稍后再试）", file=sys.stderr)
        return 3
    finally:
        await runtime.close()
    print(report.to_dict())
    return 0
