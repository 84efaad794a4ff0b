"""Device fit of every FPGA schedule: resources used against the part's budgets.

Run: ``PYTHONPATH=. python benchmarks/fit_table.py``. Prints a Markdown table
(the README's "Device fit" section reproduces it): per schedule and model, the
utilisation of each budget, the clock against the Fmax it is checked with, and
whether the design fits. Timing only (no numerics), so it takes seconds.
"""

from __future__ import annotations

from pathlib import Path

from cosim.config import load_model, load_schedule, parse_overrides
from cosim.graph import build_graph
from cosim.sim import simulate

ROOT = Path(__file__).resolve().parents[1]

#: (schedule, model, --set overrides)
ROWS = [
    ("ecp5-85k", "mmfree-370m", ()),
    ("ecp5-85k", "mmfree-1.3b", ()),
    ("d5005-paper", "mmfree-370m", ()),
    ("u250-ternip", "mmfree-370m", ()),
    ("u250-ternip", "mmfree-370m", ("schedule.lanes=[14,14,14,6]",)),
    ("u250-ternip", "mmfree-370m", ("schedule.lanes=300", "schedule.clock_mhz=5000")),
    ("u250-max", "mmfree-370m", ()),
]
KEYS = ("lut", "ff", "dsp", "bram", "onchip_bytes", "dram_bytes")


def fit_of(schedule: str, model: str, sets: tuple[str, ...]) -> tuple[dict, list[str]]:
    """The fit section and warnings of one configuration."""
    overrides = parse_overrides(list(sets))
    cfg = load_model(ROOT / "models" / f"{model}.yaml", overrides)
    sch = load_schedule(ROOT / "schedules" / f"{schedule}.yaml", overrides)
    report = simulate(build_graph(cfg, sch.numerics), cfg, sch).report
    return report["fit"], report["warnings"]


def main() -> None:
    """Print the table."""
    print("| schedule | model | --set | " + " | ".join(KEYS)
          + " | clock / Fmax MHz | fits | warnings |")
    print("|---|---|---|" + "---|" * len(KEYS) + "---|---|---|")
    for schedule, model, sets in ROWS:
        fit, warnings = fit_of(schedule, model, sets)
        shares = " | ".join(f"{fit['resources'][k]['utilization']:.1%}" for k in KEYS)
        c = fit["clock"]
        fmax = f"{c['fmax_mhz']:g} ({c['limited_by']})" if c["fmax_mhz"] else "?"
        print(f"| {schedule} | {model} | {' '.join(sets)} | {shares} | "
              f"{c['clock_mhz']:g} / {fmax} | {fit['fits']} | {len(warnings)} |")


if __name__ == "__main__":
    main()
