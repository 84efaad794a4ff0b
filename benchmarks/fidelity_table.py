"""How the numeric formats move fidelity and quality: random and trained weights.

For each setting, prints (as a Markdown table row, as soon as it is measured)
the agreement of the fixed-point golden model with the float reference on
models/tiny.yaml with random weights (64 random tokens), and on the trained
checkpoints of both MLGRU variants the bits per byte of the held-out text
(models/checkpoints/kjv-held-out.txt, first BYTES bytes) under the golden
model, its difference from the float reference, and top-1 agreement there.

    python benchmarks/fidelity_table.py [BYTES]
"""

import sys

import numpy as np

from cosim.checkpoint import load_checkpoint
from cosim.config import load_model, load_schedule, parse_overrides
from cosim.graph import build_graph
from cosim.numerics.engines import FixedEngine, FloatEngine
from cosim.numerics.fidelity import bits_per_token, compare
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
TRAINED = ("models/tiny-trained.yaml", "models/tiny-trained-paper.yaml")
TEXT = "models/checkpoints/kjv-held-out.txt"


class Case:
    """A model, its weights, a token sequence and the float reference's logits on it."""

    def __init__(self, cfg, source, tokens):
        self.cfg, self.tokens = cfg, tokens
        self.weights = PreparedWeights(cfg, source)
        self.ref = FloatEngine(build_graph(cfg), cfg, self.weights).run(tokens)

    def fixed(self, sets):
        """Golden logits and overflow count under the schedule with ``sets``."""
        numerics = load_schedule(self.cfg.schedule, parse_overrides(sets)).numerics
        engine = FixedEngine(build_graph(self.cfg, numerics), self.cfg, self.weights,
                             numerics)
        return engine.run(self.tokens), engine.overflow_count


def main() -> None:
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    text = list(open(TEXT, "rb").read()[:size])
    cfg = load_model("models/tiny.yaml")
    random = Case(cfg, RandomWeights(cfg),
                  list(np.random.default_rng(1).integers(0, cfg.vocab_size, 64)))
    trained = []
    for path in TRAINED:
        cfg = load_model(path)
        trained.append(Case(cfg, load_checkpoint(cfg.checkpoint), text))
        print(f"{cfg.name} ({cfg.variant}): float reference "
              f"{bits_per_token(trained[-1].ref, text):.4f} bits/byte over "
              f"{len(text) - 1} held-out bytes")
    print()
    print("| setting | random: top-1 | random: min cosine | released: fixed bpb | "
          "released: fixed - float | released: top-1 | paper: fixed bpb | "
          "paper: fixed - float | overflows (random/released/paper) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, sets in SETTINGS:
        logits, over = random.fixed(sets)
        r = compare(logits, random.ref, over)
        cells = [label, f"{r['top1_agreement']:.3f}", f"{r['cosine_min']:.5f}"]
        overflows = [str(over)]
        for case in trained:
            logits, over = case.fixed(sets)
            bpb = bits_per_token(logits, text)
            cells.append(f"{bpb:.4f}")
            cells.append(f"{bpb - bits_per_token(case.ref, text):+.4f}")
            if case is trained[0]:
                cells.append(f"{compare(logits, case.ref, over)['top1_agreement']:.3f}")
            overflows.append(str(over))
        print("| " + " | ".join(cells + ["/".join(overflows)]) + " |", flush=True)


if __name__ == "__main__":
    main()
