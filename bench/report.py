"""Targets and the stdout report.

Every target is a ratio (or a difference) between figures taken in the same run, because
the machine is shared: absolute times drift from run to run, ratios between endpoints
measured side by side drift much less.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, NamedTuple

MISSING = "—"


@dataclass(frozen=True)
class Target:
    """``value`` must be at least (``kind="min"``) or at most (``"max"``) ``threshold``."""

    name: str
    value: float | None
    threshold: float
    kind: Literal["min", "max"]
    detail: str = ""

    @property
    def verdict(self) -> str:
        if self.value is None:
            return "n/a"
        ok = self.value >= self.threshold if self.kind == "min" else self.value <= self.threshold
        return "PASS" if ok else "FAIL"

    def as_dict(self) -> dict[str, Any]:
        value = None if self.value is None else round(self.value, 4)
        return {**asdict(self), "value": value, "verdict": self.verdict}


def dig(data: Mapping[str, Any] | None, *keys: str) -> Any:
    """``data[k1][k2]...`` or ``None`` when any level is missing (a failed or skipped step)."""
    for key in keys:
        if not isinstance(data, Mapping) or key not in data:
            return None
        data = data[key]
    return data


def ratio(num: float | None, den: float | None) -> float | None:
    """Unrounded, so a verdict never flips on display rounding."""
    if num is None or den is None or den == 0:
        return None
    return num / den


def fmt(value: Any) -> str:
    """Numbers at a precision that fits their size; ``—`` for a figure that is missing."""
    if value is None:
        return MISSING
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    size = abs(value)
    if size >= 1000:
        return f"{value:,.0f}"
    if size >= 100:
        return f"{value:.1f}"
    if size >= 10:
        return f"{value:.2f}"
    if size >= 1:
        return f"{value:.3f}"
    return f"{value:.4g}"


def paired_median(section: Mapping[str, Any] | None, key: str) -> float | None:
    """Median of the per-repeat ratios: each compares endpoints that ran seconds apart, so
    load that drifts between repeats cancels out, which a ratio of medians would not do."""
    values = dig(section, "paired", key)
    return float(statistics.median(values)) if values else None


def insert_targets(insert: Mapping[str, Any] | None) -> list[Target]:
    ep = dig(insert, "endpoints")
    sluice, null, lite = (dig(ep, name, "rows_per_s") for name in ("sluice", "null", "lite"))
    s_flush, l_flush = dig(ep, "sluice", "flush_s"), dig(ep, "lite", "flush_s")
    return [
        Target(
            "insert rows/s: Sluice / null ceiling",
            paired_median(insert, "sluice_over_null"),
            0.8,
            "min",
            f"medians {fmt(sluice)} / {fmt(null)} rows/s",
        ),
        Target(
            "insert rows/s: Sluice / milvus-lite",
            paired_median(insert, "sluice_over_lite"),
            2.0,
            "min",
            f"medians {fmt(sluice)} / {fmt(lite)} rows/s",
        ),
        Target(
            "flush s: milvus-lite / Sluice",
            paired_median(insert, "lite_flush_over_sluice_flush"),
            10.0,
            "min",
            f"medians {fmt(l_flush)} / {fmt(s_flush)} s",
        ),
    ]


def search_targets(search: Mapping[str, Any] | None) -> list[Target]:
    s = dig(search, "sluice", "endpoint")
    f = dig(search, "sluice", "faiss_hnsw")
    lite = dig(search, "lite", "endpoint")
    null = dig(search, "null_same_loop")
    s_qps, s_rec = dig(s, "search_qps"), dig(s, "recall_at_10")
    f_rec = dig(f, "recall_at_10")
    recall_gap = None if s_rec is None or f_rec is None else round(abs(s_rec - f_rec), 6)
    build, f_build = dig(s, "create_index_s"), dig(f, "build_s")
    batched, f_batched = dig(search, "sluice_batched", "search_qps"), dig(f, "search_qps_batched")
    inter = dig(search, "interleaved")
    i_sluice, i_null = dig(inter, "sluice", "search_qps"), dig(inter, "null", "search_qps")
    i_floor = dig(inter, "floor", "search_qps")
    return [
        Target(
            "search QPS: Sluice / null ceiling",
            ratio(s_qps, dig(null, "search_qps")),
            0.7,
            "min",
            f"{fmt(s_qps)} / {fmt(dig(null, 'search_qps'))} QPS",
        ),
        Target(
            "search QPS, interleaved loops: Sluice / null",
            paired_median(inter, "sluice_over_null"),
            0.7,
            "min",
            f"medians {fmt(i_sluice)} / {fmt(i_null)} QPS; FAISS floor {fmt(i_floor)}",
        ),
        Target(
            "search QPS: Sluice / milvus-lite",
            ratio(s_qps, dig(lite, "search_qps")),
            25.0,
            "min",
            f"{fmt(s_qps)} / {fmt(dig(lite, 'search_qps'))} QPS",
        ),
        Target(
            "recall@10: |Sluice − raw FAISS|",
            recall_gap,
            0.005,
            "max",
            f"{fmt(s_rec)} vs {fmt(f_rec)}",
        ),
        Target(
            "filtered recall@10: Sluice",
            dig(s, "filtered_recall_at_10"),
            0.98,
            "min",
            f"FAISS IDSelector: {fmt(dig(f, 'filtered_recall_at_10'))}",
        ),
        Target(
            "index build s: Sluice create_index / FAISS",
            ratio(build, f_build),
            1.2,
            "max",
            f"{fmt(build)} / {fmt(f_build)} s",
        ),
        Target(
            "batched QPS: Sluice 100/call / FAISS 1 call",
            ratio(batched, f_batched),
            0.5,
            "min",
            f"{fmt(batched)} / {fmt(f_batched)} QPS",
        ),
    ]


def targets(result: Mapping[str, Any]) -> list[Target]:
    out: list[Target] = []
    if "insert" in result:
        out += insert_targets(result["insert"])
    if "search" in result:
        out += search_targets(result["search"])
    return out


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: first column left-aligned, the figures right-aligned."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


def machine_section(machine: Mapping[str, Any]) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items())
    return "\n".join(
        [
            f"machine: {machine['cpus']} CPUs, {machine['platform']}, python {machine['python']}",
            f"loadavg: start {machine['loadavg_start']}  end {machine.get('loadavg_end')}",
            f"sluice commit: {machine['sluice_commit']}"
            + (" (uncommitted changes)" if machine.get("sluice_dirty") else ""),
            f"versions: {versions}",
        ]
    )


def insert_section(insert: Mapping[str, Any]) -> str:
    header = ["endpoint", "rows/s", "min", "max", "spread %", "flush s", "flush all"]
    rows = []
    for name, e in insert["endpoints"].items():
        all_rates = e.get("rows_per_s_all", [])
        rows.append(
            [
                name,
                fmt(e.get("rows_per_s")),
                fmt(min(all_rates, default=None)),
                fmt(max(all_rates, default=None)),
                fmt(e.get("rows_per_s_spread_pct")),
                fmt(e.get("flush_s")) if name != "null" else "(no flush)",
                " ".join(fmt(v) for v in e.get("flush_s_all", [])) or MISSING,
            ]
        )
    rows += [[name, f"ERROR {err}", "", "", "", "", ""] for name, err in insert["errors"].items()]
    paired = "; ".join(
        f"{k} {' '.join(fmt(v) for v in vs)} (median {fmt(statistics.median(vs))})"
        for k, vs in insert["paired"].items()
        if vs
    )
    title = (
        f"INSERT  {insert['n']:,} × {insert['dim']} rows in batches of {insert['batch']:,};"
        f" rows/s over time inside insert(); median of {insert['repeats']} run(s) each"
    )
    return "\n".join(
        [
            title,
            table(header, rows),
            f"requests byte-identical across endpoints: {insert['requests_identical']}",
            f"per-repeat ratios: {paired}",
        ]
    )


class Row(NamedTuple):
    """One search figure: where to find it for each column ("" = not measured there)."""

    label: str
    endpoint: str  # key in bench_milvus.py's "endpoint" dict (Sluice, milvus-lite)
    null: str = ""  # key in the null server's same-loop figures
    ceiling: str = ""  # key in ceiling.py's RESULT
    faiss: str = ""  # key in bench_milvus.py's "faiss_hnsw" reference


SEARCH_ROWS = [
    Row("search QPS (1 query/call)", "search_qps", "search_qps", "search_qps", "search_qps_single"),
    Row("search p50 ms", "search_p50_ms", "search_p50_ms", "search_p50_ms", "search_p50_ms"),
    Row("search p99 ms", "search_p99_ms", "search_p99_ms", faiss="search_p99_ms"),
    Row("recall@10", "recall_at_10", faiss="recall_at_10"),
    Row("filtered QPS (tag < 100)", "filtered_qps", faiss="filtered_qps_single"),
    Row("filtered p50 ms", "filtered_p50_ms", faiss="filtered_p50_ms"),
    Row("filtered recall@10", "filtered_recall_at_10", faiss="filtered_recall_at_10"),
    Row("create_index s (FAISS: build)", "create_index_s", faiss="build_s"),
    Row("index + load s", "index_plus_load_s"),
    Row("insert rows/s (bench_milvus)", "insert_rows_per_s", ceiling="insert_rows_per_s"),
    Row("flush s (bench_milvus)", "flush_s"),
    Row("get by id QPS (1 id/call)", "get_single_qps"),
]


def cell(data: Mapping[str, Any] | None, key: str) -> str:
    return fmt(dig(data, key)) if key else ""


def search_section(search: Mapping[str, Any]) -> str:
    s = dig(search, "sluice", "endpoint")
    lite = dig(search, "lite", "endpoint")
    null = dig(search, "null_same_loop")
    ceiling = dig(search, "null_ceiling")
    faiss = dig(search, "sluice", "faiss_hnsw")
    header = ["figure", "Sluice", "milvus-lite", "null (same loop)", "ceiling.py", "raw FAISS"]
    rows = [
        [
            row.label,
            cell(s, row.endpoint),
            cell(lite, row.endpoint),
            cell(null, row.null),
            cell(ceiling, row.ceiling),
            cell(faiss, row.faiss),
        ]
        for row in SEARCH_ROWS
    ]
    batched = dig(search, "sluice_batched")
    rows.append(
        [
            f"batched QPS ({dig(batched, 'batch') or 100}/call; FAISS: 1 call)",
            fmt(dig(batched, "search_qps")),
            "",
            "",
            "",
            fmt(dig(faiss, "search_qps_batched")),
        ]
    )
    rows.append(
        [
            "batched recall@10",
            fmt(dig(batched, "recall_at_10")),
            "",
            "",
            "",
            fmt(dig(faiss, "recall_at_10_batched")),
        ]
    )
    title = (
        f"SEARCH  {search['n']:,} rows, {search['nq']:,} queries, HNSW M=16 efC=200 ef=64,"
        f" top-10; repeats: Sluice {search['repeats']}, milvus-lite {search['lite_repeats']}"
    )
    errors = [
        f"ERROR {name}: {part['error']}"
        for name, part in search.items()
        if isinstance(part, Mapping) and "error" in part
    ]
    return "\n".join([title, table(header, rows), *interleaved_lines(search), *errors])


def interleaved_lines(search: Mapping[str, Any]) -> list[str]:
    """The interleaved single-query loops: QPS per endpoint and the per-round ratios."""
    inter = dig(search, "interleaved")
    if not isinstance(inter, Mapping) or "error" in inter:
        return []
    rows = [
        [name, fmt(dig(inter, name, "search_qps")), ", ".join(map(fmt, part["search_qps_all"]))]
        for name, part in inter.items()
        if name != "paired"
    ]
    for key, values in (dig(inter, "paired") or {}).items():
        median = float(statistics.median(values)) if values else None
        rows.append([key.replace("_over_", " / "), fmt(median), ", ".join(map(fmt, values))])
    title = "Single-query loops, interleaved (null, FAISS floor, Sluice in turns; medians)"
    return ["", title, table(["endpoint or ratio", "median", "per round"], rows)]


def targets_section(found: Sequence[Target]) -> str:
    header = ["target", "value", "goal", "verdict", "from"]
    rows = [
        [
            t.name,
            fmt(t.value),
            ("≥ " if t.kind == "min" else "≤ ") + fmt(t.threshold),
            t.verdict,
            t.detail,
        ]
        for t in found
    ]
    return "TARGETS (ratios from this run)\n" + table(header, rows)


def notes(result: Mapping[str, Any]) -> list[str]:
    """Warnings about figures that pass or fail for a reason other than speed."""
    out = []
    if dig(result, "insert", "requests_identical") is False:
        out.append(
            "insert requests differ between endpoints: the insert ratios are not like for like"
        )
    s = dig(result, "search", "sluice", "endpoint")
    f = dig(result, "search", "sluice", "faiss_hnsw")
    recall, f_recall = dig(s, "recall_at_10"), dig(f, "recall_at_10")
    build, f_build = dig(s, "index_plus_load_s"), dig(f, "build_s")
    looks_exact = (
        None not in (recall, f_recall, build, f_build)
        and recall == 1.0 > f_recall
        and build < 0.1 * f_build
    )
    if looks_exact:
        out.append(
            f"Sluice's search looks exact (recall@10 1.0 where FAISS HNSW gets {fmt(f_recall)},"
            f" index + load {fmt(build)} s against FAISS's {fmt(f_build)} s build):"
            " the index-build ratio does not measure an HNSW build"
        )
    return out


def render(result: Mapping[str, Any], found: Sequence[Target]) -> str:
    parts = [machine_section(result["machine"])]
    if "insert" in result:
        parts.append(insert_section(result["insert"]))
    if "search" in result:
        parts.append(search_section(result["search"]))
    parts.append(targets_section(found))
    parts += [f"NOTE {note}" for note in notes(result)]
    return "\n\n".join(parts)
