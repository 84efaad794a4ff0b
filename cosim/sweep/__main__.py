"""``python -m cosim.sweep SWEEP.yaml``: evaluate a design space on Dask and find its Pareto front.

Checks the whole sweep file first (exit 2 with one line on a bad key or value),
opens or creates the store in the output folder, evaluates the points not yet
stored (resuming any earlier run), and writes the tables, the front, its plot
and a summary. ``--scheduler ADDRESS`` runs the same tasks on an existing Dask
cluster instead of a local one.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from cosim.errors import CosimError
from cosim.sweep.engine import Engine
from cosim.sweep.outputs import write_all
from cosim.sweep.sample import sampler
from cosim.sweep.spec import plan as make_plan
from cosim.sweep.store import Store

STORE = "store.sqlite"


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``cosim.sweep``."""
    p = argparse.ArgumentParser(
        prog="python -m cosim.sweep",
        description="Evaluate a design space on Dask; find its Pareto front.")
    p.add_argument("sweep", type=Path, help="sweep YAML (sweeps/*.yaml)")
    p.add_argument("--out", type=Path, help="output folder (default: sweep-NAME)")
    p.add_argument("--workers", type=int, help="local Dask worker processes (default: cores)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="use the Dask cluster of this scheduler (tcp://host:port)")
    p.add_argument("--chunk", type=int, default=4, help="points per Dask task, at most")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress")
    return p


def run(args: argparse.Namespace) -> tuple[Path, dict, int]:
    """Do the sweep; returns the output folder, its files, and how many points ran now."""
    plan = make_plan(args.sweep)
    if args.workers is not None and args.workers < 1:
        raise CosimError(f"--workers must be a positive count, not {args.workers}")
    out = args.out or Path(f"sweep-{plan.name}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CosimError(f"cannot create {out}: {exc.strerror or exc}") from None
    store = Store(out / STORE, plan.name)
    engine = Engine(plan, store, scheduler=args.scheduler, workers=args.workers,
                    chunk=max(1, args.chunk))
    total = plan.sampler.count if plan.sampler.kind != "grid" else plan.size
    total = min(total, plan.size)
    bar = None
    evaluated = 0
    wanted: set[str] = set()        # this plan's points (the store may hold older ones)
    try:
        batches = sampler(plan)
        rows = None
        while True:
            try:
                batch = batches.send(rows) if rows is not None else next(batches)
            except StopIteration:
                break
            known = store.keys()
            wanted.update(p.key for p in batch)
            stored = sum(1 for k in {p.key for p in batch} if k in known)
            if bar is None:      # points already stored do not count towards the rate
                bar = _bar(total, stored, args.no_progress)
            else:
                bar.update(stored)
            start, count = time.perf_counter(), evaluated

            def done(row: dict) -> None:
                nonlocal evaluated
                evaluated += 1
                rate = (evaluated - count) / max(time.perf_counter() - start, 1e-9) * 60
                bar.set_postfix_str(f"{rate:,.0f} points/min", refresh=False)
                bar.update(1)

            rows = engine.run(batch, done)
    finally:
        if bar is not None:
            bar.close()
        engine.close()
    files = write_all(out, plan, [r for r in store.rows() if r["key"] in wanted])
    store.close()
    return out, files, evaluated


def _bar(total: int, initial: int, quiet: bool):
    """Points done of the total, points/min (as a postfix) and the ETA, on a terminal."""
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="pt", disable=quiet or None,
                dynamic_ncols=True, smoothing=0.1,
                bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]")


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 on success, 2 on bad input (one line on stderr)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(message)s")
    try:
        out, files, evaluated = run(args)
    except CosimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{evaluated} point(s) evaluated now; outputs in {out}/: "
          + ", ".join(sorted(files)))
    print((out / "summary.md").read_text().split("\n## ", 1)[0].strip().splitlines()[-1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
