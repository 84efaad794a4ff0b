"""Golden fixed-point model against the float reference on models/tiny.yaml."""

import numpy as np
import pytest

from cosim.config import load_model, load_schedule
from cosim.graph import build_graph
from cosim.numerics.engines import FixedEngine, FloatEngine
from cosim.numerics.fidelity import compare
from cosim.weights import PreparedWeights, RandomWeights


@pytest.fixture(scope="module")
def tiny():
    cfg = load_model("models/tiny.yaml")
    numerics = load_schedule(cfg.schedule).numerics
    return cfg, numerics, build_graph(cfg, numerics), PreparedWeights(cfg, RandomWeights(cfg))


def test_default_numerics_fidelity_over_64_tokens(tiny):
    cfg, numerics, graph, weights = tiny
    tokens = list(np.random.default_rng(1).integers(0, cfg.vocab_size, 64))
    ref = FloatEngine(graph, cfg, weights).run(tokens)
    golden = FixedEngine(graph, cfg, weights, numerics)
    report = compare(golden.run(tokens), ref, golden.overflow_count)
    assert report["top1_agreement"] >= 0.95
    assert report["cosine_min"] > 0.99
    assert report["overflow_count"] == 0


def test_compare_on_known_values():
    a = np.array([[1.0, 2.0, 3.0], [3.0, 0.0, 1.0]])
    b = np.array([[1.0, 3.1, 2.9], [3.0, 0.0, 1.0]])
    r = compare(a, b, overflow_count=4, top_k=2)
    assert r["top1_agreement"] == 0.5 and r["top2_agreement"] == 1.0
    assert r["max_abs_err"] == pytest.approx(1.1)
    assert r["cosine_min"] < 1.0 and r["overflow_count"] == 4
