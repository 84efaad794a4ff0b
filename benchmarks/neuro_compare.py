"""370M side by side: FPGA designs, Loihi 2, the H100 anchor and the brain.

Run: ``PYTHONPATH=. python benchmarks/neuro_compare.py``. Simulated rows come
from this project (timing only, stated densities, random ternary weights of the
released layout); measured and published rows are quoted with their source
(see /work/shared/anchors.md in the project notes). Prints a Markdown table.
"""

from __future__ import annotations

from pathlib import Path

from cosim.config import load_model, load_schedule, parse_overrides
from cosim.graph import build_graph
from cosim.neuro import simulate as simulate_neuro
from cosim.sim import simulate as simulate_fpga

ROOT = Path(__file__).resolve().parents[1]

#: (design, tokens/s, W, J/token, kind, source) quoted, not simulated
QUOTED = [
    ("ternip on U250, 48 lanes (silicon)", 3711.77, 53.35, 0.01437, "measured (by others)",
     "ternip build notes, board power sensors"),
    ("H100, batch 1", 881, 881 * 0.243, 0.243, "measured",
     "H100 board energy counter, bf16, CUDA graph (project anchors)"),
    ("H100, batch 32", 27124, 27124 * 0.0091, 0.0091, "measured",
     "H100 board energy counter, bf16, CUDA graph (project anchors)"),
    ("human brain", 4.0, 20.0, 5.0, "published (estimate)",
     "about 20 W; a few tokens/s of silent reading"),
]


def _fpga(schedule: str, sets: tuple[str, ...]) -> tuple[float, float, float]:
    overrides = parse_overrides(list(sets))
    cfg = load_model(ROOT / "models" / "mmfree-370m.yaml", overrides)
    sch = load_schedule(ROOT / "schedules" / f"{schedule}.yaml", overrides)
    r = simulate_fpga(build_graph(cfg, sch.numerics), cfg, sch).report
    return r["decode"]["tokens_per_s"], r["power"]["total_w"], r["energy"]["joules_per_token"]


def _loihi(sets: tuple[str, ...]) -> tuple[float, float, float]:
    overrides = parse_overrides(list(sets))
    cfg = load_model(ROOT / "models" / "mmfree-370m.yaml", overrides)
    sch = load_schedule(ROOT / "schedules" / "loihi2.yaml", overrides)
    r = simulate_neuro(build_graph(cfg, sch.numerics), cfg, sch).report
    return r["decode"]["tokens_per_s"], r["power"]["total_w"], r["energy"]["joules_per_token"]


def main() -> None:
    rows = [
        ("U250 ternip schedule, 1 lane", *_fpga("u250-ternip", ()), "simulated",
         "schedules/u250-ternip.yaml (1-lane throughput FIT)"),
        ("U250 ternip schedule, 45 lanes", *_fpga("u250-ternip", ("schedule.lanes=45",)),
         "simulated", "schedules/u250-ternip.yaml (board power FIT)"),
        ("U250 u250-max design, 48 lanes (the best FPGA design here)",
         *_fpga("u250-max", ()), "simulated",
         "schedules/u250-max.yaml (not calibrated)"),
        ("Loihi 2, 413 sequences in flight", *_loihi(()), "simulated",
         "schedules/loihi2.yaml (Loihi 1 event figures)"),
        ("Loihi 2, one sequence", *_loihi(("schedule.sequences=1",)), "simulated",
         "schedules/loihi2.yaml (Loihi 1 event figures)"),
        *QUOTED,
    ]
    print("| design (370M) | tokens/s | W | J/token | kind | source |")
    print("|---|---|---|---|---|---|")
    for name, tps, w, jpt, kind, source in rows:
        print(f"| {name} | {tps:,.1f} | {w:.1f} | {jpt:.4g} | {kind} | {source} |")


if __name__ == "__main__":
    main()
