"""How fast the simulator runs: one decode token (timing only) per model size.

Run: ``PYTHONPATH=. python benchmarks/sim_speed.py``. Prints a Markdown table
of wall time, SimPy events and graph nodes per decode step; the time per
event stays constant, so cost grows linearly with the work (the nodes of the
graph, times lanes in the dataflow policy).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from cosim.config import load_model, load_schedule, parse_overrides
from cosim.graph import build_graph
from cosim.sim.platform import lane_program, unit_timings
from cosim.sim.records import Records
from cosim.sim.simulator import Simulator

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("mmfree-370m", "mmfree-1.3b", "mmfree-2.7b")
CASES = (("u250-ternip", ()), ("u250-ternip", ("schedule.lanes=45",)), ("u250-max", ()))


def time_step(model: str, schedule: str, sets: tuple[str, ...], repeats: int = 5):
    """(median seconds, events, nodes, total seconds incl. graph build) of one decode step."""
    overrides = parse_overrides(list(sets))
    t0 = time.perf_counter()
    cfg = load_model(ROOT / "models" / f"{model}.yaml", overrides)
    sch = load_schedule(ROOT / "schedules" / f"{schedule}.yaml", overrides)
    graph = build_graph(cfg, sch.numerics)
    timings = unit_timings(sch, Records.load(sch.characterization))
    sim = Simulator(lane_program(graph, sch, cfg, timings), sch)
    setup = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step = sim.step()
        times.append(time.perf_counter() - start)
    return statistics.median(times), step.events, graph.number_of_nodes(), setup


def main() -> None:
    print("| model | schedule | lanes | graph nodes | events | step s | us/event | "
          "graph+setup s |")
    print("|---|---|---|---|---|---|---|---|")
    for schedule, sets in CASES:
        for model in MODELS:
            sec, events, nodes, setup = time_step(model, schedule, sets)
            lanes = sets[0].split("=")[1] if sets else load_schedule(
                ROOT / "schedules" / f"{schedule}.yaml").lanes
            print(f"| {model} | {schedule} | {lanes} | {nodes} | {events} | {sec:.4f} | "
                  f"{1e6 * sec / events:.1f} | {setup:.3f} |")


if __name__ == "__main__":
    main()
