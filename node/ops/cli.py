"""`onewindow node backup | backup-verify | restore | export-keys | import-keys`: parse, delegate, say what
happened in Chinese. Called from `node.cli`."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from common.backup import BackupError
from node.trust.keyseal import KeySealError

if TYPE_CHECKING:
    from node.trust.identity import NodeIdentity

#: Nice value the backup runs at: the windows' requests come first on a two-core node.
BACKUP_NICE = 10


def _keep(args: argparse.Namespace) -> int:
    from node.cli import BACKUP_KEEP_DEFAULT, BACKUP_KEEP_ENV

    if args.keep is not None:
        return int(args.keep)
    return int(os.environ.get(BACKUP_KEEP_ENV) or BACKUP_KEEP_DEFAULT)


def run_backup(args: argparse.Namespace, identity: NodeIdentity) -> int:
    """`onewindow node backup --to DIR`: one generation, while the node runs."""
    from node.ops.backup import backup_node

    try:
        os.nice(BACKUP_NICE)
    except OSError:
        pass
    try:
        report = backup_node(args.data, args.to, identity, keep=_keep(args))
    except (BackupError, OSError) as exc:
        print(f"备份失败：{exc}（再运行一次即可从中断处继续）", file=sys.stderr)
        return 1
    print(report.summary())
    return 0


def run_ops(args: argparse.Namespace) -> int:
    from node.cli import PASSPHRASE_ENV, _key_dir, _passphrase
    from node.ops.backup import export_keys, import_keys, restore_node, verify_node_backup

    command = args.node_command
    try:
        if command == "backup-verify":
            manifest, problems = verify_node_backup(args.dir, args.generation)
            what = f"节点 {manifest.get('node_name')} 第 {manifest['generation']} 代备份"
            if problems:
                print(f"{what} 校验不通过：", file=sys.stderr)
                for problem in problems:
                    print(f"  - {problem}", file=sys.stderr)
                return 1
            print(f"{what} 完好：清单签名正确，状态文件和 {len(manifest['blobs'])} 个附件文件与清单一致。")
            return 0
        if command == "restore":
            passphrase = os.environ.pop(PASSPHRASE_ENV, None) or None
            manifest = restore_node(
                args.source,
                args.data,
                key_dir=_key_dir(args),
                passphrase=passphrase,
                generation=args.generation,
            )
            print(
                f"已把节点 {manifest['node_name']} 第 {manifest['generation']} 代备份恢复到 {args.data}"
                f"（附件 {len(manifest['blobs'])} 个）。"
            )
            print("启动节点后首次同步会与县中心对账：备份之后的业务由县中心补回，县中心缺的再上传。")
            return 0
        if command == "export-keys":
            passphrase = _passphrase(args, twice=True)
            from node.cli import MIN_PASSPHRASE

            if len(passphrase) < MIN_PASSPHRASE:
                raise ValueError(f"口令太短：至少 {MIN_PASSPHRASE} 个字符")
            names = export_keys(args.data, _key_dir(args), args.to, passphrase)
            print(f"已把 {len(names)} 个密钥文件用口令封存到 {args.to}。请交县里保管（与备份盘分开存放）。")
            return 0
        if command == "import-keys":
            from node.trust.identity import default_key_dir

            keys = _key_dir(args) or default_key_dir(args.data)
            header = import_keys(args.source, keys, _passphrase(args, twice=False))
            print(f"已导入节点 {header['node_name']} 的密钥到 {keys}；现在可以 onewindow node restore。")
            return 0
    except (BackupError, KeySealError, ValueError, OSError) as exc:
        print(f"失败：{exc}", file=sys.stderr)
        return 1
    return 2
