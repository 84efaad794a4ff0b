"""Reports of a simulation for people: Markdown, PNG plots and a Perfetto trace.

Generators return text or figures; ``write_outputs`` is the one place that
writes files, through the writer the CLI passes in.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def chrome_trace(events: list, clock_mhz: float) -> str:
    """Chrome trace-event JSON: one process per compute unit, one thread per unit or channel."""
    pids: dict[str, int] = {}
    tids: dict[tuple[str, str], int] = {}
    out = []
    us = 1.0 / clock_mhz
    for process, track, name, start, dur in events:
        pid = pids.setdefault(process, len(pids))
        tid = tids.setdefault((process, track), len(tids))
        out.append({"name": name, "cat": track, "ph": "X", "ts": start * us,
                    "dur": dur * us, "pid": pid, "tid": tid})
    for process, pid in pids.items():
        out.append({"name": "process_name", "ph": "M", "pid": pid, "tid": 0,
                    "args": {"name": process}})
    for (process, track), tid in tids.items():
        out.append({"name": "thread_name", "ph": "M", "pid": pids[process], "tid": tid,
                    "args": {"name": track}})
    return json.dumps({"traceEvents": out, "displayTimeUnit": "ns"})


def markdown(report: dict) -> str:
    """The report for a person: what the design achieves and why."""
    m, s, d, p = report["model"], report["schedule"], report["decode"], report["prefill"]
    w, e, b, r = report["power"], report["energy"], report["brain"], report["roofline"]
    lines = [
        f"# {m['name']} on {s['name']}", "",
        f"{s['clock_mhz']:g} MHz, {s['compute_units']} compute unit(s), {s['lanes']} "
        f"lane(s), TP={s['tp']}, weights in {s['weights']}; on the host (excluded): "
        f"{', '.join(s['host']) or 'nothing'}.", "",
        "## Throughput", "",
        "| figure | value |", "|---|---|",
        f"| decode tokens/s | {d['tokens_per_s']:,.2f} |",
        f"| decode tokens/s per lane | {d['tokens_per_s_per_lane']:,.2f} |",
        f"| cycles per decode step ({d['lanes']} lane(s)) | {d['cycles_per_step']:,.0f} |",
        f"| token latency | {d['latency_ms']:.3f} ms |",
        f"| time per block | {d['block_ms']:.3f} ms |",
        f"| prefill tokens/s (batch {p['batch']}) | {p['tokens_per_s']:,.1f} |",
        f"| prompt of {p['prompt_tokens']} tokens | {p['prompt_ms']:.2f} ms |", "",
        f"Prefill model: {p['model']}.", "",
        f"**Bottleneck:** {report['bottleneck']}. Roofline: {r['bound']}-bound at "
        f"{_intensity(r)}; achieved "
        f"{r['achieved_adds_per_s']:.3g} of an attainable {r['attainable_adds_per_s']:.3g} "
        f"adds/s ({r['fraction_of_roof']:.0%}).", "",
        "## Units", "",
        "| unit | utilization | share of active time | characterized | timing |",
        "|---|---|---|---|---|",
    ]
    for name, u in report["units"].items():
        lines.append(f"| {name} | {u['utilization']:.1%} | {u['share_of_active_time']:.1%} "
                     f"| {'yes' if u['characterized'] else '**no** (analytic)'} | "
                     f"{u['timing_source']} |")
    lines += [
        f"| dram | {report['memory']['utilization']:.1%} of {report['memory']['active_channels']} "
        f"active channel(s) | {report['memory']['stall_share_of_active_time']:.1%} waiting "
        "| | channel time streaming; units waiting for weights |", "",
    ]
    lines += _work_lines(report) + _fit_lines(report["fit"], report.get("warnings", []))
    lines += [
        "## Power and energy", "",
        f"Total {w['total_w']:.2f} W = static {w['static_w']:.2f} W ({w['static_source']}) "
        f"+ dynamic {w['dynamic_w']:.2f} W. **{e['joules_per_token']:.4g} J/token, "
        f"{e['tokens_per_joule']:.4g} tokens/J.**", "",
        "| action | per token | energy per token | source |", "|---|---|---|---|",
    ]
    for name, count in e["actions_per_token"].items():
        lines.append(f"| {name} | {count:.4g} | {e['dynamic_by_action_j'][name]:.3g} J | "
                     f"{e['sources'][name]} |")
    a = report["activity"]
    lines += [
        "", f"Activity: {a['source']}; activation density {a['activation_density']:.3f}, "
        f"weight density {a['weight_density']:.3f}.", "",
        f"Brain comparison: a human brain runs on about {b['brain_w']:g} W and reads about "
        f"{b['brain_tokens_per_s']:g} tokens/s ({b['brain_tokens_per_joule']:.2f} tokens/J); "
        f"this design is {b['design_over_brain_tokens_per_s']:.3g}x its throughput at "
        f"{b['power_over_brain']:.3g}x its power, {b['design_over_brain_tokens_per_joule']:.3g}x "
        "its tokens/J.", "",
    ]
    if "numerics" in report:
        n = report["numerics"]
        lines += ["## Numeric fidelity", "",
                  f"Fixed-point against float over {n['tokens']} tokens: top-1 agreement "
                  f"{n['top1_agreement']:.3f}, min cosine {n['cosine_min']:.5f}, max |err| "
                  f"{n['max_abs_err']:.3g}, overflows {n['overflow_count']}.", ""]
    else:
        lines += [f"Numerics: {report['sim']['numerics']} (timing only; no fidelity).", ""]
    lines += ["Plots: `units.png` (time per unit), `roofline.png`; trace: `trace.json` "
              "(open in ui.perfetto.dev).", ""]
    return "\n".join(lines)


def _intensity(roof: dict) -> str:
    x = roof["intensity_adds_per_byte"]
    return "no DRAM traffic" if x is None else f"{x:.1f} ternary adds per DRAM byte"


def _work_lines(report: dict) -> list[str]:
    """Per-token work of the accelerator and of the host, apart."""
    out = ["## Work per token", "", "| where | weights | ternary adds | row-wise ops |",
           "|---|---|---|---|"]
    for where in ("accelerator", "host"):
        w = report[where]
        out.append(f"| {where} | {w['weight_bytes_per_token'] / 1e6:,.2f} MB | "
                   f"{w['ternary_adds_per_token']:,} | {w['rowwise_ops_per_token']:,} |")
    return out + ["", "Time, energy and the fit count the accelerator only.", ""]


def _fit_lines(fit: dict, warnings: list) -> list[str]:
    """The device fit: each resource used against the budget, and what it rests on."""
    if fit["device"] is None:
        return ["## Device fit", "", fit["note"] + ".", ""]
    verdict = {True: "fits", False: "**does not fit**", None: "fit unknown"}[fit["fits"]]
    out = ["## Device fit", "", f"{fit['device']}: {verdict}. Basis: {fit['basis']}.", "",
           "| resource | used | available | utilization |", "|---|---|---|---|"]
    for key, r in fit["resources"].items():
        share = "" if r["utilization"] is None else f"{r['utilization']:.1%}"
        out.append(f"| {key} | {r['used']:,.0f} | {r['available']:,} | {share} |")
    out += ["", "Units: " + "; ".join(f"{name} x{u['instances']} ({u['basis']})"
                                     for name, u in fit["units"].items()) + "."]
    c, clock = fit["control"], fit["clock"]
    fmax = f"{clock['fmax_mhz']:g} MHz" if clock["fmax_mhz"] else "unknown"
    out += ["", f"Control allowance: {c['fraction']:g} of the units' LUTs and FFs "
                f"({c['source']}). Clock {clock['clock_mhz']:g} MHz against Fmax {fmax} "
                f"({clock['basis']}).", ""]
    out += [f"**Warning:** {w}" for w in warnings] + ([""] if warnings else [])
    return out


def units_figure(report: dict):
    """Bar chart: share of the active time each unit is busy and units wait for DRAM."""
    names = list(report["units"]) + ["dram wait"]
    values = [report["units"][u]["share_of_active_time"] for u in report["units"]]
    values.append(report["memory"]["stall_share_of_active_time"])
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar(names, [100 * v for v in values], color="tab:blue")
    ax.set_ylabel("% of active time busy")
    ax.set_title(f"{report['model']['name']} on {report['schedule']['name']}: time per unit")
    fig.tight_layout()
    return fig


def roofline_figure(report: dict):
    """The compute and bandwidth roofs in ternary adds/s, with this design on them."""
    r = report["roofline"]
    fig, ax = plt.subplots(figsize=(6, 4))
    peak = r["peak_adds_per_s"]
    x0 = r["intensity_adds_per_byte"]
    if x0 is not None:
        bw = r["bandwidth_bytes_per_s"]
        ridge = peak / bw
        xs = [min(x0 / 100, ridge / 10), max(x0 * 100, ridge * 10)]
        ax.plot([xs[0], ridge, xs[1]], [xs[0] * bw, peak, peak], color="k", label="roof")
        ax.plot([x0], [r["achieved_adds_per_s"]], "o", color="tab:red", label="this design")
        ax.set_xscale("log")
        ax.set_xlabel("ternary adds per DRAM byte")
    else:
        ax.axhline(peak, color="k", label="compute roof (no DRAM traffic)")
        ax.axhline(r["achieved_adds_per_s"], color="tab:red", ls="--", label="this design")
        ax.set_xticks([])
    ax.set_yscale("log")
    ax.set_ylabel("ternary adds / s")
    ax.legend()
    ax.set_title("roofline")
    fig.tight_layout()
    return fig


def write_outputs(folder: Path, report: dict, outcome, schedule, write) -> None:
    """report.md, units.png, roofline.png and trace.json into ``folder``."""
    write(folder / "report.md", lambda f: f.write(markdown(report).encode()))
    for name, make in (("units.png", units_figure), ("roofline.png", roofline_figure)):
        fig = make(report)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
        plt.close(fig)
        write(folder / name, lambda f, data=buf.getvalue(): f.write(data))
    trace = chrome_trace(outcome.trace, schedule.clock_mhz)
    write(folder / "trace.json", lambda f: f.write(trace.encode()))
