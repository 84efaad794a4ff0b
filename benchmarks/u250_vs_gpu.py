"""Does a design that fits the U250 beat an H100 at equal batch? Read from a sweep's points.

For each batch the H100 was measured at (lanes = batch), the feasible point of
``sweeps/u250.yaml`` with the lowest J/token for 370M, against the H100's
J/token (../shared/anchors.md: random ternary 370M weights, int8, torch.compile,
CUDA graph, board energy counter). Where the FPGA loses, the static power at
which it would tie (at its simulated throughput and dynamic energy), and the
throughput it would need at its simulated power.

    python -m cosim.sweep sweeps/u250.yaml --out sweep-u250
    PYTHONPATH=. python benchmarks/u250_vs_gpu.py sweep-u250/points.csv
"""

from __future__ import annotations

import csv
import sys

#: H100, 370M, int8 weights where measured (batch 1 is bf16): batch -> (tokens/s, J/token)
H100 = {1: (881, 0.243), 32: (27_555, 0.0081), 48: (40_594, 0.0056), 128: (102_602, 0.0028)}


def main(path: str) -> None:
    rows = [r for r in csv.DictReader(open(path)) if r["model"] == "mmfree-370m"
            and r["feasible"] == "True"]
    print("| batch | H100 tokens/s | H100 J/token | best U250 design | U250 tokens/s | "
          "U250 W | U250 J/token | U250 / H100 J | static W to tie | tokens/s to tie |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for batch, (gpu_tps, gpu_j) in H100.items():
        mine = [r for r in rows if int(float(r["lanes"])) == batch]
        if not mine:
            print(f"| {batch} | {gpu_tps:,} | {gpu_j} | no feasible design | | | | | | |")
            continue
        best = min(mine, key=lambda r: float(r["joules_per_token"]))
        tps, watts = float(best["tokens_per_s"]), float(best["power_w"])
        j, dyn = float(best["joules_per_token"]), float(best["dynamic_joules_per_token"])
        design = ", ".join(f"{k.split('.')[-1]}={best[k]}" for k in best
                           if k.startswith("schedule.") and k != "schedule.lanes")
        tie_static = (gpu_j - dyn) * tps
        print(f"| {batch} | {gpu_tps:,} | {gpu_j} | {design} | {tps:,.0f} | {watts:.1f} | "
              f"{j:.4g} | {j / gpu_j:.2f}x | "
              f"{f'{tie_static:.1f}' if tie_static > 0 else 'none (dynamic alone loses)'} | "
              f"{watts / gpu_j:,.0f} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "sweep-u250/points.csv")
