"""What a sweep leaves in its output folder, rebuilt from the store after every run.

``points.csv`` and ``points.parquet`` (every finished point, one row each,
Parquet through pyarrow), ``pareto.csv`` (the non-dominated feasible points of
each model), ``pareto.png`` (the front on every pair of objectives, infeasible
points grey) and ``summary.md`` (the best design per objective and the
``cosim.run`` line that reproduces it). Each file is written under a temporary
name and renamed, so a kill never leaves half a table.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
from pathlib import Path

import numpy as np

from cosim.sweep.spec import METRICS, Plan, Point


def table(plan: Plan, rows: list[dict]) -> list[dict]:
    """Flat records: model, axes, feasibility, metrics, the reproducing command."""
    front = pareto_keys(plan, rows)
    out = []
    for r in rows:
        point = Point(r["model"], tuple(r["values"].items()), r["key"])
        rec = {"key": r["key"], "model": Path(r["model"]).stem}
        rec.update({k: _cell(r["values"].get(k)) for k, _ in plan.axes})
        rec.update({"feasible": r["feasible"], "pareto": r["key"] in front,
                    "reason": r["reason"]})
        rec.update({m: r["metrics"].get(m) for m in plan.metrics})
        rec.update({"seconds": r["seconds"], "worker": r["worker"],
                    "command": plan.command(point)})
        out.append(rec)
    return out


def _cell(value):
    """A table cell: scalars as they are, lists and mappings as the JSON that --set takes."""
    return value if isinstance(value, (int, float, str, bool)) or value is None \
        else json.dumps(value)


def pareto_keys(plan: Plan, rows: list[dict]) -> set[str]:
    """Keys of the feasible points no other feasible point of the same model dominates."""
    names = list(plan.objectives)
    sign = np.array([1.0 if plan.objectives[m] == "min" else -1.0 for m in names])
    front: set[str] = set()
    for model in plan.models:
        mine = [r for r in rows if r["model"] == model and r["feasible"]
                and all(r["metrics"].get(m) is not None for m in names)]
        if not mine:
            continue
        v = np.array([[r["metrics"][m] for m in names] for r in mine]) * sign
        for i, r in enumerate(mine):
            dominated = np.any(np.all(v <= v[i], axis=1) & np.any(v < v[i], axis=1))
            if not dominated:
                front.add(r["key"])
    return front


def write_all(out: Path, plan: Plan, rows: list[dict]) -> dict[str, Path]:
    """Write every output file; returns them by name."""
    records = table(plan, rows)
    files = {"points.csv": _csv(records),
             "pareto.csv": _csv([r for r in records if r["pareto"]]),
             "points.parquet": _parquet(records),
             "pareto.png": _plot(plan, records),
             "summary.md": summary(plan, records).encode()}
    for name, data in files.items():
        _atomic(out / name, data)
    return {name: out / name for name in files}


def _atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _csv(records: list[dict]) -> bytes:
    buf = io.StringIO()
    if records:
        w = csv.DictWriter(buf, fieldnames=list(records[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(records)
    return buf.getvalue().encode()


def _parquet(records: list[dict]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pylist(records), buf)
    return buf.getvalue().to_pybytes()


def _plot(plan: Plan, records: list[dict]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(plan.objectives)
    pairs = list(itertools.combinations(names, 2)) or [(names[0], names[0])]
    fig, axes = plt.subplots(1, len(pairs), figsize=(5.2 * len(pairs), 4.4), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (x, y) in zip(axes[0], pairs):
        bad = [r for r in records if not r["feasible"] and r[x] is not None
               and r[y] is not None]
        if bad:
            ax.scatter([r[x] for r in bad], [r[y] for r in bad], s=8, c="0.8",
                       label="infeasible")
        for i, model in enumerate(sorted({r["model"] for r in records})):
            c = colours[i % len(colours)]
            ok = [r for r in records if r["model"] == model and r["feasible"]
                  and r[x] is not None and r[y] is not None]
            ax.scatter([r[x] for r in ok], [r[y] for r in ok], s=10, color=c, alpha=0.35)
            front = sorted((r for r in ok if r["pareto"]), key=lambda r: r[x])
            ax.plot([r[x] for r in front], [r[y] for r in front], "o-", color=c, ms=4,
                    label=f"{model} front")
        for axis, name, setter in ((ax.xaxis, x, ax.set_xscale), (ax.yaxis, y, ax.set_yscale)):
            vals = [r[name] for r in records if r[name] and r[name] > 0]
            if vals and max(vals) / min(vals) > 100:
                setter("log")
        ax.set_xlabel(f"{x} ({plan.objectives[x]}imise)")
        ax.set_ylabel(f"{y} ({plan.objectives[y]}imise)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"sweep {plan.name}: Pareto front per model")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def summary(plan: Plan, records: list[dict]) -> str:
    """Markdown: counts, the best design per objective per model, and its cosim.run line."""
    feasible = [r for r in records if r["feasible"]]
    reasons: dict[str, int] = {}
    for r in records:
        for part in r["reason"].split("; ") if not r["feasible"] else ():
            # "invalid: ...", "does not fit: ..." or "power_w 230 > max 225" -> "power_w > 225"
            head = part.split(":")[0] if ":" in part else " ".join(part.split()[::2])
            reasons[head] = reasons.get(head, 0) + 1
    lines = [f"# Sweep {plan.name}", "",
             f"{len(records)} points evaluated ({plan.size:,} in the full product of "
             f"{len(plan.models)} model(s) and {len(plan.axes)} axes, sampler "
             f"{plan.sampler.kind}); {len(feasible)} feasible"
             + (", infeasible: " + ", ".join(f"{n} {k}" for k, n in sorted(reasons.items()))
                if reasons else "") + ".", ""]
    axes = [k for k, _ in plan.axes]
    for model in sorted({r["model"] for r in records}):
        mine = [r for r in feasible if r["model"] == model]
        lines += [f"## {model}", ""]
        if not mine:
            lines += ["No feasible point.", ""]
            continue
        lines += ["| objective | best | design | reproduce |", "|---|---|---|---|"]
        for m, direction in plan.objectives.items():
            have = [r for r in mine if r[m] is not None]
            if not have:
                continue
            sign = 1 if direction == "min" else -1      # ties: a point of the front
            best = min(have, key=lambda r: (sign * r[m], not r["pareto"]))
            design = ", ".join(f"{k.split('.', 1)[1]}={best[k]}" for k in axes)
            lines.append(f"| {direction} {m} | {best[m]:.4g} | {design} | "
                         f"`{best['command']}` |")
        front = [r for r in mine if r["pareto"]]
        lines += ["", f"Pareto front ({len(front)} points):", "",
                  "| " + " | ".join([k.split(".", 1)[1] for k in axes] + list(plan.objectives))
                  + " |", "|" + "---|" * (len(axes) + len(plan.objectives))]
        for r in sorted(front, key=lambda r: r[next(iter(plan.objectives))])[:40]:
            lines.append("| " + " | ".join([str(r[k]) for k in axes]
                                           + [f"{r[m]:.4g}" for m in plan.objectives]) + " |")
        lines.append("")
    lines += ["Metrics: " + "; ".join(f"{m} = {METRICS[m].doc} (`{METRICS[m].path}`)"
                                      for m in plan.metrics), ""]
    return "\n".join(lines)
