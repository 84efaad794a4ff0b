"""How golden-vs-float fidelity on models/tiny.yaml moves with the numeric formats.

Runs 64 random tokens through the float reference and the fixed-point golden
model for each setting and prints top-1 agreement, minimum cosine and overflow
counts as a Markdown table.

    python benchmarks/fidelity_table.py
"""

import numpy as np

from cosim.config import load_model, load_schedule, parse_overrides
from cosim.graph import build_graph
from cosim.numerics.engines import FixedEngine, FloatEngine
from cosim.numerics.fidelity import compare
from cosim.weights import PreparedWeights, RandomWeights

N = "schedule.numerics."
SETTINGS = [
    ("default (8-bit act, Q7.16, PWL 5)", []),
    ("activation 4 bits", [f"{N}activation_bits=4"]),
    ("activation 6 bits", [f"{N}activation_bits=6"]),
    ("activation 10 bits", [f"{N}activation_bits=10"]),
    ("sigmoid PWL 1 segment", [f"{N}sigmoid.segments=1"]),
    ("sigmoid PWL 3 segments", [f"{N}sigmoid.segments=3"]),
    ("sigmoid PWL 8 segments", [f"{N}sigmoid.segments=8"]),
    ("sigmoid LUT 64", [f"{N}sigmoid.method=lut", f"{N}sigmoid.lut_entries=64"]),
    ("sigmoid LUT 1024", [f"{N}sigmoid.method=lut", f"{N}sigmoid.lut_entries=1024"]),
    ("row-wise Q5.10 (16 bits)", [f"{N}rowwise.bits=16", f"{N}rowwise.frac=10"]),
    ("row-wise Q3.12 (16 bits)", [f"{N}rowwise.bits=16", f"{N}rowwise.frac=12"]),
    ("rsqrt seed only (no Newton)", [f"{N}rsqrt.newton_steps=0"]),
]


def main() -> None:
    cfg = load_model("models/tiny.yaml")
    weights = PreparedWeights(cfg, RandomWeights(cfg))
    tokens = list(np.random.default_rng(1).integers(0, cfg.vocab_size, 64))
    print("| setting | top-1 agreement | top-5 | min cosine | max abs err | overflows |")
    print("|---|---|---|---|---|---|")
    for label, sets in SETTINGS:
        numerics = load_schedule(cfg.schedule, parse_overrides(sets)).numerics
        graph = build_graph(cfg, numerics)
        ref = FloatEngine(graph, cfg, weights).run(tokens)
        golden = FixedEngine(graph, cfg, weights, numerics)
        r = compare(golden.run(tokens), ref, golden.overflow_count)
        print(f"| {label} | {r['top1_agreement']:.3f} | {r['top5_agreement']:.3f} | "
              f"{r['cosine_min']:.5f} | {r['max_abs_err']:.2e} | {r['overflow_count']} |")


if __name__ == "__main__":
    main()
