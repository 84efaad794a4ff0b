"""Speed of the numeric engines and the graph builder on the released sizes.

Targets (issue 2): 370M with random weights at most 150 ms per decoded token
for the float reference and 500 ms for the fixed-point golden model; the 2.7B
graph built in under 1 s. Prints a Markdown table.

    python benchmarks/numerics_speed.py [--tokens 10]
"""

import argparse
import time

from cosim.config import load_model, load_schedule
from cosim.graph import build_graph, totals
from cosim.numerics.engines import FixedEngine, FloatEngine
from cosim.weights import PreparedWeights, RandomWeights


def per_token_ms(engine, tokens: int) -> float:
    engine.step(1)  # warm caches and BLAS threads
    start = time.perf_counter()
    for token in range(2, 2 + tokens):
        engine.step(token)
    return (time.perf_counter() - start) / tokens * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=10)
    args = parser.parse_args()
    print("| model | graph build (ms) | nodes | ternary adds/token |")
    print("|---|---|---|---|")
    for name in ("mmfree-370m", "mmfree-1.3b", "mmfree-2.7b"):
        cfg = load_model(f"models/{name}.yaml")
        start = time.perf_counter()
        graph = build_graph(cfg)
        build_ms = (time.perf_counter() - start) * 1e3
        t = totals(graph)
        print(f"| {name} | {build_ms:.1f} | {t['nodes']} | {t['ternary_adds_per_token']:,} |")

    cfg = load_model("models/mmfree-370m.yaml")
    numerics = load_schedule(cfg.schedule).numerics
    graph = build_graph(cfg, numerics)
    start = time.perf_counter()
    weights = PreparedWeights(cfg, RandomWeights(cfg))
    prep = time.perf_counter() - start
    print(f"\n370M random weights drawn and ternarised in {prep:.1f} s\n")
    print("| engine (370M, decode) | ms/token | target |")
    print("|---|---|---|")
    engines = ((FloatEngine(graph, cfg, weights), 150),
               (FixedEngine(graph, cfg, weights, numerics), 500))
    for engine, target in engines:
        ms = per_token_ms(engine, args.tokens)
        verdict = "ok" if ms <= target else "MISSED"
        print(f"| {type(engine).__name__} | {ms:.1f} | <= {target} {verdict} |")


if __name__ == "__main__":
    main()
