"""`python -m bench [--quick]`: run the benchmark plan, write bench/results/<UTC time>/, print the tables.

Progress goes to stderr; the markdown report goes to stdout at the end.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from bench import reconnect_storm
from bench.calibration import python_speed_ms
from bench.config import DEFAULT_CLIENT_PROCESSES, SERVERS, Plan, full_plan, quick_plan
from bench.redis_ops import as_json, render, run_redis_ops
from bench.report import write_report
from bench.scenarios import RunContext, RunRecord, run_one
from bench.servers import prepare_ours_template
from scripts.processes import REPO_DIR, progress

RESULTS_DIR = Path(__file__).resolve().parent / "results"
# The Redis operations scenario (bench/redis_ops.py): members leaving at once, full and quick.
REDIS_OPS_SCENARIO = "redis-ops"
REDIS_OPS_MEMBERS = 2000
REDIS_OPS_MEMBERS_QUICK = 500
# The reconnect storm (bench/reconnect_storm.py): every member back after a SIGTERM restart.
RECONNECT_STORM_SCENARIO = "reconnect-storm"
RECONNECT_STORM_MEMBERS = 5000
RECONNECT_STORM_MEMBERS_QUICK = 1000


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the short plan (about a minute or two)")
    parser.add_argument("--servers", default=",".join(SERVERS), help="comma-separated subset of ours,tutorial,bare")
    parser.add_argument(
        "--scenarios",
        default="",
        help="comma-separated subset of saturate,rate,multi,idle,join-storm,redis-ops,reconnect-storm",
    )
    parser.add_argument("--sizes", default="", help="comma-separated room sizes replacing every scenario's own")
    parser.add_argument(
        "--clients",
        type=int,
        default=DEFAULT_CLIENT_PROCESSES,
        help="client processes for rooms of 1000 members or more (default %(default)s)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="where the timestamped folder goes")
    return parser.parse_args(argv)


def select(plan: Plan, args: argparse.Namespace) -> Plan:
    """The plan narrowed by --scenarios, --servers and --sizes."""
    wanted_scenarios = {s for s in args.scenarios.split(",") if s}
    wanted_servers = {s for s in args.servers.split(",") if s}
    unknown = wanted_servers - set(SERVERS)
    if unknown:
        raise SystemExit(f"unknown server(s): {', '.join(sorted(unknown))}")
    sizes = tuple(int(size) for size in args.sizes.split(",") if size)
    scenarios = []
    for scenario in plan.scenarios:
        if wanted_scenarios and scenario.key not in wanted_scenarios:
            continue
        servers = tuple(s for s in scenario.servers if s in wanted_servers)
        if servers:
            scenarios.append(replace(scenario, servers=servers, members=sizes or scenario.members))
    return replace(plan, scenarios=tuple(scenarios))


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_DIR, capture_output=True, text=True, check=True
        ).stdout.strip() + (
            " (with local changes)"
            if subprocess.run(
                ["git", "status", "--porcelain", "--", "backend"], cwd=REPO_DIR, capture_output=True, text=True
            ).stdout.strip()
            else ""
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def versions() -> dict[str, str]:
    found = {}
    for package in ("channels", "channels-redis", "daphne", "django", "websockets", "redis", "twisted"):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = "absent"
    return found


def publish_latest(out_root: Path, run_dir: Path) -> None:
    """bench/results/latest -> the newest run (a symlink; a copy where symlinks are refused)."""
    latest = out_root / "latest"
    if latest.is_symlink() or latest.is_file():
        latest.unlink()
    elif latest.is_dir():
        shutil.rmtree(latest)
    try:
        latest.symlink_to(run_dir.name, target_is_directory=True)
    except OSError:
        shutil.copytree(run_dir, latest)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = select(quick_plan() if args.quick else full_plan(), args)
    started = time.monotonic()
    started_utc = datetime.datetime.now(datetime.UTC)
    run_dir = args.out / started_utc.strftime("%Y%m%dT%H%M%SZ")
    log_dir = run_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    progress(f"bench: {plan.name} plan; results in {run_dir}")
    speed_before_ms = python_speed_ms()

    records: list[RunRecord] = []
    wanted = {s for s in args.scenarios.split(",") if s}
    redis_ops = None
    storm = None
    with tempfile.TemporaryDirectory(prefix="backchannel-bench-") as work:
        work_dir = Path(work)
        with_redis_ops = (not wanted or REDIS_OPS_SCENARIO in wanted) and "ours" in args.servers.split(",")
        with_storm = (not wanted or RECONNECT_STORM_SCENARIO in wanted) and "ours" in args.servers.split(",")
        needs_ours = with_redis_ops or with_storm or any("ours" in scenario.servers for scenario in plan.scenarios)
        template_db = prepare_ours_template(work_dir / "template") if needs_ours else None
        context = RunContext(
            work_dir=work_dir,
            log_dir=log_dir,
            template_db=template_db,
            client_processes=args.clients,
            connect_timeout_secs=plan.connect_timeout_secs,
        )
        for scenario in plan.scenarios:
            for members in scenario.members:
                for server in scenario.servers:
                    records.append(run_one(server, scenario, members, context))
        if with_redis_ops:
            members = REDIS_OPS_MEMBERS_QUICK if args.quick else REDIS_OPS_MEMBERS
            progress(f"bench: {REDIS_OPS_SCENARIO}, {members} members")
            redis_ops = run_redis_ops(
                work_dir=work_dir / REDIS_OPS_SCENARIO, log_dir=log_dir, template_db=template_db, members=members
            )
        if with_storm:
            members = RECONNECT_STORM_MEMBERS_QUICK if args.quick else RECONNECT_STORM_MEMBERS
            progress(f"bench: {RECONNECT_STORM_SCENARIO}, {members} members")
            storm = reconnect_storm.run_reconnect_storm(
                work_dir=work_dir / RECONNECT_STORM_SCENARIO, log_dir=log_dir, template_db=template_db, members=members
            )

    meta = {
        "plan": plan.name,
        "python_speed_ms": (speed_before_ms, python_speed_ms()),
        "started_utc": started_utc.isoformat(timespec="seconds"),
        "wall_secs": time.monotonic() - started,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "versions": versions(),
        "git_commit": git_commit(),
        "argv": sys.argv[1:] if argv is None else argv,
    }
    titles = {scenario.key: scenario.title for scenario in plan.scenarios}
    markdown = write_report(run_dir, records, meta, titles)
    if redis_ops is not None:
        markdown += "\n" + render(redis_ops)
        (run_dir / "results.md").write_text(markdown)
        document = json.loads((run_dir / "results.json").read_text())
        document[REDIS_OPS_SCENARIO] = as_json(redis_ops)
        (run_dir / "results.json").write_text(json.dumps(document, indent=2, default=str) + "\n")
    if storm is not None:
        markdown += "\n" + reconnect_storm.render(storm)
        (run_dir / "results.md").write_text(markdown)
        document = json.loads((run_dir / "results.json").read_text())
        document[RECONNECT_STORM_SCENARIO] = reconnect_storm.as_json(storm)
        (run_dir / "results.json").write_text(json.dumps(document, indent=2, default=str) + "\n")
    publish_latest(args.out, run_dir)
    print(markdown)
    progress(f"bench: done in {meta['wall_secs']:.0f} s; {run_dir / 'results.md'}")
    return 1 if any(record.error for record in records) else 0
