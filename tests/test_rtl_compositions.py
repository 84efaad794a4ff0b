"""GLU and MLGRU element pipelines: golden = the fixed engine's graph, II = 1, latency.

tests/test_rtl_units.py runs these registered units on random and edge stimulus at
every level; here their golden models are checked against the dataflow graph as
FixedEngine executes it, and their pipelines for one beat per cycle.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_rtl_rowwise import assert_back_to_back

from cosim.config.model import ModelConfig
from cosim.graph import build_graph, ordered
from cosim.numerics.engines import FixedEngine
from rtl import harness
from rtl.glu import SPEC as GLU
from rtl.mlgru import PAPER, RELEASED
from rtl.rowwise import random_values
from rtl.spec import fixed_of

ELEMENT_KINDS = {"sigmoid", "silu", "one_minus", "mul", "add", "lower_bound", "recurrence"}
NARROW = {"rowwise": {"bits": 12, "frac": 6}}


def engine_token_mixer(params: dict, variant: str, layer: int, inputs: dict) -> dict:
    """h and the gated output of one token mixer, run node by node through
    FixedEngine's own operations on the graph of a two-layer model."""
    cfg = ModelConfig(name="t", hidden_size=8, num_hidden_layers=2, vocab_size=16,
                      variant=variant, use_lower_bound=variant == "released")
    graph = build_graph(cfg)
    eng = object.__new__(FixedEngine)          # only fx, cfg and state are used below
    eng.fx, eng.cfg, eng.state = fixed_of(params), cfg, {layer: inputs["h_prev"]}
    p = f"model.layers.{layer}.attn"
    values = {f"{p}.f_proj.dequantize": inputs["f_pre"],
              f"{p}.i_proj.dequantize": inputs.get("i_pre", inputs.get("c_pre")),
              f"{p}.g_proj.dequantize": inputs.get("gn", inputs.get("g_pre")),
              "model.lower_bounds": np.stack([inputs.get("lb", 0 * inputs["f_pre"])] * 2)}
    for name in ordered(graph):
        node = graph.nodes[name]
        if not name.startswith(p + ".") or not all(i in values for i in node["inputs"]):
            continue
        if node["kind"] in ELEMENT_KINDS:
            op = getattr(eng, f"op_{node['kind']}")
            values[name] = op(node, *(values[i] for i in node["inputs"]))
        elif name == f"{p}.g_norm":            # the unit takes gn already normalised
            values[name] = values[node["inputs"][0]]
    return {"h": values[f"{p}.h"], "out": values[f"{p}.gated"]}


def columns(params: dict, names: tuple[str, ...], n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {name: random_values(params, rng, n) for name in names}


def as_beats(cols: dict) -> list[dict]:
    n = len(next(iter(cols.values())))
    return [{k: int(v[i]) for k, v in cols.items()} for i in range(n)]


@pytest.mark.parametrize("numerics", [{}, NARROW], ids=["default", "narrow"])
@pytest.mark.parametrize("layer", [0, 1])
def test_released_golden_is_the_engines_token_mixer(numerics, layer):
    params = {"numerics": numerics, "bounded": layer > 0}
    names = ("f_pre", "i_pre", "gn", "lb", "h_prev") if layer else \
        ("f_pre", "i_pre", "gn", "h_prev")
    cols = columns(params, names, 3000, layer)
    want = engine_token_mixer(params, "released", layer, cols)
    got = RELEASED.golden(params, as_beats(cols))
    assert [b["h"] for b in got] == list(want["h"])
    assert [b["out"] for b in got] == list(want["out"])


@pytest.mark.parametrize("numerics", [{}, NARROW], ids=["default", "narrow"])
def test_paper_golden_is_the_engines_token_mixer(numerics):
    params = {"numerics": numerics}
    cols = columns(params, ("f_pre", "c_pre", "g_pre", "h_prev"), 3000, 7)
    want = engine_token_mixer(params, "paper", 1, cols)
    got = PAPER.golden(params, as_beats(cols))
    assert [b["h"] for b in got] == list(want["h"])
    assert [b["out"] for b in got] == list(want["out"])


def test_glu_golden_is_the_engines_channel_mixer():
    cfg = ModelConfig(name="t", hidden_size=8, num_hidden_layers=1, vocab_size=16)
    graph = build_graph(cfg)
    kinds = [(graph.nodes[n]["kind"], graph.nodes[n]["inputs"]) for n in ordered(graph)
             if n.startswith("model.layers.0.mlp.") and graph.nodes[n]["kind"] in ELEMENT_KINDS]
    p = "model.layers.0.mlp"
    assert kinds == [("silu", (f"{p}.gate",)), ("mul", (f"{p}.gate_act", f"{p}.up"))]
    params = {"numerics": NARROW}
    fx = fixed_of(params)
    cols = columns(params, ("g", "u"), 2000, 3)
    got = [b["y"] for b in GLU.golden(params, as_beats(cols))]
    assert got == list(fx.mul(fx.silu(cols["g"]), cols["u"]))


LATENCY_CASES = [
    (GLU, {}, 28), (GLU, {"numerics": {"sigmoid": {"method": "lut"}}}, 19),
    (RELEASED, {"bounded": True}, 60), (RELEASED, {"bounded": False}, 56),
    (RELEASED, {"bounded": True, "numerics": {"sigmoid": {"method": "lut"}}}, 42),
    (PAPER, {}, 37), (PAPER, {"numerics": {"sigmoid": {"method": "lut"}}}, 28),
]


@pytest.mark.parametrize("spec, params, latency", LATENCY_CASES,
                         ids=[f"{s.name}-{i}" for i, (s, _, _) in enumerate(LATENCY_CASES)])
def test_back_to_back_one_beat_per_cycle(spec, params, latency):
    """1000 consecutive beats without back-pressure: II = 1 and a fixed latency."""
    assert_back_to_back(spec, spec.with_defaults(params), 2, latency)


def test_mlgru_recurrence_over_tokens(tmp_path):
    """h fed back token after token (as the state memory would) stays bit exact in Icarus."""
    params = RELEASED.with_defaults({"numerics": NARROW})
    rng = np.random.default_rng(11)
    fx = fixed_of(params)
    h = np.zeros(16, dtype=np.int64)
    for token in range(2):
        cols = {name: random_values(params, rng, 16) for name in ("f_pre", "i_pre", "gn", "lb")}
        cols["lb"] = np.clip(cols["lb"], 0, fx.one)
        cols["h_prev"] = h
        stim = as_beats(cols)
        out = harness.run_icarus(RELEASED, params, stim, tmp_path / str(token), backpressure=token)
        assert out == RELEASED.golden(params, stim)
        h = np.array([b["h"] for b in out], dtype=np.int64)
    assert np.any(h != 0)
