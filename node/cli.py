"""`onewindow node …`: enrol from a bundle, serve the tablet UI, sync once, seal the keys with a passphrase.
Parses and delegates."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from common.clock import clock_from_setting
from common.logs import configure_from_env, configure_logging
from protocol.errors import OneWindowError

if TYPE_CHECKING:
    from node.trust.identity import NodeIdentity

#: Environment variable the node reads its key passphrase from when the keys are sealed (then removed from the
#: environment, so child processes do not inherit it).
PASSPHRASE_ENV = "ONEWINDOW_NODE_KEY_PASSPHRASE"
KEYS_ENV = "ONEWINDOW_NODE_KEYS"
MIN_PASSPHRASE = 8
BACKUP_KEEP_ENV = "ONEWINDOW_NODE_BACKUP_KEEP"
BACKUP_KEEP_DEFAULT = 7
KEYS_HELP = "node key directory (default: <data>-keys beside the data directory; env ONEWINDOW_NODE_KEYS)"


def _business_clock() -> Callable[[], datetime]:
    """The business clock of a one-off command: ``ONEWINDOW_CLOCK`` as `node serve` reads it (`common.clock`)."""
    return clock_from_setting(os.environ.get("ONEWINDOW_CLOCK", ""))


def build_parser(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="node_command", required=True)
    enroll = sub.add_parser("enroll", help="enrol this machine from a county bundle (works offline)")
    enroll.add_argument("bundle", type=Path)
    enroll.add_argument("--data", type=Path, required=True, help="node data directory")
    enroll.add_argument("--keys", type=Path, default=None, help=KEYS_HELP)
    enroll.add_argument(
        "--expect-county", help="county key fingerprint to pin (from the QR code or the admin)"
    )
    enroll.add_argument(
        "--qr", help="the text of the QR code printed beside the bundle (pins county, node and bundle file)"
    )
    serve = sub.add_parser("serve", help="serve the tablet UI and run the sync loop")
    serve.add_argument("--data", type=Path, required=True)
    serve.add_argument("--keys", type=Path, default=None, help=KEYS_HELP)
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
    export.add_argument("--keys", type=Path, default=None, help=KEYS_HELP)
    export.add_argument("--out", type=Path, required=True)
    imp = sub.add_parser("import", help="apply the reply file central wrote for this node")
    imp.add_argument("file", type=Path)
    imp.add_argument("--data", type=Path, required=True)
    imp.add_argument("--keys", type=Path, default=None, help=KEYS_HELP)
    sync = sub.add_parser("sync", help="run one sync round now and print what it did")
    sync.add_argument("--data", type=Path, required=True)
    sync.add_argument("--keys", type=Path, default=None, help=KEYS_HELP)
    sync.add_argument("--central-url", default=None)
    rotate = sub.add_parser(
        "rotate-keys",
        help="new node signing and encryption keys, announced to central (by the old key) at the next sync",
    )
    rotate.add_argument("--data", type=Path, required=True)
    rotate.add_argument("--keys", type=Path, default=None, help=KEYS_HELP)
    rotate.add_argument(
        "--passphrase-env",
        default=None,
        help="sealed keys: read the passphrase from this environment variable",
    )
    backup = sub.add_parser(
        "backup",
        help="back up the node while it runs (consistent, encrypted, resumable) into DIR, keeping N generations",
    )
    backup.add_argument("--data", type=Path, required=True)
    backup.add_argument("--keys", type=Path, default=None, help=KEYS_HELP)
    backup.add_argument("--to", type=Path, required=True, help="backup directory (USB stick, NAS share)")
    backup.add_argument(
        "--keep",
        type=int,
        default=None,
        help=f"generations to keep (default {BACKUP_KEEP_DEFAULT}; env {BACKUP_KEEP_ENV})",
    )
    check = sub.add_parser("backup-verify", help="check a backup against its manifest (needs no key)")
    check.add_argument("dir", type=Path)
    check.add_argument("--generation", default=None, help="default: the newest")
    restore = sub.add_parser(
        "restore", help="restore a backup onto a fresh data directory (import the keys first: import-keys)"
    )
    restore.add_argument("source", type=Path, help="backup directory")
    restore.add_argument(
        "--data", "--data-dir", dest="data", type=Path, required=True, help="new data directory"
    )
    restore.add_argument("--keys", type=Path, default=None, help=KEYS_HELP)
    restore.add_argument("--generation", default=None, help="default: the newest")
    export_keys = sub.add_parser(
        "export-keys",
        help="seal the node's key directory with a passphrase into one file for the county's safe",
    )
    export_keys.add_argument("--data", type=Path, required=True)
    export_keys.add_argument("--keys", type=Path, default=None, help=KEYS_HELP)
    export_keys.add_argument("--to", type=Path, required=True, help="the file to write")
    export_keys.add_argument("--passphrase-env", default=None, help="read the passphrase from this variable")
    import_keys = sub.add_parser("import-keys", help="write the key files from an export-keys file")
    import_keys.add_argument("source", type=Path)
    import_keys.add_argument("--data", type=Path, required=True, help="the (new) data directory they are for")
    import_keys.add_argument("--keys", type=Path, default=None, help=KEYS_HELP)
    import_keys.add_argument("--passphrase-env", default=None, help="read the passphrase from this variable")
    for name, what in (("seal-keys", "seal"), ("unseal-keys", "unseal")):
        keys = sub.add_parser(
            name,
            help="seal the node's key files with a passphrase (asked twice)"
            if what == "seal"
            else "write the sealed key files back unsealed (to change the passphrase: unseal, then seal)",
        )
        keys.add_argument("--data", type=Path, required=True)
        keys.add_argument("--keys", type=Path, default=None, help=KEYS_HELP)
        keys.add_argument(
            "--passphrase-env",
            default=None,
            help="read the passphrase from this environment variable instead",
        )


def run(args: argparse.Namespace) -> int:
    try:
        configure_from_env(os.environ)
    except ValueError as exc:  # a misspelt log level or format: say which, start nothing
        print(f"日志设置有误：{exc}", file=sys.stderr)
        return 2
    if args.node_command == "enroll":
        from node.enrolment import EnrolmentError, enroll

        try:
            if not (args.expect_county or args.qr):
                print(
                    "注册失败：请用 --qr（扫描注册包旁的二维码）或 --expect-county（县管理员告知的县密钥指纹）"
                    "核对注册包确是本县签发",
                    file=sys.stderr,
                )
                return 2
            bundle = asyncio.run(
                enroll(
                    args.bundle,
                    args.data,
                    key_dir=_key_dir(args),
                    expected_county=args.expect_county,
                    qr=args.qr,
                )
            )
        except (OneWindowError, EnrolmentError) as exc:
            print(f"注册失败：{getattr(exc, 'reason', exc)}", file=sys.stderr)
            return 2
        print(f"已注册节点 {bundle.node_name}（{bundle.node_id}），县：{bundle.county_name}")
        print(f"县密钥指纹：{bundle.county_sign_key.fingerprint}")
        print(f"现在即可离线受理；首次连上 {bundle.central_urls[0]} 时完成注册。")
        from node.trust.identity import keys_dir

        print(
            f"密钥目录：{keys_dir(args.data, _key_dir(args))}（与数据目录分开存放、分开备份；"
            "可用 onewindow node seal-keys 加口令封存）"
        )
        return 0
    if args.node_command == "serve":
        import uvicorn

        from node.app import create_app
        from node.settings import NodeSettings

        settings = NodeSettings.from_env(
            os.environ,
            data_dir=args.data,
            key_dir=args.keys,
            host=args.host,
            port=args.port,
            central_url=args.central_url,
            sync_interval_s=args.sync_interval,
            simulate_devices=args.simulate_devices,
            scan_folder=args.scan_folder,
        )
        configure_logging(settings.log_level, settings.log_format)
        identity = _unlock(args.data, settings.key_dir)
        if identity is None:
            return 2
        uvicorn.run(
            create_app(settings, identity=identity),
            host=settings.host,
            port=settings.port,
            log_config=None,  # our one-line handler (common.logs), not uvicorn's
            access_log=False,  # the request middleware logs each request, with its id and duration
        )
        return 0
    if args.node_command in ("seal-keys", "unseal-keys"):
        return _seal(args)
    if args.node_command in ("backup-verify", "restore", "export-keys", "import-keys"):
        from node.ops.cli import run_ops

        return run_ops(args)
    identity = _unlock(args.data, _key_dir(args))
    if identity is None:
        return 2
    if args.node_command == "sync":
        return asyncio.run(_sync(args.data, args.central_url, identity))
    if args.node_command == "export":
        return asyncio.run(_export(args.data, args.out, identity))
    if args.node_command == "import":
        return asyncio.run(_import(args.data, args.file, identity))
    if args.node_command == "rotate-keys":
        return asyncio.run(_rotate(args, identity))
    if args.node_command == "backup":
        from node.ops.cli import run_backup

        return run_backup(args, identity)
    return 2


def _key_dir(args: argparse.Namespace) -> Path | None:
    if args.keys is not None:
        return Path(args.keys)
    return Path(os.environ[KEYS_ENV]) if os.environ.get(KEYS_ENV) else None


def _unlock(data: Path, key_dir: Path | None) -> NodeIdentity | None:
    """The node's identity, its keys unsealed with the passphrase from the environment or the terminal when
    they are sealed; None (after saying why, in Chinese) when they cannot be opened: the node does not start."""
    from node.trust.identity import load_identity
    from node.trust.keyseal import KeySealError, PassphraseRequired

    passphrase = os.environ.pop(PASSPHRASE_ENV, None) or None
    try:
        try:
            return load_identity(data, key_dir, passphrase=passphrase)
        except PassphraseRequired:
            if passphrase is not None or not sys.stdin.isatty():
                raise
            return load_identity(data, key_dir, passphrase=getpass.getpass("节点密钥口令："))
    except KeySealError as exc:
        print(f"无法打开节点密钥：{exc}", file=sys.stderr)
    except FileNotFoundError as exc:
        print(f"本机尚未注册为节点，或密钥目录不对：{exc}", file=sys.stderr)
    except PermissionError as exc:
        print(f"密钥文件权限不对：{exc}", file=sys.stderr)
    return None


def _passphrase(args: argparse.Namespace, *, twice: bool) -> str:
    if args.passphrase_env:
        value = os.environ.get(args.passphrase_env, "")
        if not value:
            raise ValueError(f"环境变量 {args.passphrase_env} 没有设置口令")
        return value
    first = getpass.getpass("节点密钥口令：")
    if twice and getpass.getpass("再输入一次：") != first:
        raise ValueError("两次输入的口令不一致，未作任何更改")
    return first


def _seal(args: argparse.Namespace) -> int:
    from node.trust.identity import key_files
    from node.trust.keyseal import KeySealError, seal_key_files, unseal_key_files

    try:
        files = key_files(args.data, _key_dir(args))
        if args.node_command == "seal-keys":
            passphrase = _passphrase(args, twice=True)
            if len(passphrase) < MIN_PASSPHRASE:
                raise ValueError(f"口令太短：至少 {MIN_PASSPHRASE} 个字符")
            done = seal_key_files(files, passphrase)
        else:
            done = unseal_key_files(files, _passphrase(args, twice=False))
    except (KeySealError, ValueError, OSError) as exc:
        print(f"{'封存' if args.node_command == 'seal-keys' else '解封'}失败：{exc}", file=sys.stderr)
        return 2
    if args.node_command == "seal-keys":
        print(f"已用口令封存 {len(done)} 个密钥文件（{files[0].parent}）。")
        print(
            f"此后启动节点须提供口令：环境变量 {PASSPHRASE_ENV}，或在终端输入。口令丢失则本机数据无法读取，请妥善保管。"
        )
    else:
        print(f"已解封 {len(done)} 个密钥文件（{files[0].parent}），它们现在不需要口令即可读取。")
    return 0


async def _rotate(args: argparse.Namespace, identity: NodeIdentity) -> int:
    """`onewindow node rotate-keys`: the same rotation as the sync page's button, for a node that is stopped."""
    from node.boot import open_runtime
    from node.sync.keys import NodeKeyRotationError, rotate_node_keys
    from node.trust.keyseal import KeySealError, is_sealed
    from protocol.keys import read_secret_file

    passphrase = None
    if identity.key_dir is not None and is_sealed(read_secret_file(identity.key_dir / "node-sign.key")):
        passphrase = _passphrase(args, twice=False)
    runtime = await open_runtime(args.data, identity=identity, now=_business_clock())
    try:
        seq = await rotate_node_keys(runtime, passphrase=passphrase)
    except (NodeKeyRotationError, KeySealError) as exc:
        print(f"密钥轮换失败：{exc}", file=sys.stderr)
        return 2
    finally:
        await runtime.close()
    print(f"已生成新的节点密钥，指纹 {runtime.identity.sign_key.fingerprint}（旧密钥保留）。")
    print(f"轮换声明为第 {seq} 条上传条目，由旧密钥签名；下次同步时县中心确认。")
    return 0


async def _export(data: Path, out: Path, identity: NodeIdentity) -> int:
    from node.boot import open_runtime
    from node.sync.courier import export_courier_file

    runtime = await open_runtime(data, identity=identity, now=_business_clock())
    try:
        exported = await export_courier_file(runtime, out)
    finally:
        await runtime.close()
    print(exported.summary())
    print("请交信使带到县中心导入：onewindow central import …；带回的回执文件用 onewindow node import 导入。")
    return 0


async def _import(data: Path, reply: Path, identity: NodeIdentity) -> int:
    from node.boot import open_runtime
    from node.sync.courier import import_courier_reply

    runtime = await open_runtime(data, identity=identity, now=_business_clock())
    try:
        report = await import_courier_reply(runtime, reply.read_bytes())
    except OneWindowError as exc:
        print(f"导入失败，文件整份拒收，未作任何更改：{exc.reason}", file=sys.stderr)
        return 1
    finally:
        await runtime.close()
    print(
        f"已导入回执：确认条目 {report.receipted} 条，附件 {report.attachments} 个，"
        f"下发条目 {report.pulled} 条（新事件 {report.applied_events} 个），结果文书 {report.documents} 份"
    )
    return 0


async def _sync(data: Path, central_url: str | None, identity: NodeIdentity) -> int:
    from node.boot import open_runtime
    from node.sync.client import CentralUnavailable, central_client, sync_once

    runtime = await open_runtime(data, identity=identity, now=_business_clock())
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
