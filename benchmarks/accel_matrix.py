"""The accelerator's full proof matrix: whole tokens in Icarus and Verilator, bit for bit.

    PYTHONPATH=. python benchmarks/accel_matrix.py [OUT.jsonl] [--simulators icarus,verilator]
                                                   [--seeds 1,2,3]

models/tiny.yaml (4 layers, H=64) with three random checkpoints
(``python -m cosim.checkpoint``, seeds 1, 2, 3) x both MLGRU variants, 8 tokens
with state carried, 2 lanes decoding different tokens, weights streamed with
random back-pressure on every port; each design runs in Verilator and Icarus.
A Verilator rerun without back-pressure gives the cycles per token held against
the SimPy prediction. Every finished run is appended to OUT.jsonl (default
accel_matrix.jsonl) at once, and runs already there are skipped, so the run
resumes after a kill. ``--simulators verilator`` re-proves a changed design in
minutes; Icarus takes about 30 s a token (measured at ca5ea60).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from cosim.checkpoint import load_checkpoint
from cosim.checkpoint.make import main as make_checkpoint
from cosim.config import load_model, load_schedule, parse_overrides
from cosim.weights import PreparedWeights
from rtl.accel import bench
from rtl.accel.build import make

SCHEDULE = "schedules/ecp5-85k.yaml"
TOKENS = [3, 250, 17, 17, 99, 0, 128, 64]
VARIANTS = {"released": [], "paper": ["model.variant=paper", "model.use_lower_bound=false"]}


def point(seed: int, variant: str, work: Path, simulators: list[str]):
    """Each of ``simulators`` on one checkpoint and variant: yields a row per run."""
    sets = VARIANTS[variant]
    ckpt = work / f"ckpt{seed}{variant}"
    argv = ["models/tiny.yaml", str(ckpt), "--seed", str(seed)]
    for s in sets:
        argv += ["--set", s]
    if make_checkpoint(argv):
        raise SystemExit("checkpoint failed")
    ov = parse_overrides(["schedule.lanes=2", *sets])
    checkpoint = load_checkpoint(ckpt)
    cfg = load_model("models/tiny.yaml", ov, checkpoint.model_fields())
    sch = load_schedule(SCHEDULE, ov)
    b = make(cfg, sch, PreparedWeights(cfg, checkpoint), TOKENS)
    folder = work / f"d{seed}{variant}"
    folder.mkdir()
    for name, text in b.files.items():
        (folder / name).write_text(text)
    sources = [f"{bench.BENCH_NAME}.v", *b.sources]
    for sim in simulators:
        run = bench.run(folder, sources, sim, backpressure=True)
        row = {"seed": seed, "variant": variant, "simulator": sim, "tokens": len(TOKENS),
               "lanes": 2, "backpressure": True, "bit_exact": run.passed,
               "build_s": round(run.build_s, 2), "run_s_per_token": run.run_s / len(TOKENS),
               "cycles_per_token_with_backpressure": run.cycles[-1] / len(TOKENS)
               if run.cycles else None, "simpy_cycles_per_token": b.predicted}
        if sim == "verilator":
            ideal = bench.run(folder, sources, sim, backpressure=False, build=False)
            row["cycles_per_token"] = ideal.cycles[-1] / len(TOKENS)
            row["bit_exact_without_backpressure"] = ideal.passed
        yield row


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", nargs="?", default="accel_matrix.jsonl", type=Path)
    parser.add_argument("--simulators", default="verilator,icarus")
    parser.add_argument("--seeds", default="1,2,3", help="checkpoint seeds (split a run "
                        "over processes, each with its own OUT)")
    args = parser.parse_args(argv)
    out = args.out
    done = set()
    if out.exists():
        for line in out.read_text().splitlines():
            r = json.loads(line)
            done.add((r["seed"], r["variant"], r["simulator"]))
    with tempfile.TemporaryDirectory() as tmp:
        for seed in (int(x) for x in args.seeds.split(",")):
            for variant in VARIANTS:
                todo = [s for s in args.simulators.split(",") if (seed, variant, s) not in done]
                if not todo:
                    continue
                for row in point(seed, variant, Path(tmp), todo):
                    with open(out, "a") as f:
                        f.write(json.dumps(row, sort_keys=True) + "\n")
                    print(json.dumps(row, sort_keys=True), flush=True)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    print(f"{sum(r['bit_exact'] for r in rows)} of {len(rows)} runs bit-exact")
    return 0 if all(r["bit_exact"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
