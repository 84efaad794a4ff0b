"""Design points per minute of ``cosim.sweep`` with 1 and 2 local Dask workers.

The 370M model on the axes of sweeps/u250.yaml, timing only (no prefill, no
fidelity): ``--points`` points drawn at random from that product (seed 0) are
evaluated after each worker has warmed its caches on a few points; the figure
is finished points per minute of wall time, store commits included. Startup
(cluster and imports) is printed separately. The machine is shared, so the load
average is printed too, and the CPU time of one point, measured in this process
without Dask, gives the rate an idle core would reach.

    PYTHONPATH=. python benchmarks/sweep_speed.py [--points 600]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import yaml

from cosim.sweep.engine import Engine
from cosim.sweep.evaluate import Evaluator
from cosim.sweep.sample import sampler
from cosim.sweep.spec import plan as make_plan
from cosim.sweep.store import Store

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=600)
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args()
    data = yaml.safe_load((ROOT / "sweeps/u250.yaml").read_text())
    data["models"] = [str(ROOT / "models/mmfree-370m.yaml")]
    data["schedule"] = str(ROOT / "schedules/u250-ternip.yaml")
    data["sampler"] = {"kind": "random", "count": args.points, "seed": 0}
    print("| workers | points | startup s | points/min | s/point/worker | load average |")
    print("|---|---|---|---|---|---|")
    for workers in map(int, args.workers.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "sweep.yaml"
            path.write_text(yaml.safe_dump(data))
            plan = make_plan(path)
            points = next(sampler(plan))
            store = Store(Path(tmp) / "store.sqlite", plan.name)
            engine = Engine(plan, store, workers=workers)
            t0 = time.perf_counter()
            engine.start()
            warm = 4 * workers
            engine.run(points[:warm], lambda row: None)
            startup = time.perf_counter() - t0
            t1 = time.perf_counter()
            engine.run(points[warm:], lambda row: None)
            wall = time.perf_counter() - t1
            engine.close()
            store.close()
            n = len(points) - warm
            print(f"| {workers} | {n} | {startup:.1f} | {n / wall * 60:,.0f} | "
                  f"{wall * workers / n:.3f} | {os.getloadavg()[0]:.1f} |")
    evaluator = Evaluator(plan)
    evaluator.evaluate(points[0])
    cpu = time.process_time()
    for point in points:
        evaluator.evaluate(point)
    cpu = (time.process_time() - cpu) / len(points)
    print(f"\nCPU time of one point, one process without Dask: {cpu * 1e3:.1f} ms "
          f"({60 / cpu:,.0f} points/min per idle core)")


if __name__ == "__main__":
    main()
