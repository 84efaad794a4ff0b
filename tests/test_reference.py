"""The float reference against an independent re-derivation from the equations.

``derive`` below is written from design.md's equations over the raw tensors of
a checkpoint, without the graph or the engines, so a wrong norm, a missing
gate or a swapped split in the graph shows up as a mismatch.
"""

import numpy as np
import pytest

from cosim.checkpoint import load_checkpoint
from cosim.config import load_model, parse_overrides
from cosim.config.schedule import Numerics
from cosim.graph import build_graph, ordered
from cosim.numerics.engines import FixedEngine, FloatEngine
from cosim.weights import PreparedWeights, RandomWeights, expected_tensors

EPS = 1e-6


def rms(x, w):
    return x / np.sqrt(np.mean(x * x) + EPS) * w


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def bitlinear(x, t, prefix):
    """RMSNorm, absmax int8, ternary weights, rescale: (q @ W_t^T) / (s_x s_w)."""
    y = rms(x, t[f"{prefix}.norm.weight"])
    s_x = 127 / max(np.max(np.abs(y)), 1e-5)
    q = np.clip(np.round(y * s_x), -128, 127)
    w = t[f"{prefix}.weight"].astype(np.float64)
    s_w = 1 / max(np.mean(np.abs(w)), 1e-5)
    w_t = np.clip(np.round(w * s_w), -1, 1)
    return (w_t @ q) / (s_x * s_w)


def derive(t, cfg, tokens):
    """Logits per position, straight from the equations of both MLGRU variants."""
    n = cfg.num_hidden_layers
    soft = np.exp(t["model.lower_bounds"]) / np.exp(t["model.lower_bounds"]).sum(0)
    lb = np.cumsum(soft, 0) - soft[0]
    state = [np.zeros(cfg.hidden_size) for _ in range(n)]
    out = []
    for tok in tokens:
        h = t["model.embeddings.weight"][tok].astype(np.float64)
        for layer in range(n):
            p = f"model.layers.{layer}"
            x = rms(h, t[f"{p}.attn_norm.weight"])
            f = sigmoid(bitlinear(x, t, f"{p}.attn.f_proj"))
            pre_i = bitlinear(x, t, f"{p}.attn.i_proj")
            pre_g = bitlinear(x, t, f"{p}.attn.g_proj")
            if cfg.variant == "paper":
                c = pre_i * sigmoid(pre_i)
                state[layer] = f * state[layer] + (1 - f) * c
                o_in = sigmoid(pre_g) * state[layer]
            else:
                if layer > 0:
                    f = lb[layer] + (1 - lb[layer]) * f
                i = pre_i * sigmoid(pre_i) * (1 - f)
                state[layer] = f * state[layer] + i
                hs = state[layer]
                o_in = rms(pre_g, t[f"{p}.attn.g_norm.weight"]) * hs * sigmoid(hs)
            h = h + bitlinear(o_in, t, f"{p}.attn.o_proj")
            x = rms(h, t[f"{p}.mlp_norm.weight"])
            gu = bitlinear(x, t, f"{p}.mlp.gate_proj")
            g, u = gu[:cfg.intermediate], gu[cfg.intermediate:]
            h = h + bitlinear(g * sigmoid(g) * u, t, f"{p}.mlp.down_proj")
        out.append(bitlinear(rms(h, t["model.norm.weight"]), t, "lm_head"))
    return np.stack(out)


@pytest.fixture(params=["released", "paper"])
def model(request):
    sets = [f"model.variant={request.param}", "model.num_hidden_layers=3",
            "model.hidden_size=48", "model.intermediate_size=96", "model.vocab_size=80"]
    if request.param == "paper":
        sets.append("model.use_lower_bound=false")
    return load_model("models/tiny.yaml", parse_overrides(sets))


def test_float_reference_matches_the_equations(model):
    source = RandomWeights(model)
    tensors = {k: source.tensor(k).astype(np.float64) for k in expected_tensors(model)}
    tokens = [3, 17, 0, 79, 42, 42, 5]
    engine = FloatEngine(build_graph(model), model, PreparedWeights(model, source))
    np.testing.assert_allclose(engine.run(tokens), derive(tensors, model, tokens),
                               rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("path", ["models/tiny-trained.yaml", "models/tiny-trained-paper.yaml"])
def test_float_reference_matches_the_equations_on_trained_checkpoints(path):
    """Trained weights, loaded as a release is, through the same re-derivation."""
    cfg = load_model(path)
    source = load_checkpoint(cfg.checkpoint)
    tensors = {k: source.tensor(k).astype(np.float64) for k in expected_tensors(cfg)}
    tokens = list(b"In the beginning God created the heaven")
    engine = FloatEngine(build_graph(cfg), cfg, PreparedWeights(cfg, source))
    np.testing.assert_allclose(engine.run(tokens), derive(tensors, cfg, tokens),
                               rtol=1e-9, atol=1e-9)


def test_variants_differ(model):
    """The two MLGRU forms are genuinely different computations on the same weights."""
    other = model.replace(variant="released" if model.variant == "paper" else "paper",
                          use_lower_bound=model.variant == "paper")
    weights = PreparedWeights(model, RandomWeights(model))
    a = FloatEngine(build_graph(model), model, weights).run([1, 2, 3])
    b = FloatEngine(build_graph(other), other, weights).run([1, 2, 3])
    assert np.max(np.abs(a - b)) > 1e-3


@pytest.mark.parametrize("fixed", [False, True], ids=["float", "fixed"])
def test_engines_execute_exactly_the_graph_in_order(fixed):
    cfg = load_model("models/tiny.yaml")
    graph = build_graph(cfg)
    weights = PreparedWeights(cfg, RandomWeights(cfg))
    engine = (FixedEngine(graph, cfg, weights, Numerics()) if fixed
              else FloatEngine(graph, cfg, weights))
    seen = []
    engine.step(7, observe=lambda name, node, value: seen.append(name))
    assert seen == ordered(graph)


def test_state_is_carried_and_reset():
    cfg = load_model("models/tiny.yaml")
    engine = FloatEngine(build_graph(cfg), cfg, PreparedWeights(cfg, RandomWeights(cfg)))
    first = engine.run([5, 6])
    engine.reset()
    again = engine.run([5, 6])
    np.testing.assert_array_equal(first, again)
    engine.reset()
    assert not np.allclose(engine.step(6), first[1])


def test_greedy_generation_is_deterministic():
    cfg = load_model("models/tiny.yaml")
    weights = PreparedWeights(cfg, RandomWeights(cfg))
    runs = [FloatEngine(build_graph(cfg), cfg, weights).generate([1, 2, 3], 5)
            for _ in range(2)]
    assert runs[0] == runs[1] and len(runs[0]) == 5
