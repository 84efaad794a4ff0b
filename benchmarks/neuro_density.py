"""J/token of the 370M model on Loihi 2 against the activation density.

Run: ``PYTHONPATH=. python benchmarks/neuro_density.py``. Timing and events
from stated densities (``--numerics off``): int8 activations spike with the
given probability, weights are nonzero with the schedule's 0.69. Prints a
Markdown table (the README reproduces it).
"""

from __future__ import annotations

from pathlib import Path

from cosim.config import load_model, load_schedule, parse_overrides
from cosim.graph import build_graph
from cosim.neuro import simulate

ROOT = Path(__file__).resolve().parents[1]
DENSITIES = (1.0, 0.98, 0.8, 0.6, 0.4, 0.2, 0.1)


def main() -> None:
    cfg = load_model(ROOT / "models" / "mmfree-370m.yaml")
    graph = build_graph(cfg)
    print("| activation density | synaptic ops per token | tokens/s (pipeline full) "
          "| W | J/token | dynamic J/token | static J/token |")
    print("|---|---|---|---|---|---|---|")
    for density in DENSITIES:
        schedule = load_schedule(ROOT / "schedules" / "loihi2.yaml", parse_overrides(
            [f"schedule.activity.activation_density={density}"]))
        r = simulate(graph, cfg, schedule).report
        e = r["energy"]
        print(f"| {density:g} | {e['actions_per_token']['synaptic_op']:.3g} | "
              f"{r['decode']['tokens_per_s']:,.0f} | {r['power']['total_w']:.2f} | "
              f"{e['joules_per_token']:.4f} | {e['dynamic_joules_per_token']:.4f} | "
              f"{e['static_joules_per_token']:.4f} |", flush=True)


if __name__ == "__main__":
    main()
