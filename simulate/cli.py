"""`onewindow simulate …`: parses nothing itself (provisioning/cli.py does), checks the numbers, delegates to
`simulate.run` and prints where the report is and whether everyone was accounted for."""

from __future__ import annotations

import argparse
import sys

from simulate.run import Options, simulate_day


def run(args: argparse.Namespace) -> int:
    for name, value, low, high in (
        ("--centres", args.centres, 1, 10),
        ("--applicants", args.applicants, 1, 2000),
    ):
        if not low <= value <= high:
            print(f"错误：{name} 应在 {low} 到 {high} 之间", file=sys.stderr)
            return 2
    if not 1 <= args.speed <= 3600:
        print("错误：--speed 应在 1 到 3600 之间", file=sys.stderr)
        return 2
    options = Options(
        root=args.dir.resolve(),
        centres=args.centres,
        applicants=args.applicants,
        seed=args.seed,
        speed=args.speed,
        faults=not args.no_faults,
    )
    print(
        f"模拟营业日：{options.centres} 个中心 × {options.applicants} 位群众，种子 {options.seed}，"
        f"倍速 {options.speed:g}（目录 {options.root}）…",
        flush=True,
    )
    report = simulate_day(options)
    counts, seconds = report["counts"], report["run"]["seconds"]
    print(
        f"完成，用时 {seconds['total']} 秒：群众 {counts['applicants']}，县中心办件 {counts['cases_at_central']}"
        f"（应有 {counts['cases_expected']}），丢失 {counts['lost']}，重复 {counts['doubled']}，"
        f"状态不符 {counts['wrong_state']}，隔离 {counts['quarantined']}，出错 {counts['errors']}，未叫到号 {counts['unserved']}"
    )
    print(f"报告：{options.root / 'report.html'}  {options.root / 'report.json'}")
    clean = not (counts["lost"] or counts["doubled"] or counts["quarantined"] or counts["wrong_state"])
    return 0 if clean else 1
