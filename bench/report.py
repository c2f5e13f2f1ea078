"""The report: markdown tables with ratios, PASS/MISS per target, results.json and results.png.

Table building and target checks are pure (unit-tested); only ``write_report`` and
``plot`` touch files.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.config import (
    FANOUT_TARGET_MAX_VS_BARE,
    FANOUT_TARGET_MEMBERS,
    FANOUT_TARGET_MIN_TUTORIAL_OVER_OURS,
    IDLE_MEMORY_TARGET_KIB,
    JOIN_STORM,
    JOIN_TARGET_CPU_MS,
    JOIN_TARGET_P99_MS,
    JOIN_TARGET_PER_SEC,
    TOKEN_TARGET_CPU_MS,
)
from bench.scenarios import RunRecord
from bench.stats import ratio

SERVER_COLUMNS = ("ours", "tutorial", "bare")

# (metric key, row label); every row also gets ours/tutorial and ours/bare.
FIGURES: tuple[tuple[str, str], ...] = (
    ("members_connected", "members joined"),
    ("connect_failures", "connect failures"),
    ("connect_p50_ms", "connect p50 per member (ms)"),
    ("connect_p99_ms", "connect p99 per member (ms)"),
    ("connect_total_secs", "connect total (s)"),
    ("joins_per_sec", "joins/s (members joined ÷ connect total)"),
    ("connect_server_cpu_ms_per_member", "server CPU per member joined (ms)"),
    ("connect_server_cores", "server CPU used while members connect (cores)"),
    ("connect_client_cores", "load generator's CPU used while members connect (cores)"),
    ("token_server_cpu_ms", "server CPU per token minted, challenge + POST (ms; ours only)"),
    (
        "token_with_preflight_server_cpu_ms",
        "server CPU per token minted with the browser's CORS preflight, challenge + preflight + POST (ms; ours only)",
    ),
    ("sent", "messages sent"),
    ("send_rate_per_sec", "send rate achieved (msg/s)"),
    ("expected_deliveries", "deliveries expected"),
    ("unique_deliveries", "deliveries received"),
    ("deliveries_per_sec", "deliveries/s"),
    ("latency_p50_ms", "latency p50 (ms)"),
    ("latency_p95_ms", "latency p95 (ms)"),
    ("latency_p99_ms", "latency p99 (ms)"),
    ("latency_max_ms", "latency max (ms)"),
    ("ack_p50_ms", "send → ack p50 (ms; ours only)"),
    ("ack_p99_ms", "send → ack p99 (ms; ours only)"),
    ("lost", "lost"),
    ("duplicated", "duplicated"),
    ("out_of_order", "out of order"),
    ("members_closed", "members disconnected during traffic"),
    ("server_cpu_us_per_delivery", "server CPU µs/delivery"),
    ("server_cpu_us_per_message", "server CPU µs/message sent"),
    ("redis_cpu_us_per_delivery", "redis-server CPU µs/delivery"),
    ("client_cpu_us_per_delivery", "client CPU µs/delivery"),
    ("server_cpu_cores", "server CPU used (cores)"),
    ("client_cpu_max_core", "busiest client process (cores)"),
    ("client_bound", "client-bound (a client > 90 % of a core)"),
    ("rss_idle_kib", "server RSS before members (KiB)"),
    ("rss_connected_kib", "server RSS with members (KiB)"),
    ("memory_per_conn_kib", "memory per connection (KiB)"),
)
IDLE_FIGURES = (
    "members_connected",
    "connect_failures",
    "connect_p50_ms",
    "connect_p99_ms",
    "connect_total_secs",
    "connect_server_cpu_ms_per_member",
    "rss_idle_kib",
    "rss_connected_kib",
    "memory_per_conn_kib",
)
# The join storm's figures: connect-only, like the idle run, with the join rate and the token cost.
JOIN_STORM_FIGURES = (
    "members_connected",
    "connect_failures",
    "connect_p50_ms",
    "connect_p99_ms",
    "connect_total_secs",
    "joins_per_sec",
    "connect_server_cpu_ms_per_member",
    "connect_server_cores",
    "connect_client_cores",
    "token_server_cpu_ms",
    "token_with_preflight_server_cpu_ms",
)
CONNECT_ONLY_FIGURES = {"idle": IDLE_FIGURES, JOIN_STORM: JOIN_STORM_FIGURES}


def format_value(value: object) -> str:
    """A figure for a table: "n/a" when missing, yes/no, integers with separators, 3 significant digits."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isinf(value):
            return "∞"
        if value == 0:
            return "0"
        magnitude = abs(value)
        if 0.995 <= magnitude < 1:  # .3g would print 0.9998 as "1"
            return f"{value:.2f}"
        if magnitude >= 100:
            return f"{value:,.0f}"
        if magnitude >= 10:
            return f"{value:.1f}"
        if magnitude >= 1:
            return f"{value:.2f}"
        return f"{value:.3g}"
    return str(value)


def format_ratio(value: float | None) -> str:
    if value is None:
        return "—"
    if math.isinf(value):
        return "∞"
    return f"{format_value(float(value))}×"


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "es" if noun.endswith("s") else "s")


def numeric(value: object) -> float | None:
    """A figure as a number for ratios (booleans and text have none)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def comparison_rows(
    by_server: dict[str, dict[str, object]], figures: Iterable[tuple[str, str]], servers: Iterable[str] = SERVER_COLUMNS
) -> list[list[str]]:
    """Rows of [label, ours, tutorial, bare, ours/tutorial, ours/bare]; a missing server shows n/a."""
    servers = tuple(servers)
    rows = []
    for key, label in figures:
        values = {server: by_server.get(server, {}).get(key) for server in servers}
        ours = numeric(values.get("ours"))
        rows.append([
            label,
            *(format_value(values[server]) if server in by_server else "n/a" for server in servers),
            format_ratio(ratio(ours, numeric(values.get("tutorial")))),
            format_ratio(ratio(ours, numeric(values.get("bare")))),
        ])  # fmt: skip
    return rows


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def find_run(records: list[RunRecord], scenario: str, server: str, members: int | None = None) -> RunRecord | None:
    """The successful run of ``server`` in ``scenario`` (the largest when ``members`` is None)."""
    matches = [
        r
        for r in records
        if r.scenario == scenario
        and r.server == server
        and r.error is None
        and (members is None or r.members == members)
    ]
    return max(matches, key=lambda r: r.members) if matches else None


@dataclass(frozen=True)
class TargetVerdict:
    target: str
    measured: str
    status: str  # "PASS" | "MISS" | "n/a"


def _metric(record: RunRecord | None, key: str) -> float | None:
    return None if record is None else numeric(record.metrics.get(key))


def evaluate_targets(records: list[RunRecord]) -> list[TargetVerdict]:
    verdicts = []

    # 1. Fan-out cost at 1000 members, saturating sender.
    ours, tutorial, bare = (
        _metric(find_run(records, "saturate", s, FANOUT_TARGET_MEMBERS), "server_cpu_us_per_delivery")
        for s in SERVER_COLUMNS
    )
    vs_bare, tutorial_over_ours = ratio(ours, bare), ratio(tutorial, ours)
    status = (
        "n/a"
        if vs_bare is None or tutorial_over_ours is None
        else (
            "PASS"
            if vs_bare <= FANOUT_TARGET_MAX_VS_BARE and tutorial_over_ours >= FANOUT_TARGET_MIN_TUTORIAL_OVER_OURS
            else "MISS"
        )
    )
    verdicts.append(TargetVerdict(
        fanout_target_text(),
        f"ours {format_value(ours)} µs = {format_ratio(vs_bare)} bare; "
        f"tutorial/ours = {format_ratio(tutorial_over_ours)}",
        status,
    ))  # fmt: skip

    # 2. 500 members at 20 msg/s.
    ours_run, bare_run = find_run(records, "rate", "ours", 500), find_run(records, "rate", "bare", 500)
    lost = _metric(ours_run, "lost")
    p99, bare_p99 = _metric(ours_run, "latency_p99_ms"), _metric(bare_run, "latency_p99_ms")
    complete = ours_run is not None and ours_run.metrics.get("members_connected") == ours_run.members
    status = (
        "n/a"
        if lost is None or ratio(p99, bare_p99) is None
        else ("PASS" if complete and lost == 0 and ratio(p99, bare_p99) <= 2 else "MISS")
    )
    verdicts.append(TargetVerdict(
        "500 members at 20 msg/s: nothing lost and p99 ≤ 2× bare",
        f"lost {format_value(lost)}; p99 {format_value(p99)} ms = {format_ratio(ratio(p99, bare_p99))} bare",
        status,
    ))  # fmt: skip

    # 3. Two processes + Redis, 5 msg/s (5000 members in full mode; the quick plan's size otherwise).
    multi = find_run(records, "multi", "ours")
    if multi is None:
        verdicts.append(
            TargetVerdict("2 processes + Redis, 5000 members, 5 msg/s: all delivered, p99 < 1 s", "not run", "n/a")
        )
    else:
        m = multi.metrics
        delivered_all = (
            m.get("members_connected") == multi.members
            and m.get("lost") == 0
            and m.get("unique_deliveries") == m.get("expected_deliveries")
        )
        p99 = _metric(multi, "latency_p99_ms")
        status = "PASS" if delivered_all and p99 is not None and p99 < 1000 else "MISS"
        verdicts.append(TargetVerdict(
            f"2 processes + Redis, 5000 members, 5 msg/s: all delivered, p99 < 1 s (run with {multi.members} members)",
            f"{format_value(m.get('unique_deliveries'))}/{format_value(m.get('expected_deliveries'))} delivered "
            f"to {format_value(m.get('members_connected'))}/{multi.members} members; p99 {format_value(p99)} ms",
            status,
        ))  # fmt: skip

    # 4. Idle memory per connection, at the largest size measured.
    memory_runs = [
        r
        for r in records
        if r.server == "ours"
        and r.error is None
        and r.server_processes == 1
        and r.metrics.get("memory_per_conn_kib") is not None
        and r.members >= 1000
    ]
    if not memory_runs:
        verdicts.append(TargetVerdict(idle_memory_target_text(), "not measured", "n/a"))
    else:
        largest = max(memory_runs, key=lambda r: r.members)
        kib = float(largest.metrics["memory_per_conn_kib"])
        verdicts.append(TargetVerdict(
            idle_memory_target_text(),
            f"{format_value(kib)} KiB at {largest.members} sockets",
            "PASS" if kib <= IDLE_MEMORY_TARGET_KIB else "MISS",
        ))  # fmt: skip
    verdicts.append(small_room_target(records))
    verdicts += join_storm_targets(records)
    return verdicts


def fanout_target_text() -> str:
    return (
        f"server CPU per delivery at {FANOUT_TARGET_MEMBERS} members ≤ {FANOUT_TARGET_MAX_VS_BARE:g}× bare "
        f"and ≥ {FANOUT_TARGET_MIN_TUTORIAL_OVER_OURS:g}× less than tutorial (issue 19)"
    )


def idle_memory_target_text() -> str:
    return f"idle memory per connection ≤ {IDLE_MEMORY_TARGET_KIB:g} KiB (issue 19)"


SMALL_ROOM_MEMBERS = 10


def small_room_target(records: list[RunRecord]) -> TargetVerdict:
    """Issue 19: at 10 members, saturating, ours' server CPU per message sent (storing it included)
    at most the tutorial's (which stores nothing), in the same run; the aim is half."""
    target = f"small rooms: server CPU per message at {SMALL_ROOM_MEMBERS} members ≤ tutorial's (aim: half)"
    ours, tutorial = (
        _metric(find_run(records, "saturate", server, SMALL_ROOM_MEMBERS), "server_cpu_us_per_message")
        for server in ("ours", "tutorial")
    )
    vs_tutorial = ratio(ours, tutorial)
    if vs_tutorial is None:
        return TargetVerdict(target, "not run (saturate, ours and tutorial)", "n/a")
    aim = "aim met" if vs_tutorial <= 0.5 else "aim (half) not met"
    return TargetVerdict(
        target,
        f"ours {format_value(ours)} µs, tutorial {format_value(tutorial)} µs "
        f"= {format_ratio(vs_tutorial)} tutorial; {aim}",
        "PASS" if vs_tutorial <= 1 else "MISS",
    )  # fmt: skip


def _baselines(records: list[RunRecord], scenario: str, members: int, key: str) -> str:
    """ "tutorial X, bare Y" for a figure, measured in the same run."""
    shown = [
        f"{server} {format_value(_metric(find_run(records, scenario, server, members), key))}"
        for server in SERVER_COLUMNS[1:]
        if find_run(records, scenario, server, members) is not None
    ]
    return f" (same run: {', '.join(shown)})" if shown else ""


def join_storm_targets(records: list[RunRecord]) -> list[TargetVerdict]:
    """Issue 19's join targets, per join-storm size run: joins/s, server CPU per join and connect
    p99 of ours, with the baselines' figures beside them; and server CPU per token minted."""
    verdicts = []
    sizes = sorted({r.members for r in records if r.scenario == JOIN_STORM and r.server == "ours"})
    if not sizes:
        return [
            TargetVerdict(
                f"join storm: ≥ {JOIN_TARGET_PER_SEC:,} joins/s, ≤ {JOIN_TARGET_CPU_MS:g} ms CPU "
                f"per join, connect p99 ≤ {JOIN_TARGET_P99_MS} ms",
                "not run",
                "n/a",
            )
        ]
    for members in sizes:
        run = find_run(records, JOIN_STORM, "ours", members)
        complete = run is not None and run.metrics.get("members_connected") == members
        checks = (
            ("joins_per_sec", f"≥ {JOIN_TARGET_PER_SEC:,} joins/s", "joins/s", lambda v: v >= JOIN_TARGET_PER_SEC),
            (
                "connect_server_cpu_ms_per_member",
                f"≤ {JOIN_TARGET_CPU_MS:g} ms server CPU per connect+auth+join",
                "ms",
                lambda v: v <= JOIN_TARGET_CPU_MS,
            ),
            ("connect_p99_ms", f"connect p99 ≤ {JOIN_TARGET_P99_MS} ms", "ms", lambda v: v <= JOIN_TARGET_P99_MS),
        )
        for key, target, unit, met in checks:
            value = _metric(run, key)
            status = "n/a" if value is None else ("PASS" if complete and met(value) else "MISS")
            joined = "" if complete or run is None else f"; only {run.metrics.get('members_connected')} joined"
            verdicts.append(TargetVerdict(
                f"join storm, {members:,} members: {target}",
                f"ours {format_value(value)} {unit}{joined}{_baselines(records, JOIN_STORM, members, key)}",
                status,
            ))  # fmt: skip
    minted = [r for r in records if r.server == "ours" and r.error is None and r.metrics.get("token_server_cpu_ms")]
    if minted:
        run = (
            max(minted, key=lambda r: r.members)
            if not any(r.scenario == JOIN_STORM for r in minted)
            else next(r for r in minted if r.scenario == JOIN_STORM)
        )
        value = float(run.metrics["token_server_cpu_ms"])
        with_preflight = run.metrics.get("token_with_preflight_server_cpu_ms")
        first_visit = (
            ""
            if with_preflight is None
            else f"; a first visit, with the browser's CORS preflight: {format_value(with_preflight)} ms"
        )
        verdicts.append(TargetVerdict(
            f"token minting ≤ {TOKEN_TARGET_CPU_MS:g} ms server CPU (challenge + POST)",
            f"{format_value(value)} ms per token ({run.scenario}, {run.members:,}: the token pool){first_visit}",
            "PASS" if value <= TOKEN_TARGET_CPU_MS else "MISS",
        ))  # fmt: skip
    return verdicts


def scenario_sections(records: list[RunRecord], scenario_titles: dict[str, str]) -> list[str]:
    sections = []
    keys = list(dict.fromkeys(r.scenario for r in records))
    for key in keys:
        for members in sorted({r.members for r in records if r.scenario == key}):
            runs = {r.server: r for r in records if r.scenario == key and r.members == members}
            sample = next(iter(runs.values()))
            by_server = {server: run.metrics for server, run in runs.items() if run.error is None}
            only = CONNECT_ONLY_FIGURES.get(key)
            figures = [f for f in FIGURES if f[0] in only] if only else list(FIGURES)
            if sample.server_processes == 1:
                figures = [f for f in figures if f[0] != "redis_cpu_us_per_delivery"]
            else:  # RSS per connection is measured for one process only
                figures = [f for f in figures if not f[0].startswith("rss_") and f[0] != "memory_per_conn_kib"]
            title = (
                f"### {scenario_titles.get(key, key)}: {members:,} members "
                f"({plural(sample.server_processes, 'server process')}, "
                f"{plural(sample.client_processes, 'receiving client process')} + the sender's own)"
            )
            body = markdown_table(
                ["figure", *SERVER_COLUMNS, "ours/tutorial", "ours/bare"], comparison_rows(by_server, figures)
            )
            notes = [f"- **{server} failed**: {run.error}" for server, run in runs.items() if run.error]
            notes += [
                f"- {server}: {run.log_problem_lines} error line(s) in its log, e.g. `{run.log_problem_samples[0]}`"
                for server, run in runs.items()
                if run.log_problem_lines
            ]
            notes += [
                f"- {server}: errors from the server: {run.metrics['errors']}"
                for server, run in runs.items()
                if run.metrics.get("errors")
            ]
            notes += [
                f"- {server}: connect failures: {run.metrics['connect_failure_reasons']}"
                for server, run in runs.items()
                if run.metrics.get("connect_failure_reasons")
            ]
            if sample.server_processes > 1:
                notes.append("- bare: n/a (one process only)")
            sections.append("\n".join([title, "", body, *([""] + notes if notes else [])]))
    return sections


def cpu_summary(records: list[RunRecord]) -> str:
    rows = []
    for members in sorted({r.members for r in records if r.scenario == "saturate"}):
        by_server = {
            s: (find_run(records, "saturate", s, members) or RunRecord("", s, 0, 1, 1)).metrics for s in SERVER_COLUMNS
        }
        row = comparison_rows(by_server, [("server_cpu_us_per_delivery", f"{members:,} members")])[0]
        rows.append(row)
    return markdown_table(["saturating, server CPU µs/delivery", *SERVER_COLUMNS, "ours/tutorial", "ours/bare"], rows)


def _speed_line(meta: dict[str, object]) -> list[str]:
    speed = meta.get("python_speed_ms")
    if not isinstance(speed, list | tuple) or len(speed) != 2:
        return []
    before, after = speed
    return [
        f"Machine speed: a fixed Python workload (bench/calibration.py) took {before:.0f} ms of CPU before the run "
        f"and {after:.0f} ms after it (lower is faster). The targets in ms of CPU are absolute: compare them between "
        "runs only beside this figure.",
        "",
    ]


def render_markdown(
    records: list[RunRecord], verdicts: list[TargetVerdict], meta: dict[str, object], scenario_titles: dict[str, str]
) -> str:
    parts = [
        f"# Backchannel benchmark ({meta['plan']}), {meta['started_utc']}",
        "",
        f"Machine: {meta['cpus']} cores, Python {meta['python']}; channels {meta['versions'].get('channels')}, "
        f"daphne {meta['versions'].get('daphne')}, websockets {meta['versions'].get('websockets')}; "
        f"commit {meta['git_commit']}; wall time {meta['wall_secs']:.0f} s. "
        "Ratios are ours ÷ the baseline: below 1× ours is lower (less CPU, less latency); bench/README.md explains. "
        "Every CPU figure is process CPU time (utime + stime of the server processes, all threads, from /proc), "
        "not wall time: the machine is shared, and wall-time figures (joins/s, latencies) move with its load.",
        "",
        *_speed_line(meta),
        "## Targets",
        "",
        markdown_table(["target", "measured", "result"], [[v.target, v.measured, v.status] for v in verdicts]),
        "",
        "## Server CPU per delivery",
        "",
        cpu_summary(records),
        "",
        "## Scenarios",
        "",
        "\n\n".join(scenario_sections(records, scenario_titles)),
        "",
        "## Runs",
        "",
        markdown_table(
            ["scenario", "server", "members", "wall (s)", "status"],
            [[r.scenario, r.server, f"{r.members:,}", f"{r.wall_secs:.1f}", r.error or "ok"] for r in records],
        ),
        "",
    ]
    return "\n".join(parts)


def plot(records: list[RunRecord], path: Path, title: str = "") -> None:
    """Server CPU µs/delivery and latency p99 against room size, saturating sender, log scales."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    figure, (cpu_axes, latency_axes) = plt.subplots(1, 2, figsize=(12, 4.8))
    markers = {"ours": "o", "tutorial": "s", "bare": "^"}
    bound_points: dict[int, list[tuple[int, float]]] = {0: [], 1: []}  # panel -> client-bound points
    for server in SERVER_COLUMNS:
        runs = sorted(
            (r for r in records if r.scenario == "saturate" and r.server == server and r.error is None),
            key=lambda r: r.members,
        )
        for panel, (axes, key) in enumerate(
            ((cpu_axes, "server_cpu_us_per_delivery"), (latency_axes, "latency_p99_ms"))
        ):
            points = [(r.members, r.metrics.get(key), r.metrics.get("client_bound")) for r in runs]
            points = [(n, value, bound) for n, value, bound in points if value]
            if not points:
                continue
            axes.plot(
                [n for n, _, _ in points], [value for _, value, _ in points], marker=markers[server], label=server
            )
            bound_points[panel] += [(n, value) for n, value, bound in points if bound]
            if panel == 0 and server == "bare":  # the target: ours at most FANOUT_TARGET_MAX_VS_BARE x the floor
                axes.plot(
                    [n for n, _, _ in points],
                    [FANOUT_TARGET_MAX_VS_BARE * value for _, value, _ in points],
                    linestyle=":",
                    color="grey",
                    label=f"{FANOUT_TARGET_MAX_VS_BARE:g}× bare (target for ours)",
                )
    for panel, axes in enumerate((cpu_axes, latency_axes)):
        if bound_points[panel]:  # there the load generator, not the server, set the pace
            axes.scatter(
                *zip(*bound_points[panel], strict=True),
                s=160,
                facecolors="none",
                edgecolors="red",
                label="client-bound",
                zorder=3,
            )
    for axes, panel_title, unit in (
        (cpu_axes, "Server CPU per delivery", "µs per delivered message"),
        (latency_axes, "Latency p99", "ms"),
    ):
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xlabel("members in the room (saturating sender)")
        axes.set_ylabel(unit)
        axes.set_title(panel_title)
        axes.grid(True, which="both", alpha=0.3)
        if axes.lines:
            axes.legend()
        else:
            axes.text(0.5, 0.5, "no saturating runs", transform=axes.transAxes, ha="center")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_report(
    out_dir: Path, records: list[RunRecord], meta: dict[str, object], scenario_titles: dict[str, str]
) -> str:
    """results.md, results.json and results.png in ``out_dir``; returns the markdown."""
    verdicts = evaluate_targets(records)
    markdown = render_markdown(records, verdicts, meta, scenario_titles)
    (out_dir / "results.md").write_text(markdown)
    document = {"meta": meta, "targets": [asdict(v) for v in verdicts], "runs": [asdict(r) for r in records]}
    (out_dir / "results.json").write_text(json.dumps(document, indent=2, default=str) + "\n")
    plot(records, out_dir / "results.png", title=f"Backchannel bench ({meta['plan']}), {meta['started_utc']}")
    return markdown
