"""The `onewindow` command: parses arguments and delegates to provisioning, node and central.

This is the one module allowed to reach into both `node` and `central` (their own `cli` modules, imported
only for the sub-command asked for), so that one entry point serves every role.
"""

from __future__ import annotations

import argparse
import getpass
import importlib
import json
import os
import sys
from pathlib import Path

from provisioning.county import (
    County,
    ProvisioningError,
    StaffSpec,
    add_central_user,
    add_node,
    county_generation,
    init_county,
    open_county,
    revoke_node,
    rotate_county_keys,
)


def _staff(text: str) -> StaffSpec:
    parts = text.split(":")
    if len(parts) not in (3, 4, 5):
        raise argparse.ArgumentTypeError("--staff 的格式是 用户名:角色:姓名[:密码[:即办件事项编码,…]]")
    username, role, name = parts[:3]
    password = parts[3] if len(parts) >= 4 else ""
    authorities = (
        tuple(code.strip() for code in parts[4].split(",") if code.strip()) if len(parts) == 5 else ()
    )
    return StaffSpec(username, name, role, password, authorities)


def _provision_parser(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="provision_command", required=True)
    init = sub.add_parser("init", help="create a county: keys, registry, catalogue, admin account")
    init.add_argument("--dir", type=Path, required=True)
    init.add_argument("--county", required=True, help="county name, e.g. 梅河口市")
    init.add_argument("--division", required=True, help="6-digit division code (GB/T 2260)")
    init.add_argument("--admin-password", help="county admin password (asked for twice when omitted)")
    add = sub.add_parser(
        "add-node", help="register a centre's node and write its enrolment bundle and QR code"
    )
    add.add_argument("--dir", type=Path, required=True)
    add.add_argument("--name", required=True, help="centre name, e.g. 红梅镇便民服务中心")
    add.add_argument("--division", required=True, help="12-digit division code of the centre")
    add.add_argument("--central-url", action="append", required=True)
    add.add_argument("--out", type=Path, required=True, help="bundle file to write (a QR PNG goes beside it)")
    add.add_argument(
        "--central-ca",
        type=Path,
        default=None,
        help="the county CA certificate (PEM) central's HTTPS certificate is issued by: the node trusts only it",
    )
    add.add_argument(
        "--staff",
        type=_staff,
        action="append",
        default=None,
        help="USERNAME:ROLE:NAME[:PASSWORD[:ITEM,ITEM…]]; roles window, logistics, lead, node_admin; a lead's "
        "fifth part lists the 即办件 item codes it may decide on the spot (* for all); empty password: generated",
    )
    user = sub.add_parser("add-user", help="add a back-office account (reviewer, admin, supervisor)")
    user.add_argument("--dir", type=Path, required=True)
    user.add_argument("--username", required=True)
    user.add_argument("--name", required=True)
    user.add_argument("--role", required=True)
    user.add_argument("--password", required=True)

    listing = sub.add_parser("list-nodes", help="the county's nodes: number, name, division, status")
    listing.add_argument("--dir", type=Path, required=True)
    listing.add_argument("--json", action="store_true", help="print JSON")
    revoke = sub.add_parser(
        "revoke-node",
        help="revoke a node (stolen, retired): central quarantines its new entries; nothing on it is deleted",
    )
    revoke.add_argument("node", help="node id (or its number, or its name)")
    revoke.add_argument("--dir", type=Path, required=True)
    revoke.add_argument("--reason", required=True, help="why, e.g. 设备被盗")
    rotate = sub.add_parser(
        "rotate-keys",
        help="new county signing and encryption keys (old private keys kept; nodes learn the new keys)",
    )
    rotate.add_argument("--dir", type=Path, required=True)


def _provision(args: argparse.Namespace) -> int:
    try:
        if args.provision_command == "init":
            password = args.admin_password
            if not password:
                password = getpass.getpass("县管理员密码：")
                if getpass.getpass("再输入一次：") != password:
                    print("两次输入的密码不一致", file=sys.stderr)
                    return 2
            county = init_county(args.dir, name=args.county, division=args.division, admin_password=password)
            print(f"已初始化 {args.county}（{args.division}），县密钥指纹 {county.info['sign_fingerprint']}")
            print(f"私钥在 {args.dir / 'keys'}（仅本用户可读），请离线备份。")
            return 0
        if args.provision_command == "add-node":
            county = open_county(args.dir)
            staff = args.staff or [
                StaffSpec("clerk", "窗口人员", "window"),
                StaffSpec("lead", "业务负责人", "lead", authorities=("*",)),
            ]
            result = add_node(
                county,
                name=args.name,
                division=args.division,
                central_urls=args.central_url,
                out=args.out,
                staff=staff,
                central_ca=args.central_ca.read_text("ascii") if args.central_ca else None,
            )
            print(f"节点 {args.name}：{result.node_id}")
            print(
                f"注册包：{result.bundle_path}（一次性，{county.info['name']}签发）  二维码：{result.qr_path}"
            )
            print(f"县密钥指纹（注册时核对）：{result.county_fingerprint}")
            print(f"二维码内容：{result.qr_text}")
            for username, password in result.passwords.items():
                print(f"  工作人员 {username} 初始密码：{password}")
            return 0
        if args.provision_command == "add-user":
            add_central_user(
                open_county(args.dir),
                username=args.username,
                display_name=args.name,
                role=args.role,
                password=args.password,
            )
            print(f"已添加后台账号 {args.username}（{args.role}）；重启或刷新县中心后生效")
            return 0
        if args.provision_command == "list-nodes":
            return _list_nodes(open_county(args.dir), as_json=args.json)
        if args.provision_command == "revoke-node":
            record = revoke_node(open_county(args.dir), args.node, reason=args.reason)
            print(f"已吊销节点 {record['name']}（{record['id']}），原因：{record['revoked_reason']}")
            print(
                "县中心在该节点下次连接时拒收其新数据（隔离待审）；已收到的数据不受影响，节点上的数据不会被删除。"
            )
            return 0
        if args.provision_command == "rotate-keys":
            info = rotate_county_keys(open_county(args.dir))
            print(f"县密钥已轮换为第 {info['key_generation']} 代，新签名密钥指纹 {info['sign_fingerprint']}")
            print(
                f"旧私钥保留在 {args.dir / 'keys' / 'retired'}（用于读取旧数据）；各节点下次同步时获知新公钥。"
            )
            return 0
    except ProvisioningError as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 2
    return 2


def _list_nodes(county: County, *, as_json: bool) -> int:
    nodes = county.nodes()
    if as_json:
        print(json.dumps(nodes, ensure_ascii=False, indent=2))
        return 0
    info = county.info
    print(
        f"{info['name']}（{info['division']}）  县密钥第 {county_generation(info)} 代，指纹 {info['sign_fingerprint']}"
    )
    if not nodes:
        print("还没有节点：用 provision add-node 添加")
        return 0
    for record in sorted(nodes, key=lambda r: int(r["number"])):
        if record.get("status") == "revoked":
            state = f"已吊销 {record['revoked_at'][:10]}（{record['revoked_reason']}）"
        else:
            state = f"注册包有效期至 {record['expires_at'][:10]}"
        print(f"{int(record['number']):02d}  {record['id']}  {record['name']}  {record['division']}  {state}")
    return 0


def _archive(args: argparse.Namespace) -> int:
    """`onewindow archive verify PATH`: the four-property check of a package; non-zero exit on any failure."""
    from datetime import UTC, datetime

    from protocol.archive import check_package, render_text
    from protocol.keys import VerifyKey

    try:
        key = VerifyKey.from_text(args.node_key) if args.node_key else None
    except ValueError as exc:
        print(f"错误：节点公钥格式不对（{exc}）", file=sys.stderr)
        return 2
    if not args.path.exists():
        print(f"错误：{args.path} 不存在", file=sys.stderr)
        return 2
    checked_at = datetime.now(UTC).isoformat(timespec="seconds")
    report = check_package(args.path, stage=args.stage, trusted_key=key, checked_at=checked_at)
    print(report.to_json() if args.json else render_text(report).rstrip("\n"))
    return 0 if report.passed else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="onewindow", description="OneWindow Edge 一窗受理·集成服务")
    sub = parser.add_subparsers(dest="command", required=True)
    _provision_parser(sub.add_parser("provision", help="county keys, nodes and accounts"))
    node_cli = sub.add_parser("node", help="the centre's node")
    central_cli = sub.add_parser("central", help="the county's central server")
    archive = sub.add_parser("archive", help="electronic archive packages (BagIt, four-property check)")
    archive_sub = archive.add_subparsers(dest="archive_command", required=True)
    verify = archive_sub.add_parser(
        "verify", help="check a package (ZIP or unpacked bag); exit 1 on any failure"
    )
    verify.add_argument("path", type=Path)
    verify.add_argument("--node-key", help="the node's public key (ow-edpk-…) to verify the signer against")
    verify.add_argument(
        "--stage", choices=("GD", "YJ"), default="YJ", help="GD 归档 or YJ 移交接收 (default)"
    )
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    demo = sub.add_parser("demo", help="a demo county with two centres on loopback")
    demo.add_argument("--dir", type=Path, default=Path(os.environ.get("ONEWINDOW_DEMO_DIR", "demo-data")))
    demo.add_argument("--port", type=int, default=8100, help="central's port; the centres use the next two")
    simulate = sub.add_parser(
        "simulate", help="play a county's working day against real processes and report on every applicant"
    )
    simulate.add_argument(
        "--dir", type=Path, default=Path(os.environ.get("ONEWINDOW_SIMULATE_DIR", "simulate-data"))
    )
    simulate.add_argument("--centres", type=int, default=5, help="service centres (default 5)")
    simulate.add_argument("--applicants", type=int, default=200, help="applicants per centre (default 200)")
    simulate.add_argument("--seed", type=int, default=2026, help="the same seed plays the same day")
    simulate.add_argument(
        "--speed", type=float, default=120.0, help="business-clock minutes per real minute (default 120)"
    )
    simulate.add_argument(
        "--no-faults", action="store_true", help="a clean day: no outage, courier or restarts"
    )
    # Sub-command parsers of node and central are built only when asked for, so `provision` never loads them.
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["node"]:
        importlib.import_module("node.cli").build_parser(node_cli)
    if argv[:1] == ["central"]:
        importlib.import_module("central.cli").build_parser(central_cli)
    args = parser.parse_args(argv)
    if args.command == "provision":
        return _provision(args)
    if args.command == "node":
        result: int = importlib.import_module("node.cli").run(args)
        return result
    if args.command == "central":
        result = importlib.import_module("central.cli").run(args)
        return result
    if args.command == "archive":
        return _archive(args)
    if args.command == "demo":
        from provisioning.demo import run_demo

        return run_demo(args.dir, base_port=args.port)
    if args.command == "simulate":
        return importlib.import_module("simulate.cli").run(args)  # type: ignore[no-any-return]
    return 2


if __name__ == "__main__":
    sys.exit(main())
