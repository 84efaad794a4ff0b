"""The neuromorphic model against SANA-FE, on the same mapped network and the same spikes.

Run: ``PYTHONPATH=. python benchmarks/neuro_sanafe.py``. Prints a Markdown table
(the README reproduces it): the tiny model and one-block slices growing to
the 370M model's widths (a 256-token vocabulary, so that lm_head stays small),
one time step with every pipeline stage busy, on the fixed-point values of
one token. SANA-FE runs with unbounded link buffers (as the project's model)
and, where its "detailed" timing model is used (steps of up to 20,000
messages), with the 16-message buffers of its Loihi preset; larger steps use
its "simple" model. The 370M block needs about 7 GB of memory in SANA-FE.
"""

from __future__ import annotations

import time
from pathlib import Path

from cosim.config import load_model, load_schedule, parse_overrides
from cosim.graph import build_graph
from cosim.neuro.sanafe_check import cross_check
from cosim.numerics.engines import FixedEngine
from cosim.weights import PreparedWeights, RandomWeights

ROOT = Path(__file__).resolve().parents[1]
SLICE = ("model.num_hidden_layers=1", "model.vocab_size=256", "model.intermediate_size=null")
CASES = [("tiny (4 blocks, H=64)", "tiny", ()),
         ("1 block, H=256", "mmfree-370m", SLICE + ("model.hidden_size=256",)),
         ("1 block, H=512", "mmfree-370m", SLICE + ("model.hidden_size=512",)),
         ("370M, 1 block (H=1024)", "mmfree-370m", SLICE)]


def main() -> None:
    schedule = load_schedule(ROOT / "schedules" / "loihi2.yaml")
    print("| network | cores | synaptic ops | messages | cosim energy uJ | SANA-FE uJ "
          "| energy diff | cosim step us | SANA-FE us | time diff (SANA-FE model) | SANA-FE us, "
          "Loihi buffers | time diff | wall s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for label, model, sets in CASES:
        cfg = load_model(ROOT / "models" / f"{model}.yaml", parse_overrides(list(sets)))
        graph = build_graph(cfg, schedule.numerics)
        engine = FixedEngine(graph, cfg, PreparedWeights(cfg, RandomWeights(cfg)),
                             schedule.numerics)
        wall = time.perf_counter()
        c = cross_check(graph, cfg, schedule, engine, [5])
        wall = time.perf_counter() - wall
        ours, theirs = c["cosim"], c["sanafe"]
        blocked = (f"{c['sanafe_time_s_loihi_link_buffers'] * 1e6:.1f} | "
                   f"{c['time_error_loihi_link_buffers']:+.1%}"
                   if "time_error_loihi_link_buffers" in c else "not run | ")
        assert all(ours["counts"][k] == theirs["counts"][k] for k in theirs["counts"])
        print(f"| {label} | {c['cores']} | {ours['counts']['synaptic_op']:,.0f} | "
              f"{ours['counts']['message_out']:,.0f} | {ours['energy_j'] * 1e6:.2f} | "
              f"{theirs['energy_j'] * 1e6:.2f} | {c['energy_error']:+.1%} | "
              f"{ours['time_s'] * 1e6:.1f} | {theirs['time_s'] * 1e6:.1f} | "
              f"{c['time_error']:+.1%} ({theirs['timing_model']}) | {blocked} | {wall:.0f} |",
              flush=True)


if __name__ == "__main__":
    main()
