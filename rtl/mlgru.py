"""The MLGRU's element datapath (token mixer after its projections), II = 1.

``mlgru_released`` takes (f_pre, i_pre, gn, [lb,] h_prev), where gn is the
RMS-normalised g_proj output and lb the layer's lower bound (present when the
``bounded`` parameter is true, i.e. layer > 0 with use_lower_bound), and returns
(h, out):

    f = sigmoid(f_pre); f = lower_bound(f, lb) if bounded
    i = mul(silu(i_pre), one_minus(f)); h = recurrence(f, i, h_prev, 'released')
    out = mul(gn, silu(h))

``mlgru_paper`` takes (f_pre, c_pre, g_pre, h_prev) and returns (h, out):

    f = sigmoid(f_pre); h = recurrence(f, silu(c_pre), h_prev, 'paper')
    out = mul(sigmoid(g_pre), h)

Both are composed of the row-wise unit's pieces (:class:`rtl.rowwise.Datapath`)
exactly as cosim/graph.py's token_mixer composes FixedPoint methods.
"""

from __future__ import annotations

from functools import partial

from rtl.rowwise import (
    NARROW_LUT,
    Datapath,
    Value,
    edge_beats,
    pipeline_unit,
    random_beats,
)
from rtl.spec import UnitSpec, fixed_of, numerics_of
from rtl.stream import Field, Layout

OUT_FIELDS = ("h", "out")
PAPER_FIELDS = ("f_pre", "c_pre", "g_pre", "h_prev")


def released_fields(params: dict) -> tuple[str, ...]:
    """Input fields of the released MLGRU; lb only when ``bounded``."""
    if params.get("bounded", True):
        return ("f_pre", "i_pre", "gn", "lb", "h_prev")
    return ("f_pre", "i_pre", "gn", "h_prev")


def released_ops(dp: Datapath, v: dict[str, Value], bounded: bool) -> list[Value]:
    """The released token mixer for one element; returns [h, out]."""
    f = dp.sigmoid(v["f_pre"])
    if bounded:
        f = dp.lower_bound(f, v["lb"])
    i = dp.mul(dp.silu(v["i_pre"]), dp.one_minus(f))
    h = dp.recurrence(f, i, v["h_prev"], "released")
    return [h, dp.mul(v["gn"], dp.silu(h))]


def paper_ops(dp: Datapath, v: dict[str, Value]) -> list[Value]:
    """The paper's token mixer for one element; returns [h, out]."""
    f = dp.sigmoid(v["f_pre"])
    h = dp.recurrence(f, dp.silu(v["c_pre"]), v["h_prev"], "paper")
    return [h, dp.mul(dp.sigmoid(v["g_pre"]), h)]


def _layout(params: dict, names: tuple[str, ...]) -> Layout:
    bits = numerics_of(params).rowwise.bits
    return Layout(*(Field(name, bits, True) for name in names))


def released_golden(params: dict, stimulus: list[dict]) -> list[dict]:
    """FixedPoint methods in FixedEngine's order for the released variant."""
    fx = fixed_of(params)
    bounded = params.get("bounded", True)
    beats = []
    for s in stimulus:
        f = fx.sigmoid(s["f_pre"])
        if bounded:
            f = fx.lower_bound(f, s["lb"])
        i = fx.mul(fx.silu(s["i_pre"]), fx.one_minus(f))
        h = fx.recurrence(f, i, s["h_prev"], "released")
        beats.append({"h": int(h), "out": int(fx.mul(s["gn"], fx.silu(h)))})
    return beats


def paper_golden(params: dict, stimulus: list[dict]) -> list[dict]:
    """FixedPoint methods in FixedEngine's order for the paper variant."""
    fx = fixed_of(params)
    beats = []
    for s in stimulus:
        f = fx.sigmoid(s["f_pre"])
        h = fx.recurrence(f, fx.silu(s["c_pre"]), s["h_prev"], "paper")
        beats.append({"h": int(h), "out": int(fx.mul(fx.sigmoid(s["g_pre"]), h))})
    return beats


def released_build(params: dict):
    """The released MLGRU element pipeline with ``params`` bound."""
    bounded = params.get("bounded", True)
    return partial(pipeline_unit, numerics=numerics_of(params),
                   in_layout=_layout(params, released_fields(params)),
                   outputs=partial(released_ops, bounded=bounded))


def paper_build(params: dict):
    """The paper MLGRU element pipeline with ``params`` bound."""
    return partial(pipeline_unit, numerics=numerics_of(params),
                   in_layout=_layout(params, PAPER_FIELDS), outputs=paper_ops)


def _released_random(params: dict, rng, operations: int) -> list[dict]:
    return random_beats(params, rng, operations, released_fields(params))


def _released_edges(params: dict) -> list[dict]:
    return edge_beats(params, released_fields(params))


RELEASED = UnitSpec(
    name="mlgru_released",
    build=released_build,
    in_layout=lambda params: _layout(params, released_fields(params)),
    out_layout=lambda params: _layout(params, OUT_FIELDS),
    golden=released_golden,
    random_stimulus=_released_random,
    edge_stimulus=_released_edges,
    param_names=("bounded", "numerics"),
    default_params={"bounded": True},
    # the row-wise unit covers every sigmoid variant; here: default, narrow LUT, unbounded
    test_params=({"numerics": {}, "bounded": True}, {"numerics": NARROW_LUT, "bounded": True},
                 {"numerics": {"sigmoid": {"segments": 1}}, "bounded": False}),
)

PAPER = UnitSpec(
    name="mlgru_paper",
    build=paper_build,
    in_layout=lambda params: _layout(params, PAPER_FIELDS),
    out_layout=lambda params: _layout(params, OUT_FIELDS),
    golden=paper_golden,
    random_stimulus=partial(random_beats, names=PAPER_FIELDS),
    edge_stimulus=partial(edge_beats, names=PAPER_FIELDS),
    param_names=("numerics",),
    default_params={},
    test_params=({"numerics": {}}, {"numerics": NARROW_LUT}),
)
