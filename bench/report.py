"""The results: ratios against the targets of issue 11, a table, a JSON file and a plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# (figure, how it is read, target, whether higher is better)
TARGETS = (
    ("S1 / pgbench random", "ratio", 0.50, True),
    ("S2 / S1", "ratio", 0.80, True),
    ("S3 / bare Starlette", "ratio", 0.60, True),
    ("p99 of S1 at half its throughput", "ms", 20.0, False),
    ("peak RSS per API process", "MB", 150.0, False),
    ("S5 invariants and errors", "problems", 0, False),
)


def _by_name(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["scenario"]: row for row in rows}


def ratios(results: dict[str, Any]) -> list[dict[str, Any]]:
    galley = _by_name(results["scenarios"])
    refs = _by_name(results["references"])
    api_peaks = [
        mb
        for row in results["scenarios"]
        for role, mb in row["peak_rss_mb"].items()
        if role.startswith("api")
    ]
    sellout = galley["S5"]
    values = (
        galley["S1"]["throughput"] / refs["pgbench random"]["throughput"],
        galley["S2"]["throughput"] / galley["S1"]["throughput"],
        galley["S3"]["throughput"] / refs["bare S3"]["throughput"],
        galley["S1-half"]["latency_ms"]["p99"],
        max(api_peaks),
        len(sellout["problems"]) + sellout["error_count"],
    )
    found = []
    for (figure, unit, target, higher), value in zip(TARGETS, values, strict=True):
        met = value >= target if higher else value <= target
        found.append(
            {"figure": figure, "value": round(value, 3), "unit": unit, "target": target,
             "better": "higher" if higher else "lower", "met": met}
        )  # fmt: skip
    return found


COLUMNS = ("req/s", "p50", "p95", "p99", "errors", "cpu ms", "db ms", "stmts", "xacts", "MB")


def _cells(row: dict[str, Any], counted: dict[str, Any]) -> list[str]:
    """A row's figures as the table shows them; `-` where a figure does not apply."""
    latency = row.get("latency_ms") or {
        key: row[f"{key}_ms"] for key in ("p50", "p95", "p99") if f"{key}_ms" in row
    }
    cpu = row.get("server_cpu_ms_per_request")
    rss = row.get("peak_rss_mb")
    values: list[float | int | None] = [
        row["throughput"],
        *(latency.get(key) for key in ("p50", "p95", "p99")),
        row.get("error_count", row.get("errors")),
        sum(cpu.values()) if cpu else None,
        row.get("database_cpu_ms_per_request"),
        counted.get("statements"),
        row.get("transactions_per_request"),
        max(rss.values()) if rss else None,
    ]
    return ["-" if v is None else f"{v:.0f}" if isinstance(v, int) else f"{v:.1f}"
            for v in values]  # fmt: skip


def table(results: dict[str, Any]) -> str:
    head = f"{'scenario':<16}" + "".join(f"{name:>9}" for name in COLUMNS)
    lines = [head, "-" * len(head)]
    for row in results["scenarios"] + results["references"]:
        counted = results.get("statements", {}).get(row["scenario"], {})
        lines.append(f"{row['scenario']:<16}" + "".join(f"{c:>9}" for c in _cells(row, counted)))
    lines.append("")
    for ratio in results["ratios"]:
        mark = "met" if ratio["met"] else "NOT met"
        sign = ">=" if ratio["better"] == "higher" else "<="
        lines.append(
            f"{ratio['figure']:<34}{ratio['value']:>10} {ratio['unit']:<9}"
            f"target {sign} {ratio['target']:<6} {mark}"
        )
    return "\n".join(lines)


def write(results: dict[str, Any], folder: Path, stem: str) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / f"{stem}.json"
    data.write_text(json.dumps(results, indent=2) + "\n")
    picture = folder / f"{stem}.png"
    plot(results, picture)
    return data, picture


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    rows = results["scenarios"] + results["references"]
    names = [row["scenario"] for row in rows]
    figure, (left, right) = pyplot.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    colours = ["tab:blue" if row in results["scenarios"] else "tab:gray" for row in rows]
    left.barh(names, [row["throughput"] for row in rows], color=colours)
    left.set_xscale("log")
    left.set_xlabel("requests (or transactions) per second, log scale")
    left.invert_yaxis()
    galley = results["scenarios"]
    ticks = range(len(galley))
    for offset, key in ((-0.25, "p50"), (0.0, "p95"), (0.25, "p99")):
        right.barh([t + offset for t in ticks], [r["latency_ms"][key] for r in galley],
                   height=0.25, label=key)  # fmt: skip
    right.set_yticks(list(ticks), [r["scenario"] for r in galley])
    right.invert_yaxis()
    right.set_xlabel("latency, ms")
    right.legend()
    machine = results["machine"]
    figure.suptitle(
        f"Galley {results['commit']} on {machine['cpus']} CPUs ({machine['cpu_model']}), "
        f"load {machine['load_average_start'][0]:.1f} at start",
        fontsize=10,
    )
    figure.savefig(path, dpi=80)
    pyplot.close(figure)


def markdown(results: dict[str, Any]) -> str:
    """The table and the targets as docs/performance.md shows them."""
    lines = ["| scenario | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for row in results["scenarios"] + results["references"]:
        counted = results.get("statements", {}).get(row["scenario"], {})
        lines.append(f"| {row['scenario']} | " + " | ".join(_cells(row, counted)) + " |")
    lines += ["", "| figure | value | target | |", "|---|---|---|---|"]
    for ratio in results["ratios"]:
        sign = "≥" if ratio["better"] == "higher" else "≤"
        mark = "met" if ratio["met"] else "**not met**"
        lines.append(
            f"| {ratio['figure']} | {ratio['value']} {ratio['unit']} | "
            f"{sign} {ratio['target']} | {mark} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    print(markdown(json.loads(Path(sys.argv[1]).read_text())))
